"""A processing process (``reporta process``, started by ``reporta serve``): takes the messages the web
process(es) stored and runs NLU + dialogue + outbox on them, on its own core.

The web process only verifies, stores (group commit) and wakes the processors (``reporta.flow.interprocess.
Wakeup``, topic ``inbox``). Each of the ``count`` processors owns the citizens with ``identity_id % count ==
index`` (``Pipeline.process_pending``), so two processes never contend for one citizen's lock and a citizen's
messages are handled in order. After a commit with replies it wakes the dispatcher's process (topic
``outbox``). It also polls every ``poll_interval`` seconds, so a lost wake-up delays, never loses, a message;
a crash rolls back the batch, which the restarted process (``serve`` restarts it) handles again.

A database outage does not end the process: a failing pass is logged once (one line) and retried every second,
and the ``LISTEN`` connection is reopened in process (``ReconnectingListener``), so the first messages after the
database returns are handled within about a second instead of after a restart and its back-off.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from typing import Any

from sqlalchemy.exc import DBAPIError

from reporta.flow.failures import describe_error
from reporta.flow.interprocess import ReconnectingListener, Wakeup

log = logging.getLogger(__name__)


class Processor:
    def __init__(self, runtime: Any, index: int = 0, count: int = 1, *, poll_interval: float = 1.0,
                 wakeup: Wakeup | None = None) -> None:
        if not 0 <= index < count:
            raise ValueError("processor index must be in [0, count)")
        self.runtime = runtime
        self.pipeline = runtime.pipeline
        self.index, self.count = index, count
        self.poll_interval = poll_interval
        self.wakeup = wakeup or Wakeup(runtime.settings.database_url)
        self.stop_event = threading.Event()
        self.handled = 0

    def run(self, *, parent_pid: int | None = None) -> None:
        """Process until ``stop()`` (or until ``parent_pid`` is gone: an orphan stops)."""
        listener = ReconnectingListener(self.wakeup, "inbox")  # listen first: nothing stored after this is missed
        # Everything loaded at start-up (NLU model, catalog, templates) lives as long as the process: moved out
        # of the collector's generations, a full collection no longer walks it (a ~100-250 ms pause every few
        # seconds under load otherwise), and young collections run less often.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 20, 20)
        log.info("processor %d/%d started", self.index, self.count)
        failing = False
        try:
            while not self.stop_event.is_set():
                try:
                    n = self.pipeline.process_pending(self.index, self.count)
                    if failing:
                        log.info("processor %d: processing works again", self.index)
                        failing = False
                except Exception as exc:
                    if not failing:  # one line when it starts, not one per pass (or a traceback each)
                        log.error("processor %d: processing pass failed: %s; retrying every second", self.index,
                                  describe_error(exc), exc_info=not isinstance(exc, DBAPIError))
                    failing = True
                    n = 0
                    self.stop_event.wait(1.0)
                self.handled += n
                if n:
                    continue  # more may have arrived meanwhile
                if parent_pid is not None and os.getppid() != parent_pid:
                    log.warning("processor %d: parent process gone; stopping", self.index)
                    break
                listener.wait(self.poll_interval)
        finally:
            listener.close()

    def start_thread(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name=f"processor-{self.index}", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self.stop_event.set()
        self.pipeline._stop.set()

