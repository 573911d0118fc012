"""The child processes of ``reporta serve``: processing processes (``reporta process``) and the notifications
worker (``reporta worker``: scheduler + outbox dispatcher). A child that dies is started again (after a pause
that grows while it keeps dying, up to ``MAX_PAUSE`` seconds: children reconnect to the database
in process, so a child that keeps dying is a bug or a bad configuration, and a long pause would only delay the
recovery); ``stop()`` asks them to finish (SIGTERM), then kills what is left. Children
also stop on their own when ``serve`` is gone (``--parent-pid``)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

MAX_PAUSE = 2.0


@dataclass
class _Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)


class Children:
    def __init__(self, commands: dict[str, list[str]], *, env: dict[str, str] | None = None) -> None:
        self.children = [_Child(name, argv) for name, argv in commands.items()]
        self.env = env
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_serve(cls, settings: Any, processors: int) -> Children:
        base = [sys.executable, "-m", "reporta.cli"]
        me = ["--parent-pid", str(os.getpid())]
        commands = {f"processor-{i}": [*base, "process", "--index", str(i), "--count", str(processors), *me]
                    for i in range(processors)}
        if settings.scheduler_enabled:
            commands["worker"] = [*base, "worker", *me]
        return cls(commands)

    def start(self) -> None:
        for child in self.children:
            self._spawn(child)
        self._thread = threading.Thread(target=self._watch, name="serve-children", daemon=True)
        self._thread.start()

    def _spawn(self, child: _Child) -> None:
        child.proc = subprocess.Popen(child.argv, env=self.env)
        child.started_at = time.monotonic()
        log.info("started %s (pid %d)", child.name, child.proc.pid)

    def _watch(self) -> None:
        while not self._stop.wait(0.5):
            for child in self.children:
                if child.proc is None or child.proc.poll() is None or self._stop.is_set():
                    continue
                code = child.proc.returncode
                quick = time.monotonic() - child.started_at < 10
                child.restarts = child.restarts + 1 if quick else 0
                pause = min(MAX_PAUSE, 0.25 * 2 ** child.restarts) if quick else 0.0
                log.error("%s exited with %s; starting it again in %.1f s", child.name, code, pause)
                if self._stop.wait(pause):
                    return
                self._spawn(child)

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.children if c.proc is not None}

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        live = [c.proc for c in self.children if c.proc is not None and c.proc.poll() is None]
        for p in live:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for p in live:
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)
