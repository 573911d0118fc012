"""The durable, idempotent inbound pipeline: every message is stored before it is processed, processed once,
in order per citizen, and never lost.

1. **accept** (the webhook's request path): one ``INSERT … ON CONFLICT (channel, provider_message_id) DO
   NOTHING RETURNING id`` into ``messages`` (direction ``in``, state ``received``, payload = the
   channel-neutral message); a redelivered webhook returns no row (``None``). Identity ids are cached per
   process (a miss goes through ``get_or_create_identity``). Webhooks hand their messages to one
   **inbox writer** thread (``receive_async`` / ``receive``) that stores everything queued meanwhile in one
   transaction (group commit) and answers each request only after that commit.
2. **process** (off the request path): stored message ids go to processing threads (one on SQLite;
   ``workers`` on PostgreSQL, a citizen always to the same thread). A thread takes what is queued (up to
   ``batch_size`` messages, several citizens), downloads their media first (no lock held), then in ONE
   transaction locks those channel identities (``FOR NO KEY UPDATE``, in id order, on PostgreSQL;
   SQLite's ``BEGIN IMMEDIATE`` serialises writers) and handles ALL their still-``received`` messages in id
   order: store attachments, call the dialogue engine, enqueue each reply in the outbox with
   ``dedupe_key=reply:<message id>:<n>``, mark the message ``processed``. The batch first runs without
   savepoints (the messages' own updates written together at the commit); if anything raises, that pass is
   rolled back and the batch runs again with each message in a savepoint of its own. A crash anywhere rolls
   the whole batch back and its messages are processed again; a message whose handling raises is rolled back
   to its savepoint, retried, and after ``max_attempts`` marked ``failed`` with the error (kept for
   inspection); later messages of that citizen wait behind it, other citizens of the batch go on.
3. **recover** (at start-up and every few seconds) processes ``received`` rows left behind.

After a commit that enqueued replies, ``on_outbox()`` wakes the outbox dispatcher so replies leave at once;
on PostgreSQL the wake-ups to other processes (``signal``) are ``NOTIFY``s sent inside the writing transaction.

This module holds ``Pipeline`` itself (its queues, threads and lifecycle); each step is a module of its own:
storing is ``reporta.flow.store`` and the inbox writer thread ``reporta.flow.inbox`` (1), processing a batch
``reporta.flow.batch`` (2), recovery and the processing processes' pass ``reporta.flow.recovery`` (3).
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.channel import Download
from bot.downloads import MediaDownloads, fetch_all
from reporta.flow.batch import BatchProcessing, Handler, Ready
from reporta.flow.failures import log_failure
from reporta.flow.inbox import STOP, InboxWriter, drain
from reporta.flow.interprocess import WriteLock
from reporta.flow.recovery import Recovery
from reporta.flow.store import IdentityCache, accept
from reporta.messages import InboundMessage, Media
from reporta.settings import Settings
from ticketing.db import is_sqlite
from ticketing.models import Message


class MediaSource(Protocol):
    def fetch_media(self, media: Media) -> AbstractContextManager[Download]: ...


class Pipeline(InboxWriter, BatchProcessing, Recovery):
    """Stores inbound messages (group commit, ``inbox``) and processes them in batches (``batch``), recovering
    what was left behind (``recovery``); see the module docstring."""

    def __init__(self, session_factory: sessionmaker[Session], handler: Handler, settings: Settings, *,
                 media_sources: Mapping[str, MediaSource] | None = None,
                 on_outbox: Callable[[], None] | None = None, workers: int = 4, max_attempts: int = 3,
                 recover_interval: float = 5.0, recover_age: float = 3.0, batch_size: int = 8,
                 accept_batch_size: int = 256, process_here: bool = True,
                 on_stored: Callable[[], None] | None = None,
                 signal: Callable[[Session, str], None] | None = None) -> None:
        self.session_factory = session_factory
        self.handler = handler
        self.settings = settings
        self.media_sources = dict(media_sources or {})
        self.on_outbox = on_outbox or (lambda: None)
        self.max_attempts = max_attempts
        self.recover_interval = recover_interval
        self.recover_age = recover_age
        self.batch_size = max(1, batch_size)
        self.accept_batch_size = max(1, accept_batch_size)
        self.sqlite = is_sqlite(session_factory.kw["bind"])
        # SQLite has one writer: serialising our own writers (threads and, for a file, other processes) avoids
        # its sleeping busy handler.
        self.write_lock: Any = None
        if self.sqlite:
            self.write_lock = WriteLock.for_url(str(session_factory.kw["bind"].url)) or threading.Lock()
        #: False: this process only stores (the web process of ``reporta serve``); processing processes
        #: (``process_pending``) handle the messages, woken by ``on_stored`` after each inbox commit.
        self.process_here = process_here
        self.on_stored = on_stored or (lambda: None)
        #: ``signal(session, topic)``: a wake-up sent inside the writing transaction ("inbox" when messages were
        #: stored, "outbox" when replies were enqueued), e.g. ``Wakeup.notify_in`` on PostgreSQL; ``on_stored``
        #: and ``on_outbox`` still run after the commit (wake-ups inside this process).
        self.signal = signal
        self._retry_after: dict[int, float] = {}  # identity id -> monotonic time (process_pending back-off)
        self.identities: IdentityCache = {}
        self.workers = 1 if self.sqlite else max(1, workers)
        self._failures: dict[int, int] = {}
        self._stop = threading.Event()
        self._recover_thread: threading.Thread | None = None
        self._threads_lock = threading.Lock()
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._inbox_thread: threading.Thread | None = None
        self._ready: list[queue.SimpleQueue[Any]] = []
        self._workers: list[threading.Thread] = []
        self._queued: Counter[int] = Counter()  # identity id -> messages waiting in this process's queues
        #: Media downloads run in a pool of their own (``bot.downloads``): a slow file holds only its citizen.
        self.downloads = MediaDownloads(lambda inbound: fetch_all(self.settings, self.media_sources, inbound),
                                        workers=settings.media_download_workers, on_ready=self._media_ready)

    # --- the request path -------------------------------------------------------------------------

    def accept(self, inbound: InboundMessage) -> int | None:
        """Store one message now, on the caller's thread (tests, the terminal simulator)."""
        return accept(self.session_factory, inbound, self.write_lock, self.identities)

    def submit(self, message_id: int, *, has_media: bool = True, identity_id: int | None = None) -> None:
        """Process ``message_id`` soon, in a processing thread (never on the request path)."""
        if self._stop.is_set():
            return
        if identity_id is None:
            with self.session_factory() as session:
                identity_id = session.scalar(select(Message.identity_id).where(Message.id == message_id))
            if identity_id is None:
                return
        self._ensure_workers()
        with self._threads_lock:
            self._queued[identity_id] += 1
        self._ready[identity_id % len(self._ready)].put(Ready(message_id, identity_id, has_media))

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover left-behind messages now and every ``recover_interval`` seconds (storing only: the inbox
        writer alone)."""
        self._stop.clear()
        self._ensure_inbox()
        if not self.process_here:
            return
        self._ensure_workers()
        self._recover_thread = threading.Thread(target=self._recover_loop, name="inbound-recover", daemon=True)
        self._recover_thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        with self._threads_lock:
            inbox, workers = self._inbox_thread, list(self._workers)
            self._inbox_thread, self._workers = None, []
            ready, self._ready = self._ready, []
        if inbox is not None:
            self._inbox.put(STOP)
        for q in ready:
            q.put(STOP)
        timeout = 30 if wait else 0.5
        if self._recover_thread is not None:
            self._recover_thread.join(timeout=10)
            self._recover_thread = None
        if inbox is not None:
            inbox.join(timeout=timeout)
        for t in workers:
            t.join(timeout=timeout)
        self.downloads.close()
        # Anything still queued for the writer is refused (its webhook answers 5xx and the provider retries).
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if item is not STOP:
                item[1].set_exception(RuntimeError("the inbound pipeline is stopped"))

    def _ensure_workers(self) -> None:
        if self._workers:
            return
        with self._threads_lock:
            if self._workers:
                return
            self._ready = [queue.SimpleQueue() for _ in range(self.workers)]
            for i, q in enumerate(self._ready):
                t = threading.Thread(target=self._worker_loop, args=(q,), name=f"inbound-{i}", daemon=True)
                self._workers.append(t)
                t.start()

    def _media_ready(self, message_id: int, identity_id: int) -> None:
        """A deferred citizen's media is in: queue them again (processing processes find them on their next
        pass)."""
        if self.process_here and not self._stop.is_set():
            self.submit(message_id, has_media=True, identity_id=identity_id)

    def _worker_loop(self, ready: queue.SimpleQueue[Any]) -> None:
        while True:
            item = ready.get()
            if item is STOP:
                return
            batch, stop = drain(ready, item, self.batch_size)
            try:
                self._process_ready(batch)
            except Exception as exc:
                log_failure(f"processing a batch of {len(batch)} inbound message(s) failed; they stay queued", exc)
            finally:
                with self._threads_lock:
                    self._queued.subtract(r.identity_id for r in batch)
                    for r in batch:
                        if self._queued.get(r.identity_id, 0) <= 0:
                            self._queued.pop(r.identity_id, None)
            if stop:
                return
