"""Processing a batch of stored messages: NLU + dialogue + outbox for a few citizens in one transaction, with and
without savepoints, and what a message that keeps failing gets (marked ``failed``, answered)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, replace
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from bot.downloads import DOWNLOADABLE, MediaDownloads, Prepared
from bot.edge import clean_str
from bot.media import StoredFile
from notifications.outbox import enqueue_replies
from reporta.flow.failures import describe_error, log_failure
from reporta.messages import InboundMessage, Media, OutboundMessage, TurnFailed
from ticketing.attachments import add_attachment
from ticketing.models import ChannelIdentity, Direction, InboundState, Message, utcnow

log = logging.getLogger(__name__)


class Handler(Protocol):
    """The dialogue engine as the pipeline sees it (``dialogue.engine.DialogueEngine``)."""

    def handle(self, session: Session, message: Message, inbound: InboundMessage,
               identity: ChannelIdentity) -> list[OutboundMessage]: ...
    # Optionally also ``load_conversations(session, identities) -> {identity id: conversation}`` and
    # ``handle_failed``: then ``handle`` is called with ``conversation=`` and ``own_savepoint=False`` inside the
    # message's savepoint, and a ``TurnFailed`` is answered by ``handle_failed`` (see ``DialogueEngine``).


class _Deferred(Exception):
    """A message's media is still downloading: its citizen waits (``MediaDownloads`` hands them back)."""


@dataclass(slots=True)
class Ready:
    """A stored message waiting for a processing thread."""

    message_id: int
    identity_id: int
    has_media: bool


_Prepared = Prepared


_WAITING = object()


class BatchProcessing:
    """Processing of ``Pipeline``: one transaction locks a few citizens' identities and handles all their
    ``received`` messages in id order, first without a savepoint per message, then (if anything raised) again
    with one savepoint each; media is downloaded first, outside the transaction."""

    session_factory: sessionmaker[Session]
    handler: Handler
    write_lock: Any
    sqlite: bool
    max_attempts: int
    on_outbox: Callable[[], None]
    signal: Callable[[Session, str], None] | None
    downloads: MediaDownloads
    _failures: dict[int, int]

    def _process_ready(self, batch: list[Ready], *, skip_locked: bool = False) -> int:
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
