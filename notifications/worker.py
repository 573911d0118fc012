"""The scheduler: the only module that touches APScheduler (3.x ``BackgroundScheduler``).

``Worker(runtime)`` runs the outbox dispatcher loop (a thread woken on enqueue) and the ticket jobs
(``notifications.jobs``) every ``REPORTA_SCHEDULER_JOB_INTERVAL_SECONDS``. It runs inside ``reporta serve``
(``runtime.start_background``) or alone with ``reporta worker``; any number of workers may share one
PostgreSQL database, because every job claims its rows with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from notifications.dispatcher import Dispatcher
from notifications.jobs import Jobs
from reporta.flow.interprocess import ReconnectingListener

#: How long the wake-up listener waits per round: a stop is noticed within this (the join at shutdown).
LISTEN_POLL_SECONDS = 0.25

log = logging.getLogger(__name__)

JOB_NAMES = ("send_surveys", "expire_surveys", "warn_sla", "notify_overdue", "apply_early_receipts",
             "expire_handoffs", "apply_retention", "indicator_rollup")


class Worker:
    """Dispatcher loop + scheduled jobs for one process. ``start()`` returns at once; ``stop()`` waits."""

    def __init__(self, runtime: Any, *, job_interval_seconds: float | None = None, dispatcher: bool = True,
                 jobs: bool = True) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.job_interval = job_interval_seconds or self.settings.scheduler_job_interval_seconds
        self.dispatcher: Dispatcher | None = None
        if dispatcher:
            existing = getattr(runtime, "dispatcher", None)
            self.dispatcher = existing if existing is not None else Dispatcher(
                runtime.session_factory, runtime.senders, self.settings)
        self.jobs: Jobs | None = None
        if jobs:
            receipts = self.dispatcher or getattr(runtime, "dispatcher", None)
            self.jobs = Jobs(runtime.session_factory, self.settings, runtime.renderer, runtime.catalog,
                             runtime.ticket_service, on_enqueue=self.dispatcher.wake if self.dispatcher else None,
                             apply_matched_receipts=receipts.apply_early_receipts if receipts is not None else None)
        self.scheduler = BackgroundScheduler(
            timezone=self.settings.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(self.job_interval * 2) + 1},
        )
        self._started = False
        self._listen_stop = threading.Event()
        self._listen_thread: threading.Thread | None = None

    def _listen(self, listener) -> None:
        """Wake the dispatcher when another process (a processing process) enqueued replies."""
        try:
            while not self._listen_stop.is_set():
                if listener.wait(LISTEN_POLL_SECONDS) and self.dispatcher is not None:
                    self.dispatcher.wake()
        finally:
            listener.close()

    def start(self) -> None:
        if self._started:
            return
        if self.jobs is not None:
            first = datetime.now().astimezone() + timedelta(seconds=1)
            for i, name in enumerate(JOB_NAMES):
                self.scheduler.add_job(self._run_job, "interval", args=[name], seconds=self.job_interval, id=name,
                                       name=name, replace_existing=True,
                                       next_run_time=first + timedelta(seconds=0.2 * i))
        self.scheduler.start()
        if self.dispatcher is not None:
            self.dispatcher.start()
            wakeup = getattr(self.runtime, "wakeup", None)
            if wakeup is not None and getattr(wakeup, "enabled", False):
                self._listen_stop.clear()
                # reopened in process when the database goes away and comes back (never ends the thread)
                self._listen_thread = threading.Thread(target=self._listen, args=(ReconnectingListener(wakeup,
                                                                                                      "outbox"),),
                                                       name="outbox-wakeups", daemon=True)
                self._listen_thread.start()
        self._started = True
        log.info("notifications worker started (jobs every %ss, dispatcher %s)", self.job_interval,
                 "on" if self.dispatcher else "off")

    def _run_job(self, name: str) -> None:
        assert self.jobs is not None
        try:
            done = getattr(self.jobs, name)()
        except Exception:
            log.exception("scheduled job %s failed", name)
            return
        if done:
            unit = {"apply_early_receipts": "receipt(s)", "apply_retention": "row(s)"}.get(name, "ticket(s)")
            log.info("job %s handled %d %s", name, done, unit)

    def stop(self) -> None:
        if not self._started:
            return
        self.scheduler.shutdown(wait=True)
        self._listen_stop.set()
        if self._listen_thread is not None:
            self._listen_thread.join(timeout=5)
            self._listen_thread = None
        if self.dispatcher is not None:
            self.dispatcher.stop()
        self._started = False
