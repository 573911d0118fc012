"""Cross-process plumbing for a serving machine: wake-ups between processes, and SQLite's one-writer lock.

``Wakeup(database_url)`` carries "something new" signals on a topic (``inbox``: messages stored for the
processing processes; ``outbox``: rows to send for the dispatcher's process). They only cut latency: every
listener also polls, so a lost signal costs at most the poll interval, never a message.

- PostgreSQL: ``NOTIFY reporta_<topic>`` after the writer's commit; a listener holds one connection in
  ``LISTEN`` (works across machines too).
- SQLite (one machine by definition): a datagram to every Unix socket bound under
  ``<tmp>/reporta-wake-<hash of the database path>/<topic>-*``; a listener binds its own socket there.

``WriteLock(database_url)`` serialises SQLite writers across threads and processes (a ``threading.Lock`` +
``flock`` on ``<database>.writelock``). SQLite's own busy handler sleeps between retries (1, 2, 5 … 100 ms),
which wrecks latency when two processes write; a blocked ``flock`` wakes as soon as the holder lets go.
On PostgreSQL ``WriteLock.for_url`` returns None (row locks do the job).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import select
import socket
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

TOPICS = ("inbox", "outbox")


def _sqlite_path(url: str) -> str | None:
    u = make_url(url)
    if not u.drivername.startswith("sqlite"):
        return None
    db = u.database or ""
    return None if db in ("", ":memory:") else str(Path(db).resolve())


class WriteLock:
    """One writer at a time on a SQLite database, across this process's threads and other processes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None

    @classmethod
    def for_url(cls, url: str) -> WriteLock | None:
        path = _sqlite_path(url)
        return cls(path + ".writelock") if path else None

    def __enter__(self) -> WriteLock:
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)  # releases the GIL while blocked
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    # threading.Lock-like API (the pipeline uses ``with lock``; tests may acquire/release)
    def acquire(self) -> bool:
        self.__enter__()
        return True

    def release(self) -> None:
        self.__exit__(None, None, None)


class Listener:
    """Waits for a topic's signal; ``wait(timeout)`` returns True when signalled (several coalesce)."""

    def wait(self, timeout: float) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        pass


class _SocketListener(Listener):
    def __init__(self, directory: Path, topic: str) -> None:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = str(directory / f"{topic}-{os.getpid()}-{uuid.uuid4().hex[:6]}")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)

    def wait(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        got = False
        while ready:
            try:
                self.sock.recv(64)
                got = True
            except BlockingIOError:
                break
        return got

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)


class _PgListener(Listener):
    def __init__(self, url: str, channel: str) -> None:
        import psycopg

        u = make_url(url).set(drivername="postgresql")
        self.conn = psycopg.connect(u.render_as_string(hide_password=False), autocommit=True)
        self.conn.execute(f"LISTEN {channel}")

    def wait(self, timeout: float) -> bool:
        got = False
        for _ in self.conn.notifies(timeout=max(0.0, timeout), stop_after=1):
            got = True
        if got:  # coalesce whatever else arrived meanwhile
            for _ in self.conn.notifies(timeout=0.0):
                pass
        return got

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class ReconnectingListener(Listener):
    """A wake-up listener that survives its connection dying: waits (as a poll) and reopens it later."""

    def __init__(self, wakeup: Wakeup, topic: str) -> None:
        self.wakeup, self.topic = wakeup, topic
        self._inner: Listener | None = None
        self._warned = False
        self._open()

    def _open(self) -> None:
        try:
            self._inner = self.wakeup.listener(self.topic)
            self._warned = False
        except Exception as exc:
            self._inner = None
            if not self._warned:  # once per outage
                log.warning("wake-up listener (%s) unavailable: %s; polling until it is back", self.topic,
                            type(exc).__name__)
                self._warned = True

    def wait(self, timeout: float) -> bool:
        if self._inner is None:
            self._open()
        if self._inner is None:
            time.sleep(timeout)
            return False
        try:
            return self._inner.wait(timeout)
        except Exception as exc:
            log.warning("wake-up listener (%s) lost: %s; reconnecting", self.topic, type(exc).__name__)
            self._warned = True
            self._inner.close()
            self._inner = None
            return False

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


class Wakeup:
    """Signals between the processes sharing ``database_url``; see the module docstring."""

    def __init__(self, database_url: str, engine: Any = None) -> None:
        self.url = database_url
        self.sqlite_path = _sqlite_path(database_url)
        self.postgres = make_url(database_url).drivername.startswith("postgresql")
        self.engine = engine
        self._sock: socket.socket | None = None
        self._dir: Path | None = None
        if self.sqlite_path:
            digest = hashlib.sha1(self.sqlite_path.encode()).hexdigest()[:12]
            # short on purpose: a Unix socket path has at most 107 bytes
            self._dir = Path(tempfile.gettempdir()) / f"reporta-wake-{os.getuid()}-{digest}"

    @property
    def enabled(self) -> bool:
        return self.postgres or self._dir is not None

    def notify(self, topic: str) -> None:
        """Wake every listener of ``topic`` (after the writer committed). Never raises."""
        try:
            if self.postgres:
                self._notify_pg(topic)
            elif self._dir is not None:
                self._notify_sockets(topic)
        except Exception:  # a wake-up is an optimisation: listeners also poll
            log.debug("wake-up %s failed", topic, exc_info=True)

    @property
    def transactional(self) -> bool:
        """True when ``notify_in`` signals within the writer's own transaction (PostgreSQL): then no ``notify``
        is needed after the commit."""
        return self.postgres

    def notify_in(self, session: Any, topic: str) -> None:
        """PostgreSQL: ``NOTIFY`` inside the caller's transaction, delivered when it commits (nothing when it
        rolls back) — no extra connection or round trip after the commit. Elsewhere a no-op: call ``notify``
        after the commit."""
        if self.postgres:
            from sqlalchemy import text

            session.execute(text("SELECT pg_notify(:c, '')"), {"c": f"reporta_{topic}"})

    def _notify_pg(self, topic: str) -> None:
        from sqlalchemy import text

        if self.engine is None:
            from ticketing.db import make_engine

            self.engine = make_engine(self.url, pool_size=1, max_overflow=2)
        with self.engine.connect() as conn:
            conn.execute(text("SELECT pg_notify(:c, '')"), {"c": f"reporta_{topic}"})
            conn.commit()

    def _notify_sockets(self, topic: str) -> None:
        assert self._dir is not None
        if self._sock is None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sock.setblocking(False)
        try:
            entries = list(os.scandir(self._dir))
        except FileNotFoundError:
            return
        prefix = topic + "-"
        for entry in entries:
            if not entry.name.startswith(prefix):
                continue
            try:
                self._sock.sendto(b"!", entry.path)
            except BlockingIOError:
                pass  # its buffer is full of wake-ups already
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):  # its listener is gone
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)

    def listener(self, topic: str) -> Listener:
        if self.postgres:
            return _PgListener(self.url, f"reporta_{topic}")
        if self._dir is not None:
            return _SocketListener(self._dir, topic)
        return _NoListener()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class _NoListener(Listener):
    """No cross-process signal possible (an in-memory database): plain polling."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, timeout: float) -> bool:
        return self._event.wait(timeout)
