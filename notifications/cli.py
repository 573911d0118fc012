"""The `reporta` commands owned by `notifications/`: `reporta worker` (scheduler + outbox dispatcher)."""

from __future__ import annotations

import signal
import threading

import typer


def register(app: typer.Typer) -> None:
    """Add this room's commands to the root app."""

    @app.command("worker")
    def worker(
        once: bool = typer.Option(False, "--once", help="Run every job and drain the outbox once, then exit."),
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
            stop.wait()
            w.stop()
        finally:
            runtime.close()
