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
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import Insert, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from bot.channel import Download
from bot.downloads import DOWNLOADABLE, MediaDownloads, Prepared, fetch_all
from bot.edge import clean_str
from bot.media import StoredFile, add_attachment
from notifications.outbox import enqueue_replies
from reporta.flow.interprocess import WriteLock
from reporta.messages import InboundMessage, Media, OutboundMessage, TurnFailed
from reporta.settings import Settings
from ticketing.citizens import TWILIO_CHANNELS, external_id_for, get_or_create_identity, normalise_phone
from ticketing.db import is_sqlite, retry_on_disconnect
from ticketing.models import ChannelIdentity, ChannelKind, Citizen, Direction, InboundState, Message, utcnow

log = logging.getLogger(__name__)

#: Identity ids remembered per process (channel, external id) -> id; cleared when full.
IDENTITY_CACHE_SIZE = 100_000


class Handler(Protocol):
    """The dialogue engine as the pipeline sees it (``dialogue.engine.DialogueEngine``)."""

    def handle(self, session: Session, message: Message, inbound: InboundMessage,
               identity: ChannelIdentity) -> list[OutboundMessage]: ...
    # Optionally also ``load_conversations(session, identities) -> {identity id: conversation}`` and
    # ``handle_failed``: then ``handle`` is called with ``conversation=`` and ``own_savepoint=False`` inside the
    # message's savepoint, and a ``TurnFailed`` is answered by ``handle_failed`` (see ``DialogueEngine``).


class MediaSource(Protocol):
    def fetch_media(self, media: Media) -> AbstractContextManager[Download]: ...


IdentityCache = dict[tuple[str, str], int]


def _insert_message_ignoring_redelivery(session: Session) -> Insert:
    dialect = session.get_bind().dialect.name
    table, key = Message.__table__, ["channel", "provider_message_id"]
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=key)
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=key)
    return insert(table)  # pragma: no cover - other databases: a redelivery raises IntegrityError


def _resolve_identities(session: Session, inbounds: Sequence[InboundMessage]) -> dict[tuple[str, str], int]:
    """The identity ids of ``inbounds`` (one per (channel, external id)), found or created in bulk: one SELECT
    of the identities, one of the citizens by phone, one INSERT of the new citizens and one ``INSERT … ON
    CONFLICT DO NOTHING`` of the new identities. Whatever is left (an identity another process created
    meanwhile) is returned missing: the caller falls back to ``get_or_create_identity``."""
    norm: dict[tuple[str, str], tuple[ChannelKind, str]] = {}
    for i in inbounds:
        kind = ChannelKind(i.channel)
        norm[(i.channel, i.external_id)] = (kind, external_id_for(kind, i.external_id))
    by_kind: dict[ChannelKind, set[str]] = {}
    for kind, ext in norm.values():
        by_kind.setdefault(kind, set()).add(ext)
    ids: dict[tuple[ChannelKind, str], int] = {}
    for kind, exts in by_kind.items():
        for iid, ext in session.execute(select(ChannelIdentity.id, ChannelIdentity.external_id).where(
                ChannelIdentity.channel == kind, ChannelIdentity.external_id.in_(sorted(exts)))).all():
            ids[(kind, ext)] = iid
    first = {(i.channel, i.external_id): i for i in inbounds}
    new: dict[tuple[ChannelKind, str], InboundMessage] = {}
    for key, nk in norm.items():
        if nk not in ids:
            new.setdefault(nk, first[key])
    if new:
        phone_of: dict[tuple[ChannelKind, str], str | None] = {}
        for (kind, ext), i in new.items():
            phone_of[(kind, ext)] = (normalise_phone(i.phone_e164) if i.phone_e164
                                     else (ext if kind in TWILIO_CHANNELS else None))
        phones = sorted({p for p in phone_of.values() if p})
        citizen_of_phone: dict[str, int] = {}
        if phones:
            for cid, phone in session.execute(select(Citizen.id, Citizen.phone_e164).where(
                    Citizen.phone_e164.in_(phones)).order_by(Citizen.id.desc())).all():
                citizen_of_phone[phone] = cid  # descending: the lowest id wins, as get_or_create_identity
        to_create: list[tuple[ChannelKind, str]] = []
        seen_phones: set[str] = set()
        for nk, phone in phone_of.items():
            if phone is None or (phone not in citizen_of_phone and phone not in seen_phones):
                to_create.append(nk)
                if phone:
                    seen_phones.add(phone)
        created: dict[tuple[ChannelKind, str], int] = {}
        if to_create:
            rows = [{"phone_e164": phone_of[nk], "display_name": new[nk].display_name, "created_at": utcnow()}
                    for nk in to_create]
            cids = session.execute(insert(Citizen).returning(Citizen.id, sort_by_parameter_order=True),
                                   rows).scalars().all()
            for nk, cid in zip(to_create, cids, strict=True):
                created[nk] = cid
                if phone_of[nk]:
                    citizen_of_phone[phone_of[nk]] = cid
        rows = []
        for nk, phone in phone_of.items():
            cid = created.get(nk) or citizen_of_phone[phone]  # type: ignore[index]
            rows.append({"citizen_id": cid, "channel": nk[0], "external_id": nk[1], "created_at": utcnow()})
        dialect = session.get_bind().dialect.name
        table = ChannelIdentity.__table__
        ins: Any = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))
        stmt = ins.on_conflict_do_nothing(index_elements=["channel", "external_id"]).returning(
            table.c.id, table.c.channel, table.c.external_id)
        got = {(ChannelKind(getattr(ch, "value", ch)), ext): iid for iid, ch, ext in session.execute(stmt, rows).all()}
        ids.update(got)
        used = {r["citizen_id"] for r in rows if (r["channel"], r["external_id"]) in got}
        orphans = [cid for cid in created.values() if cid not in used]
        if orphans:  # another process created those identities meanwhile: drop the citizens made for them
            session.execute(delete(Citizen).where(Citizen.id.in_(orphans)))
    return {key: ids[nk] for key, nk in norm.items() if nk in ids}


_MESSAGE_INSERT: dict[str, Any] = {}


def store_inbound(session: Session, inbounds: Sequence[InboundMessage],
                  identities: IdentityCache | None = None) -> tuple[list[int | None], dict[tuple[str, str], int]]:
    """Insert ``inbounds`` in the caller's transaction, one statement for all of them.

    Returns the new message id of each (None for a redelivery, also one inside ``inbounds``) and the identity ids
    found or created, to be added to the cache only after the transaction commits.
    """
    cache = identities if identities is not None else {}
    found: dict[tuple[str, str], int] = {}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    misses = {(i.channel, i.external_id): i for i in inbounds if (i.channel, i.external_id) not in cache}
    if len(misses) > 1:  # a cold cache (start-up, new citizens): a few statements for all, not ~6 each
        found.update(_resolve_identities(session, list(misses.values())))
    for inbound in inbounds:
        key = (inbound.channel, inbound.external_id)
        identity_id = cache.get(key) or found.get(key)
        if identity_id is None:
            identity_id = get_or_create_identity(session, inbound.channel, inbound.external_id,
                                                 phone=inbound.phone_e164, display_name=inbound.display_name).id
            found[key] = identity_id
        dedupe = (inbound.channel, inbound.provider_message_id)
        if dedupe in seen:
            continue
        seen.add(dedupe)
        now = utcnow()
        rows.append({"direction": Direction.INBOUND, "channel": inbound.channel, "identity_id": identity_id,
                     "provider_message_id": inbound.provider_message_id, "kind": inbound.raw_kind[:20],
                     "text": inbound.text, "payload": inbound.to_dict(), "state": InboundState.RECEIVED,
                     "created_at": now})
    if not rows:
        return [None] * len(inbounds), found
    dialect = session.get_bind().dialect.name
    stmt = _MESSAGE_INSERT.get(dialect)
    if stmt is None:  # built once: executemany of one cached statement (a multi-row VALUES compiles every time)
        stmt = _insert_message_ignoring_redelivery(session).returning(
            Message.__table__.c.id, Message.__table__.c.channel, Message.__table__.c.provider_message_id)
        _MESSAGE_INSERT[dialect] = stmt
    stored = {(str(getattr(ch, "value", ch)), pid): mid for mid, ch, pid in session.execute(stmt, rows).all()}
    ids: list[int | None] = []
    for inbound in inbounds:
        ids.append(stored.pop((inbound.channel, inbound.provider_message_id), None))
    return ids, found


def accept(session_factory: sessionmaker[Session], inbound: InboundMessage,
           write_lock: threading.Lock | None = None, identities: IdentityCache | None = None) -> int | None:
    """Store ``inbound``; return the new message id, or None when it was already stored (a redelivery)."""
    return accept_many(session_factory, [inbound], write_lock, identities)[0]


def accept_many(session_factory: sessionmaker[Session], inbounds: Sequence[InboundMessage],
                write_lock: threading.Lock | None = None, identities: IdentityCache | None = None,
                signal: Callable[[Session], None] | None = None) -> list[int | None]:
    """Store ``inbounds`` in one transaction (group commit); the new message ids, None for redeliveries.

    ``signal(session)`` runs in that transaction when something new was stored (a PostgreSQL ``NOTIFY`` to the
    processing processes, delivered with the commit)."""
    with write_lock or nullcontext(), session_factory() as session, session.begin():
        ids, found = store_inbound(session, inbounds, identities)
        if signal is not None and any(mid is not None for mid in ids):
            signal(session)
    if identities is not None and found:
        if len(identities) + len(found) > IDENTITY_CACHE_SIZE:
            identities.clear()
        identities.update(found)
    for inbound, mid in zip(inbounds, ids, strict=True):
        if mid is None:
            log.info("redelivered %s message %s ignored (already stored)", inbound.channel,
                     inbound.provider_message_id)
    return ids


_Prepared = Prepared


class StoreFailed(RuntimeError):
    """The inbox could not store a message (the database is down, or the message cannot be stored): the webhook
    answers 5xx so the provider delivers it again. Logged once, by the inbox writer."""


class _Deferred(Exception):
    """A message's media is still downloading: its citizen waits (``MediaDownloads`` hands them back)."""


@dataclass(slots=True)
class _Ready:
    """A stored message waiting for a processing thread."""

    message_id: int
    identity_id: int
    has_media: bool


_STOP = object()



def _drain(source: queue.SimpleQueue[Any], first: Any, limit: int) -> tuple[list[Any], bool]:
    """``first`` plus whatever else is already queued, up to ``limit`` items; True when a stop came."""
    batch = [first]
    while len(batch) < limit:
        try:
            more = source.get_nowait()
        except queue.Empty:
            break
        if more is _STOP:
            return batch, True
        batch.append(more)
    return batch, False

class Pipeline:
    """Stores inbound messages (group commit) and processes them in batches; see the module docstring."""

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
        self._ready[identity_id % len(self._ready)].put(_Ready(message_id, identity_id, has_media))

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
            self._inbox.put(_STOP)
        for q in ready:
            q.put(_STOP)
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
            if item is not _STOP:
                item[1].set_exception(RuntimeError("the inbound pipeline is stopped"))

    def _ensure_inbox(self) -> None:
        if self._inbox_thread is not None:
            return
        with self._threads_lock:
            if self._inbox_thread is None:
                self._inbox_thread = threading.Thread(target=self._inbox_loop, name="inbox-writer", daemon=True)
                self._inbox_thread.start()

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

    def _inbox_loop(self) -> None:
        """The inbox writer: store everything queued meanwhile in one transaction, then answer each caller."""
        while True:
            item = self._inbox.get()
            if item is _STOP:
                return
            batch, stop = _drain(self._inbox, item, self.accept_batch_size)
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

    def _media_ready(self, message_id: int, identity_id: int) -> None:
        """A deferred citizen's media is in: queue them again (processing processes find them on their next
        pass)."""
        if self.process_here and not self._stop.is_set():
            self.submit(message_id, has_media=True, identity_id=identity_id)

    def _worker_loop(self, ready: queue.SimpleQueue[Any]) -> None:
        while True:
            item = ready.get()
            if item is _STOP:
                return
            batch, stop = _drain(ready, item, self.batch_size)
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

    def _process_ready(self, batch: list[_Ready], *, skip_locked: bool = False) -> int:
        order = list(dict.fromkeys(r.identity_id for r in batch))
        media = {r.identity_id for r in batch if r.has_media}
        try:
            return self._process_identities(order, media, skip_locked=skip_locked)
        except Exception as exc:
            if len(order) == 1 or isinstance(exc, OperationalError):  # the database is away: all would fail alike
                raise
            # A database error (deadlock, serialisation) in a batch: each citizen on its own, so one cannot
            # hold the others back.
            log.warning("batch of %d citizens failed (%s); processing them one by one", len(order),
                        describe_error(exc))
            done = 0
            for identity_id in order:
                try:
                    done += self._process_identities([identity_id], media & {identity_id}, skip_locked=skip_locked)
                except Exception as exc:
                    log_failure(f"processing the inbound messages of identity {identity_id} failed; they stay "
                                "queued", exc)
            return done

    def _recover_loop(self) -> None:
        first = True
        while not self._stop.is_set():
            try:
                self.recover(older_than=0.0 if first else self.recover_age)
            except Exception as exc:
                log_failure("inbound recovery pass failed", exc)
            first = False
            self._stop.wait(self.recover_interval)

    def recover(self, older_than: float | None = None) -> int:
        """Process ``received`` messages older than ``older_than`` seconds; return how many."""
        age = self.recover_age if older_than is None else older_than
        cutoff = utcnow() - timedelta(seconds=age)
        with self.session_factory() as session:
            rows = session.execute(
                select(Message.identity_id).where(
                    Message.direction == Direction.INBOUND, Message.state == InboundState.RECEIVED,
                    Message.created_at <= cutoff, Message.identity_id.is_not(None))
                .order_by(Message.id).limit(5000)).scalars().all()
        # Citizens already queued in this process are left to its processing threads; on PostgreSQL, citizens
        # another process is handling (identity locked) are skipped too: a later pass finds what is left.
        with self._threads_lock:
            order = [i for i in dict.fromkeys(rows) if i not in self._queued]
        done = 0
        for start in range(0, len(order), self.batch_size):
            if self._stop.is_set():
                break
            chunk = order[start:start + self.batch_size]
            try:
                done += self._process_ready([_Ready(0, i, True) for i in chunk], skip_locked=True)
            except Exception as exc:
                log_failure("recovering inbound messages failed; they stay queued", exc)
                if isinstance(exc, OperationalError):
                    break
        if done:
            log.info("recovered %d inbound message(s)", done)
        return done

    def process_pending(self, index: int = 0, count: int = 1, *, limit: int = 512) -> int:
        """One pass of a processing process: handle the ``received`` messages of the citizens routed to it
        (``identity_id % count == index``), oldest first, in batches of ``batch_size`` citizens; return how
        many were handled. Only this process takes these citizens, so processes never wait on each other's
        identity locks and each citizen's order is kept. A citizen whose message just failed is retried
        after ``recover_age`` seconds (until ``max_attempts``, then the message is ``failed``)."""
        stmt = (select(Message.identity_id, Message.kind).where(
            Message.direction == Direction.INBOUND, Message.state == InboundState.RECEIVED,
            Message.identity_id.is_not(None)).order_by(Message.id).limit(limit))
        if count > 1:
            stmt = stmt.where(Message.identity_id % count == index)
        with self.session_factory() as session:
            rows = session.execute(stmt).all()
        now = time.monotonic()
        for identity_id, at in list(self._retry_after.items()):
            if at <= now:
                self._retry_after.pop(identity_id, None)
        order: dict[int, bool] = {}
        for identity_id, kind in rows:
            if identity_id in self._retry_after:
                continue
            order[identity_id] = order.get(identity_id, False) or kind in DOWNLOADABLE
        ids = list(order)
        done = 0
        # Behind (a backlog): bigger transactions, so the per-transaction costs (locks, the pending and
        # conversation reads, the commit) are paid once for more messages and the backlog drains faster.
        size = self.batch_size if len(ids) <= 2 * self.batch_size else 4 * self.batch_size
        for start in range(0, len(ids), size):
            if self._stop.is_set():
                break
            chunk = ids[start:start + size]
            try:
                done += self._process_ready([_Ready(0, i, order[i]) for i in chunk])
            except Exception as exc:
                if isinstance(exc, OperationalError):
                    raise  # the database is away: the caller logs once and retries
                log_failure(f"processing a batch of {len(chunk)} citizen(s) failed; they stay queued", exc)
                for i in chunk:
                    self._retry_after[i] = time.monotonic() + self.recover_age
            if self._failures:
                # a message of this chunk failed and stays received: leave its citizen alone for a while
                with self.session_factory() as session:
                    stuck = session.scalars(select(Message.identity_id).where(
                        Message.id.in_(list(self._failures)))).all()
                for i in stuck:
                    if i in order:
                        self._retry_after[i] = time.monotonic() + self.recover_age
        return done

    # --- processing -------------------------------------------------------------------------------

    def _process_logged(self, message_id: int, has_media: bool = True) -> int:
        try:
            return self.process(message_id, has_media=has_media)
        except Exception as exc:
            log_failure(f"processing inbound message {message_id} failed; it stays queued", exc)
            return 0

    def process(self, message_id: int, *, has_media: bool = True) -> int:
        """Handle ``message_id`` and every other ``received`` message of its citizen; return how many.

        With ``has_media`` (the default when unknown) the citizen's pending media is downloaded first, outside
        the transaction; a text message skips that read (media of other pending messages is then fetched
        inside the turn).
        """
        with self.session_factory() as session:
            row = session.execute(select(Message.state, Message.identity_id).where(Message.id == message_id)).first()
        if row is None or row.state != InboundState.RECEIVED or row.identity_id is None:
            return 0
        return self._process_identities([row.identity_id], {row.identity_id} if has_media else set(),
                                        wait_media=True)

    def _process_identities(self, identity_ids: Sequence[int], media_of: Iterable[int] = (), *,
                            skip_locked: bool = False, wait_media: bool = False) -> int:
        """One transaction: lock ``identity_ids`` and handle all their ``received`` messages, oldest first.

        ``skip_locked`` (recovery) leaves out citizens whose identity another transaction holds.

        With the dialogue engine (a handler with ``load_conversations`` and ``handle_failed``) the batch first
        runs **without a savepoint per message** and with each message's updates (its state, the identity, the
        conversation) written together at the commit: two statements per message fewer, and one flush for the
        batch instead of one per message. If anything in that pass raises (a turn that failed, a database error),
        the whole pass is rolled back and the batch runs again the careful way, each message in a savepoint of
        its own, so one bad message only costs its own turn (see ``_failed``)."""
        media_of = set(media_of)
        prepared: dict[int, _Prepared] = {}
        if media_of:
            # Media first, outside the transaction and off this thread: a citizen whose files are still coming
            # waits (handed back when they are in); the others go on now.
            with self.session_factory() as session:
                pending = session.execute(self._pending_columns(sorted(media_of))).all()
            deferred: set[int] = set()
            for mid, identity_id, p in pending:
                got = self._media_of(mid, identity_id, p, wait=wait_media)
                if got is _WAITING:
                    deferred.add(identity_id)
                elif got is not None:
                    prepared[mid] = got
            identity_ids = [i for i in identity_ids if i not in deferred]
            if not identity_ids:
                return 0
        if self._engine_handler():
            try:
                return self._run_batch(identity_ids, prepared, skip_locked=skip_locked, careful=False,
                                       wait_media=wait_media)
            except Exception:
                log.debug("a message of the batch failed; the batch runs again with a savepoint per message",
                          exc_info=True)
        return self._run_batch(identity_ids, prepared, skip_locked=skip_locked, careful=True, wait_media=wait_media)

    def _media_of(self, message_id: int, identity_id: int, payload: Any, *, wait: bool) -> Any:
        """The prepared media of a stored message: None when it has none (or its payload cannot be read: its turn
        counts that failure), ``_WAITING`` while it downloads."""
        if not isinstance(payload, dict) or not payload.get("media"):
            return None
        try:
            inbound = InboundMessage.from_dict(payload)
        except Exception:
            return None
        if not any(m.kind in DOWNLOADABLE for m in inbound.media):
            return None
        got = self.downloads.get(message_id, identity_id, inbound, wait=wait)
        return _WAITING if got is None else got

    def _engine_handler(self) -> bool:
        return hasattr(self.handler, "load_conversations") and hasattr(self.handler, "handle_failed")

    def _run_batch(self, identity_ids: Sequence[int], prepared: dict[int, _Prepared], *, skip_locked: bool,
                   careful: bool, wait_media: bool = False) -> int:
        enqueued = 0
        handled = 0
        with self.write_lock or nullcontext(), self.session_factory() as session, session.begin():
            stmt = (select(ChannelIdentity).where(ChannelIdentity.id.in_(identity_ids))
                    .options(joinedload(ChannelIdentity.citizen, innerjoin=True)).order_by(ChannelIdentity.id))
            if not self.sqlite:  # in id order: two batches never wait for each other in a cycle
                stmt = stmt.with_for_update(key_share=True, of=ChannelIdentity, skip_locked=skip_locked)
            identities = {i.id: i for i in session.scalars(stmt).unique().all()}
            by_identity: dict[int, list[Message]] = {}
            for msg in session.scalars(self._pending(list(identities))).all():
                by_identity.setdefault(msg.identity_id or 0, []).append(msg)
            # The conversations of the citizens with messages, in one statement (locked), instead of one per message.
            # A handler with ``load_conversations`` + ``handle_failed`` (the dialogue engine) gets each citizen's
            # conversation and opens no savepoint of its own; others (test doubles) load their own.
            conversations: dict[int, Any] = {}
            if self._engine_handler() and by_identity:
                conversations = self.handler.load_conversations(  # type: ignore[attr-defined]
                    session, [identities[i] for i in identity_ids if i in by_identity and i in identities])
            done: list[int] = []
            for identity_id in identity_ids:
                identity = identities.get(identity_id)
                for msg in by_identity.get(identity_id, ()) if identity is not None else ():
                    conversation = conversations.get(identity_id)
                    if not careful:  # any exception leaves the whole pass (see _process_identities)
                        try:
                            inbound, prep = self._inputs(msg, identity_id, prepared, wait_media)
                        except _Deferred:
                            break  # its media is still downloading: the citizen waits, in order
                        enqueued += self._handle_one(session, msg, inbound, identity, prep, conversation,
                                                     flush=False)
                        handled += 1
                        done.append(msg.id)
                        continue
                    # Everything about one message (reading its payload, its media, its turn) counts toward its
                    # attempts: a message that keeps failing is marked failed and answered, and the queue goes on.
                    try:
                        inbound, prep = self._inputs(msg, identity_id, prepared, wait_media)
                        try:
                            with session.begin_nested():
                                enqueued += self._handle_one(session, msg, inbound, identity, prep, conversation)
                        except TurnFailed:
                            # the turn failed (not the database): its changes went with the savepoint; the
                            # handler answers it (error_generic) in a fresh one
                            with session.begin_nested():
                                enqueued += self._handle_one(session, msg, inbound, identity, prep, conversation,
                                                             failed=True)
                        handled += 1
                        done.append(msg.id)
                    except _Deferred:
                        break
                    except Exception as exc:
                        if not self._failed(msg, exc):
                            break  # keep the citizen's order: later messages wait for this one's retry
                        enqueued += self._answer_failed(session, msg, identity, conversation)
                        done.append(msg.id)
            if enqueued and self.signal is not None:
                self.signal(session, "outbox")
        for mid in done:
            self._failures.pop(mid, None)
        self.downloads.done(done)
        if enqueued:
            self.on_outbox()
        return handled

    def _inputs(self, msg: Message, identity_id: int, prepared: dict[int, _Prepared],
                wait_media: bool) -> tuple[InboundMessage, _Prepared]:
        """A stored message's ``InboundMessage`` and its downloaded media (``_Deferred`` while downloading)."""
        inbound = InboundMessage.from_dict(msg.payload)
        prep = prepared.get(msg.id)
        if prep is None:
            got = self._media_of(msg.id, identity_id, msg.payload, wait=wait_media)
            if got is _WAITING:
                raise _Deferred()
            prep = got or _Prepared({})
        return inbound, prep

    def _answer_failed(self, session: Session, msg: Message, identity: ChannelIdentity, conversation: Any) -> int:
        """A message marked failed still gets an answer (``error_generic``), in a savepoint of its own."""
        answer = getattr(self.handler, "handle_failed", None)
        if answer is None:
            return 0
        inbound = InboundMessage(channel=identity.channel.value, external_id=identity.external_id,
                                 provider_message_id=msg.provider_message_id or str(msg.id), raw_kind="unsupported")
        try:
            with session.begin_nested():
                replies = answer(session, msg, inbound, identity, conversation=conversation) or []
                enqueue_replies(session, identity, replies, in_reply_to_id=msg.id)
                session.flush()
        except Exception as exc:
            log.warning("inbound message %s: the failure answer could not be queued (%s)", msg.id,
                        type(exc).__name__)
            return 0
        return len(replies)

    def _failed(self, msg: Message, exc: Exception) -> bool:
        """Count a failed attempt; mark the message failed after ``max_attempts`` (returns True then)."""
        attempts = self._failures.get(msg.id, 0) + 1
        self._failures[msg.id] = attempts
        if attempts >= self.max_attempts:
            msg.state = InboundState.FAILED
            msg.error = clean_str(f"{type(exc).__name__}: {exc}", 4000)  # kept for inspection, never logged
            msg.processed_at = utcnow()
            self._failures.pop(msg.id, None)
            log.error("inbound message %s failed %d times; marked failed and answered (%s)", msg.id, attempts,
                      describe_error(exc))
            return True
        log.warning("inbound message %s failed (attempt %d): %s", msg.id, attempts, type(exc).__name__)
        return False

    def _pending(self, identity_ids: Sequence[int]):
        return (select(Message).where(Message.identity_id.in_(identity_ids), Message.direction == Direction.INBOUND,
                                      Message.state == InboundState.RECEIVED).order_by(Message.id))

    def _pending_columns(self, identity_ids: Sequence[int]):
        return (select(Message.id, Message.identity_id, Message.payload).where(
            Message.identity_id.in_(identity_ids), Message.direction == Direction.INBOUND,
            Message.state == InboundState.RECEIVED).order_by(Message.id))

    def _handle_one(self, session: Session, msg: Message, inbound: InboundMessage, identity: ChannelIdentity,
                    prep: _Prepared, conversation: Any = None, *, failed: bool = False, flush: bool = True) -> int:
        """One message's turn; its replies are inserted now (their order is the send order). ``flush=False``: the
        message's own updates wait for the batch's commit (the fast pass); else they are written now, inside the
        caller's savepoint."""
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
        if failed:
            replies = self.handler.handle_failed(session, msg, inbound, identity, conversation=conversation) or []
        elif conversation is not None:
            # the message's savepoint (the caller's) is the turn's: the handler opens none of its own
            replies = self.handler.handle(session, msg, inbound, identity, conversation=conversation,
                                          own_savepoint=False) or []
        else:
            replies = self.handler.handle(session, msg, inbound, identity) or []
        # Everything this message changes outside the dialogue's turn is set before the reply insert: in a
        # savepoint its autoflush writes it (one UPDATE of the message and of the identity per message); in the
        # fast pass the batch's commit writes all of them (executemany).
        seen_at = inbound.received_at or msg.created_at
        if identity.last_inbound_at is None or seen_at > identity.last_inbound_at:
            identity.last_inbound_at = seen_at
        msg.state = InboundState.PROCESSED
        msg.processed_at = utcnow()
        if not flush:
            with session.no_autoflush:
                enqueue_replies(session, identity, replies, in_reply_to_id=msg.id)
            return len(replies)
        enqueue_replies(session, identity, replies, in_reply_to_id=msg.id)
        session.flush()
        return len(replies)


_WAITING = object()


def describe_error(exc: BaseException) -> str:
    """An error in one short line without its parameters: the exception type and, for a database error, the
    first line of the driver's message (``value too long for type character varying(80)``)."""
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else "").strip().splitlines()
    return f"{type(exc).__name__}: {first[0][:120]}" if first else type(exc).__name__


def log_failure(what: str, exc: BaseException) -> None:
    """One ERROR line for a failure: a database error without its traceback (it would print the statement; its
    parameters are hidden by the engine, but one line per failure is what an outage should cost), anything else
    with it (a bug)."""
    log.error("%s: %s", what, describe_error(exc), exc_info=None if isinstance(exc, DBAPIError) else exc)
