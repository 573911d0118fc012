"""The `reporta` commands owned by `notifications/`: `reporta worker` (scheduler + outbox dispatcher)."""

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
