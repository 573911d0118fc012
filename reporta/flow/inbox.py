"""The inbox writer: the request path of the flow, from a parsed message to its durable row."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from reporta.flow.failures import describe_error
from reporta.flow.store import IdentityCache, StoreFailed, accept_many
from reporta.messages import InboundMessage
from ticketing.db import retry_on_disconnect

log = logging.getLogger(__name__)


STOP = object()


def drain(source: queue.SimpleQueue[Any], first: Any, limit: int) -> tuple[list[Any], bool]:
    """``first`` plus whatever else is already queued, up to ``limit`` items; True when a stop came."""
    batch = [first]
    while len(batch) < limit:
        try:
            more = source.get_nowait()
        except queue.Empty:
            break
        if more is STOP:
            return batch, True
        batch.append(more)
    return batch, False


class InboxWriter:
    """The inbox writer thread of ``Pipeline``: webhooks queue their parsed messages (``receive_async``), the
    writer stores everything queued meanwhile in one transaction (group commit, ``accept_many``) and answers
    each caller only after that commit; the stored ids then go to processing (``submit``) or, in a web process
    of ``reporta serve``, the processing processes are woken (``on_stored``, ``signal``)."""

    session_factory: sessionmaker[Session]
    write_lock: Any
    identities: IdentityCache
    accept_batch_size: int
    process_here: bool
    on_stored: Callable[[], None]
    signal: Callable[[Session, str], None] | None
    _stop: threading.Event
    _threads_lock: threading.Lock
    _inbox: queue.SimpleQueue[Any]
    _inbox_thread: threading.Thread | None

    submit: Callable[..., None]  # Pipeline.submit: process a stored message soon

    def receive_future(self, inbound: InboundMessage) -> Future[int | None]:
        """Queue ``inbound`` for the inbox writer; the future resolves to its message id (None: a redelivery)
        once the transaction that stored it has committed. The message is then processed in the background."""
        future: Future[int | None] = Future()
        if self._stop.is_set():
            future.set_exception(RuntimeError("the inbound pipeline is stopped"))
            return future
        self._ensure_inbox()
        self._inbox.put((inbound, future))
        return future

    async def receive_async(self, inbound: InboundMessage) -> int | None:
        """What a webhook awaits for each parsed message: stored durably, processed off the request path."""
        return await asyncio.wrap_future(self.receive_future(inbound))

    def receive(self, inbound: InboundMessage) -> int | None:
        """``receive_async`` for synchronous callers (Telegram polling)."""
        return self.receive_future(inbound).result()

    def _ensure_inbox(self) -> None:
        if self._inbox_thread is not None:
            return
        with self._threads_lock:
            if self._inbox_thread is None:
                self._inbox_thread = threading.Thread(target=self._inbox_loop, name="inbox-writer", daemon=True)
                self._inbox_thread.start()

    def _inbox_loop(self) -> None:
        """The inbox writer: store everything queued meanwhile in one transaction, then answer each caller."""
        while True:
            item = self._inbox.get()
            if item is STOP:
                return
            batch, stop = drain(self._inbox, item, self.accept_batch_size)
            self._store_batch(batch)
            if stop:
                return

    def _store_batch(self, batch: list[tuple[InboundMessage, Future[int | None]]]) -> None:
        inbounds = [inbound for inbound, _ in batch]
        to = self.signal
        signal = None if to is None or self.process_here else (lambda session: to(session, "inbox"))
        try:
            # a connection that died while idle in the pool (the database restarted) costs a retry, not the batch
            ids = retry_on_disconnect(lambda: accept_many(self.session_factory, inbounds, self.write_lock,
                                                          self.identities, signal))
        except Exception as exc:
            unreachable = isinstance(exc, OperationalError)  # the database, not one message: all fail alike
            if len(batch) > 1 and not unreachable:  # one bad message must not refuse the others: one by one
                self.identities.clear()
                for one in batch:
                    self._store_batch([one])
                return
            if self.identities.pop((inbounds[0].channel, inbounds[0].external_id), None) is not None:
                self._store_batch(batch)  # the cached identity may be gone (a citizen forgotten): looked up again
                return
            # One line, no traceback: a traceback would print the statement's parameters (texts, names).
            log.error("inbox: %d %s message(s) could not be stored: %s", len(batch), inbounds[0].channel,
                      describe_error(exc))
            ids = None
        if ids is not None and not self.process_here and any(mid is not None for mid in ids):
            self.on_stored()  # the processing processes take it from here
        for i, (inbound, future) in enumerate(batch):
            if ids is None:
                future.set_exception(StoreFailed("the inbound message could not be stored"))
                continue
            mid = ids[i]
            if mid is not None and self.process_here:
                self.submit(mid, has_media=bool(inbound.media),
                            identity_id=self.identities.get((inbound.channel, inbound.external_id)))
            future.set_result(mid)
