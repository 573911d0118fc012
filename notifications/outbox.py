"""The outbox table's write side: ``enqueue`` a message to send, idempotently, in the caller's transaction.

The dispatcher (``notifications.dispatcher``) claims and sends these rows; nothing else sends.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Insert, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reporta.messages import Button, OutboundMessage
from ticketing.models import ChannelIdentity, ChannelKind, OutboxMessage, OutboxStatus, utcnow


def message_payload(message: OutboundMessage) -> dict[str, Any]:
    return {
        "buttons": [{"title": b.title, "payload": b.payload} for b in message.buttons],
        "request_location": message.request_location,
        "media_path": message.media_path,
        "media_url": message.media_url,
        "content_sid": message.content_sid,
        "content_variables": dict(message.content_variables),
    }


def outbound_from_row(row: OutboxMessage, external_id: str) -> OutboundMessage:
    """Rebuild the channel-neutral message from a stored outbox row."""
    p = row.payload or {}
    return OutboundMessage(
        channel=row.channel.value,
        external_id=external_id,
        text=row.body,
        buttons=tuple(Button(b["title"], b["payload"]) for b in p.get("buttons", ())),
        request_location=bool(p.get("request_location")),
        media_path=p.get("media_path"),
        media_url=p.get("media_url"),
        content_sid=p.get("content_sid"),
        content_variables=dict(p.get("content_variables") or {}),
        kind=row.kind,
    )


def enqueue(
    session: Session,
    identity: ChannelIdentity,
    message: OutboundMessage,
    *,
    kind: str | None = None,
    urgent: bool = True,
    dedupe_key: str | None = None,
    ticket_id: int | None = None,
    in_reply_to_id: int | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Add a message to the outbox in the caller's transaction.

    ``dedupe_key`` makes the call idempotent: a second call with the same key returns the first row
    (e.g. ``reply:<inbound message id>:<n>`` so a redelivered webhook never produces a second reply).
    Non-urgent messages wait out quiet hours (the dispatcher decides).
    """
    values: dict[str, Any] = {
        "identity_id": identity.id,
        "channel": ChannelKind(identity.channel),
        "kind": kind or message.kind,
        "urgent": urgent,
        "body": message.text,
        "payload": message_payload(message),
        "dedupe_key": dedupe_key,
        "ticket_id": ticket_id,
        "in_reply_to_id": in_reply_to_id,
        "status": OutboxStatus.PENDING,
        "next_attempt_at": not_before or utcnow(),
    }
    if dedupe_key is None:
        row = OutboxMessage(**values)
        with session.begin_nested():
            session.add(row)
            session.flush()
        return row
    # One statement when the key is fresh (the common case): INSERT … ON CONFLICT (dedupe_key) DO NOTHING
    # RETURNING the row; no row back means the key was already used, and the first row is returned.
    stmt = _insert_ignoring_dedupe(session).values(**values).returning(OutboxMessage)
    row = session.scalars(stmt).first()
    if row is not None:
        return row
    existing = session.scalars(select(OutboxMessage).where(OutboxMessage.dedupe_key == dedupe_key)).first()
    if existing is None:  # pragma: no cover - the conflicting row vanished (only a concurrent delete)
        raise IntegrityError("outbox insert ignored but no row has the dedupe key", {"dedupe_key": dedupe_key},
                             Exception("dedupe conflict"))
    return existing


def enqueue_replies(session: Session, identity: ChannelIdentity, messages: Sequence[OutboundMessage], *,
                    in_reply_to_id: int, kind: str | None = None) -> int:
    """The replies to one inbound message, in the caller's transaction, in one statement; return how many were new.

    The same as ``enqueue(..., dedupe_key=f"reply:{in_reply_to_id}:{n}", in_reply_to_id=in_reply_to_id)`` for
    each message in order (urgent, due now), without building ORM objects: a key already used is left alone, so
    processing an inbound message again never produces a second reply.
    """
    if not messages:
        return 0
    now = utcnow()
    channel = ChannelKind(identity.channel)
    rows = [{
        "identity_id": identity.id, "channel": channel, "kind": kind or m.kind, "urgent": True, "body": m.text,
        "payload": message_payload(m), "dedupe_key": f"reply:{in_reply_to_id}:{n}", "ticket_id": None,
        "in_reply_to_id": in_reply_to_id, "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now,
        "created_at": now,
    } for n, m in enumerate(messages)]
    # executemany with a statement built once per dialect: compiled once and cached (a multi-row VALUES
    # statement was compiled again for every message, a quarter of the processing time).
    stmt = _REPLY_INSERT.get(session.get_bind().dialect.name)
    if stmt is None:
        stmt = _insert_ignoring_dedupe(session, OutboxMessage.__table__).returning(OutboxMessage.__table__.c.id)
        _REPLY_INSERT[session.get_bind().dialect.name] = stmt
    return len(session.execute(stmt, rows).all())


_REPLY_INSERT: dict[str, Any] = {}


def _insert_ignoring_dedupe(session: Session, target: Any = OutboxMessage) -> Insert:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(target).on_conflict_do_nothing(index_elements=["dedupe_key"])
    if dialect == "sqlite":
        return sqlite.insert(target).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return insert(target)  # pragma: no cover - other databases: a conflict raises IntegrityError
