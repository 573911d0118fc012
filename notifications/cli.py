"""The `reporta` commands owned by `notifications/`: `reporta worker` (scheduler + outbox dispatcher) and
`reporta jobs run` (the due scheduler jobs once, now: try the "¿ya quedó?" survey without waiting)."""

from __future__ import annotations

import os
import signal
import threading

import typer


def register(app: typer.Typer) -> None:
    """Add this room's commands to the root app."""

    @app.command("worker")
    def worker(
        once: bool = typer.Option(False, "--once", help="Run every job and drain the outbox once, then exit."),
        parent_pid: int = typer.Option(None, "--parent-pid", hidden=True,
                                       help="Stop when this process is gone (set by reporta serve)."),
    ) -> None:
        """Run the scheduler and the outbox dispatcher in this process (safe to run several against PostgreSQL)."""
        from notifications.worker import Worker
        from reporta.logs import configure_logging
        from reporta.runtime import Runtime
        from reporta.settings import get_settings

        settings = get_settings()
        configure_logging(settings.log_level)
        runtime = Runtime.from_settings(settings)
        w = Worker(runtime)
        try:
            if once:
                counts = w.jobs.run_all() if w.jobs else {}
                sent = w.dispatcher.drain() if w.dispatcher else 0
                typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()) + f" outbox={sent}")
                return
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            w.start()
            typer.echo("reporta worker: running (Ctrl-C to stop)")
            while not stop.wait(1.0):
                if parent_pid is not None and os.getppid() != parent_pid:
                    break  # reporta serve is gone
            w.stop()
        finally:
            runtime.close()

    jobs_app = typer.Typer(help="Scheduler jobs (surveys, SLA warnings, handoff time-outs) on demand.",
                           no_args_is_help=True)
    app.add_typer(jobs_app, name="jobs")

    @jobs_app.command("run")
    def jobs_run(
        surveys_now: bool = typer.Option(False, "--surveys-now",
                                         help="Make every resolved ticket's pending survey due now first."),
    ) -> None:
        """Run every due job once and send what they enqueued (the simulator prints its citizen's messages)."""
        from sqlalchemy import update

        from notifications.worker import Worker
        from reporta.logs import configure_logging
        from reporta.runtime import Runtime
        from reporta.settings import get_settings
        from ticketing.models import Ticket, TicketStatus, utcnow

        settings = get_settings()
        configure_logging(settings.log_level)
        runtime = Runtime.from_settings(settings)
        try:
            if surveys_now:
                with runtime.session_factory() as session, session.begin():
                    moved = session.execute(
                        update(Ticket).where(Ticket.status == TicketStatus.RESOLVED, Ticket.survey_sent_at.is_(None),
                                             Ticket.confirmation.is_(None), Ticket.survey_due_at.is_not(None))
                        .values(survey_due_at=utcnow())).rowcount
                typer.echo(f"surveys made due now: {moved}")
            w = Worker(runtime)
            if w.dispatcher is not None:  # simulator rows are printed by that citizen's `reporta chat` terminal
                w.dispatcher.senders.pop("simulator", None)
            counts = w.jobs.run_all() if w.jobs else {}
            sent = w.dispatcher.drain() if w.dispatcher else 0
            typer.echo(" ".join(f"{k}={v}" for k, v in counts.items()) + f" outbox={sent}")
        finally:
            runtime.close()
