"""The durable, idempotent inbound pipeline: every message is stored before it is processed, processed once,
in order per citizen, and never lost.

1. ``accept`` (on the webhook's request path): insert a ``Message`` row (direction ``in``, state
   ``received``, payload = the channel-neutral message). The unique ``(channel, provider_message_id)``
   makes a redelivered webhook a no-op (``None``).
2. ``Pipeline.process`` (off the request path, in a small thread pool): download the citizen's media first
   (no lock held), then in ONE transaction lock the channel identity (``FOR NO KEY UPDATE`` on PostgreSQL;
   SQLite's ``BEGIN IMMEDIATE`` serialises writers) and handle ALL its still-``received`` messages in id
   order: store attachments, call the dialogue engine, enqueue each reply in the outbox with
   ``dedupe_key=reply:<message id>:<n>``, mark the message ``processed``. A crash anywhere rolls the whole
   turn back and the message is processed again; a message whose handling raises is retried and, after
   ``max_attempts``, marked ``failed`` with the error (kept for inspection, never deleted).
3. ``Pipeline.recover`` (at start-up and every few seconds) processes ``received`` rows left behind.

After a commit that enqueued replies, ``on_outbox()`` wakes the outbox dispatcher so replies leave at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.channel import Download
from bot.media import MediaRejected, StoredFile, add_attachment, store_stream
from notifications.outbox import enqueue
from reporta.messages import InboundMessage, Media, OutboundMessage
from reporta.settings import Settings
from ticketing.citizens import get_or_create_identity
from ticketing.db import is_sqlite
from ticketing.models import ChannelIdentity, Direction, InboundState, Message, utcnow

log = logging.getLogger(__name__)

DOWNLOADABLE = frozenset({"photo", "document"})


class Handler(Protocol):
    """The dialogue engine as the pipeline sees it (``dialogue.engine.DialogueEngine``)."""

    def handle(self, session: Session, message: Message, inbound: InboundMessage,
               identity: ChannelIdentity) -> list[OutboundMessage]: ...


class MediaSource(Protocol):
    def fetch_media(self, media: Media) -> AbstractContextManager[Download]: ...


def accept(session_factory: sessionmaker[Session], inbound: InboundMessage,
           write_lock: threading.Lock | None = None) -> int | None:
    """Store ``inbound``; return the new message id, or None when it was already stored (a redelivery)."""
    with write_lock or nullcontext(), session_factory() as session:
        try:
            with session.begin():
                identity = get_or_create_identity(session, inbound.channel, inbound.external_id,
                                                  phone=inbound.phone_e164, display_name=inbound.display_name)
                row = Message(direction=Direction.INBOUND, channel=inbound.channel, identity_id=identity.id,
                              provider_message_id=inbound.provider_message_id, kind=inbound.raw_kind[:20],
                              text=inbound.text, payload=inbound.to_dict(), state=InboundState.RECEIVED)
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            exists = session.scalar(select(Message.id).where(
                Message.channel == inbound.channel,
                Message.provider_message_id == inbound.provider_message_id))
            if exists is None:
                raise
            log.info("redelivered %s message ignored (already stored as %s)", inbound.channel, exists)
            return None


@dataclass
class _Prepared:
    """Media downloaded for one message before the transaction: stored files or the reason they were refused."""

    files: dict[int, StoredFile | MediaRejected]


class Pipeline:
    """Processes stored inbound messages in a small thread pool; see the module docstring."""

    def __init__(self, session_factory: sessionmaker[Session], handler: Handler, settings: Settings, *,
                 media_sources: Mapping[str, MediaSource] | None = None,
                 on_outbox: Callable[[], None] | None = None, workers: int = 4, max_attempts: int = 3,
                 recover_interval: float = 5.0, recover_age: float = 3.0) -> None:
        self.session_factory = session_factory
        self.handler = handler
        self.settings = settings
        self.media_sources = dict(media_sources or {})
        self.on_outbox = on_outbox or (lambda: None)
        self.max_attempts = max_attempts
        self.recover_interval = recover_interval
        self.recover_age = recover_age
        self.sqlite = is_sqlite(session_factory.kw["bind"])
        # SQLite has one writer: serialising our own writers in-process avoids its sleeping busy handler.
        self.write_lock: threading.Lock | None = threading.Lock() if self.sqlite else None
        self._pool = ThreadPoolExecutor(max_workers=1 if self.sqlite else workers,
                                        thread_name_prefix="inbound")
        self._failures: dict[int, int] = {}
        self._stop = threading.Event()
        self._recover_thread: threading.Thread | None = None

    # --- the request path -------------------------------------------------------------------------

    def accept(self, inbound: InboundMessage) -> int | None:
        return accept(self.session_factory, inbound, self.write_lock)

    def submit(self, message_id: int, *, has_media: bool = True) -> None:
        """Process ``message_id`` soon, in the pool (never on the request path)."""
        if not self._stop.is_set():
            self._pool.submit(self._process_logged, message_id, has_media)

    def receive(self, inbound: InboundMessage) -> int | None:
        """``accept`` then ``submit``: what a webhook does with each parsed message."""
        message_id = self.accept(inbound)
        if message_id is not None:
            self.submit(message_id, has_media=bool(inbound.media))
        return message_id

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover left-behind messages now and every ``recover_interval`` seconds."""
        self._stop.clear()
        self._recover_thread = threading.Thread(target=self._recover_loop, name="inbound-recover", daemon=True)
        self._recover_thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        if self._recover_thread is not None:
            self._recover_thread.join(timeout=10)
            self._recover_thread = None
        self._pool.shutdown(wait=wait, cancel_futures=not wait)

    def _recover_loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self.recover(older_than=0.0 if first else self.recover_age)
            except Exception:
                log.exception("inbound recovery pass failed")
            first = False
            self._stop.wait(self.recover_interval)

    def recover(self, older_than: float | None = None) -> int:
        """Process ``received`` messages older than ``older_than`` seconds (one call per citizen); return count."""
        age = self.recover_age if older_than is None else older_than
        cutoff = utcnow() - timedelta(seconds=age)
        with self.session_factory() as session:
            rows = session.execute(
                select(Message.id, Message.identity_id).where(
                    Message.direction == Direction.INBOUND, Message.state == InboundState.RECEIVED,
                    Message.created_at <= cutoff).order_by(Message.id).limit(5000)).all()
        seen: set[int | None] = set()
        done = 0
        for message_id, identity_id in rows:
            if self._stop.is_set():
                break
            if identity_id in seen:
                continue
            seen.add(identity_id)
            done += self._process_logged(message_id)
        if done:
            log.info("recovered %d inbound message(s)", done)
        return done

    # --- processing -------------------------------------------------------------------------------

    def _process_logged(self, message_id: int, has_media: bool = True) -> int:
        try:
            return self.process(message_id, has_media=has_media)
        except Exception:
            log.exception("processing inbound message %s failed; it stays queued", message_id)
            return 0

    def process(self, message_id: int, *, has_media: bool = True) -> int:
        """Handle ``message_id`` and every other ``received`` message of its citizen; return how many.

        With ``has_media`` (the default when unknown) the citizen's pending media is downloaded first, outside
        the transaction; a text message skips that read (media of other pending messages is then fetched
        inside the turn).
        """
        with self.session_factory() as session:
            row = session.get(Message, message_id)
            if row is None or row.state != InboundState.RECEIVED or row.identity_id is None:
                return 0
            identity_id = row.identity_id
            pending = session.scalars(self._pending(identity_id)).all() if has_media else []
            payloads = {m.id: m.payload for m in pending}
        prepared = {mid: self._download(InboundMessage.from_dict(p)) for mid, p in payloads.items()}

        enqueued = 0
        handled = 0
        with self.write_lock or nullcontext(), self.session_factory() as session, session.begin():
            identity = session.get(ChannelIdentity, identity_id,
                                   with_for_update=None if self.sqlite else {"key_share": True})
            if identity is None:  # pragma: no cover - FK guarantees it
                return 0
            for msg in session.scalars(self._pending(identity_id)).all():
                inbound = InboundMessage.from_dict(msg.payload)
                prep = prepared.get(msg.id) or self._download(inbound)
                try:
                    with session.begin_nested():
                        enqueued += self._handle_one(session, msg, inbound, identity, prep)
                    handled += 1
                    self._failures.pop(msg.id, None)
                except Exception as exc:
                    attempts = self._failures.get(msg.id, 0) + 1
                    self._failures[msg.id] = attempts
                    if attempts >= self.max_attempts:
                        msg.state = InboundState.FAILED
                        msg.error = f"{type(exc).__name__}: {exc}"[:4000]
                        msg.processed_at = utcnow()
                        self._failures.pop(msg.id, None)
                        log.exception("inbound message %s failed %d times; marked failed", msg.id, attempts)
                    else:
                        log.warning("inbound message %s failed (attempt %d): %s", msg.id, attempts,
                                    type(exc).__name__)
                    break  # keep the citizen's order: later messages wait for this one
        if enqueued:
            self.on_outbox()
        return handled

    def _pending(self, identity_id: int):
        return (select(Message).where(Message.identity_id == identity_id, Message.direction == Direction.INBOUND,
                                      Message.state == InboundState.RECEIVED).order_by(Message.id))

    def _handle_one(self, session: Session, msg: Message, inbound: InboundMessage, identity: ChannelIdentity,
                    prep: _Prepared) -> int:
        seen_at = inbound.received_at or msg.created_at
        if identity.last_inbound_at is None or seen_at > identity.last_inbound_at:
            identity.last_inbound_at = seen_at
        if inbound.media:
            media: list[Media] = []
            problems: list[str] = []
            for i, m in enumerate(inbound.media):
                got = prep.files.get(i)
                if isinstance(got, StoredFile):
                    att = add_attachment(session, got, message_id=msg.id)
                    media.append(replace(m, attachment_id=att.id, content_type=got.content_type,
                                         size_bytes=got.size_bytes))
                else:
                    media.append(m)
                    if got is not None:
                        problems.append(got.reason)
            inbound = replace(inbound, media=tuple(media))
            if problems:
                msg.error = "media refused: " + ", ".join(problems)
        replies = self.handler.handle(session, msg, inbound, identity) or []
        for i, reply in enumerate(replies):
            enqueue(session, identity, reply, dedupe_key=f"reply:{msg.id}:{i}", in_reply_to_id=msg.id)
        msg.state = InboundState.PROCESSED
        msg.processed_at = utcnow()
        session.flush()
        return len(replies)

    def _download(self, inbound: InboundMessage) -> _Prepared:
        files: dict[int, StoredFile | MediaRejected] = {}
        source = self.media_sources.get(inbound.channel)
        for i, m in enumerate(inbound.media):
            if m.kind not in DOWNLOADABLE:
                continue
            if m.size_bytes is not None and m.size_bytes > self.settings.max_media_bytes:
                files[i] = MediaRejected("too_large", f"{m.size_bytes} bytes declared")  # not even fetched
                continue
            if source is None:
                files[i] = MediaRejected("download_failed", "channel cannot download")
                continue
            started = time.monotonic()
            try:
                with source.fetch_media(m) as download:
                    files[i] = store_stream(self.settings, download.chunks, declared_size=download.declared_size)
            except MediaRejected as exc:
                files[i] = exc
            except Exception as exc:
                files[i] = MediaRejected("download_failed", type(exc).__name__)
            got = files[i]
            log.info("media %d of %s message: %s in %.0f ms", i, inbound.channel,
                     got.reason if isinstance(got, MediaRejected) else f"stored {got.size_bytes} bytes",
                     (time.monotonic() - started) * 1000)
        return _Prepared(files)
