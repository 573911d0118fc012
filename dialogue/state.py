"""Conversation state in the ``conversations`` table: one row per channel identity, loaded and saved in the
caller's transaction, so any worker can take the next message and a restart loses nothing.

``slots`` is a JSON column: always assign a new dict (``set_slots``) so SQLAlchemy sees the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ticketing.models import ChannelIdentity, Conversation, ConversationMode, utcnow


def load_conversation(session: Session, identity: ChannelIdentity, *, lock: bool = True) -> Conversation:
    """The identity's conversation, created on first contact; row-locked (``FOR UPDATE``) on PostgreSQL.

    The inbound pipeline already serialises messages of one identity; the lock here makes the engine
    safe on its own too (SQLite ignores ``FOR UPDATE``; its ``BEGIN IMMEDIATE`` serialises writers).
    """
    stmt = select(Conversation).where(Conversation.identity_id == identity.id)
    if lock:
        stmt = stmt.with_for_update()
    conversation = session.scalars(stmt).one_or_none()
    if conversation is not None:
        return conversation
    now = utcnow()
    conversation = Conversation(
        identity_id=identity.id,
        citizen_id=identity.citizen_id,
        mode=ConversationMode.BOT,
        slots={},
        misunderstood_count=0,
        last_activity_at=now,
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(conversation)
            session.flush()
    except IntegrityError:  # another worker created it first
        conversation = session.scalars(stmt).one()
    return conversation


def load_conversations(session: Session, identities: Sequence[ChannelIdentity], *,
                       lock: bool = True) -> dict[int, Conversation]:
    """``load_conversation`` for several identities: one ``SELECT … FOR UPDATE`` (in identity id order) and one
    flush creating the missing ones; identity id -> conversation."""
    if not identities:
        return {}
    stmt = (select(Conversation).where(Conversation.identity_id.in_(sorted({i.id for i in identities})))
            .order_by(Conversation.identity_id))
    if lock:
        stmt = stmt.with_for_update()
    found = {c.identity_id: c for c in session.scalars(stmt)}
    missing = [i for i in dict.fromkeys(identities) if i.id not in found]
    if missing:
        now = utcnow()
        created = {i.id: Conversation(identity_id=i.id, citizen_id=i.citizen_id, mode=ConversationMode.BOT, slots={},
                                      misunderstood_count=0, last_activity_at=now, created_at=now)
                   for i in missing}
        try:
            with session.begin_nested():
                session.add_all(created.values())
                session.flush()
            found.update(created)
        except IntegrityError:  # another transaction created one of them first: one by one
            for identity in missing:
                found[identity.id] = load_conversation(session, identity, lock=lock)
    return found


def slots(conversation: Conversation) -> dict[str, Any]:
    """A copy of the slots to modify and save back with ``set_slots``."""
    return dict(conversation.slots or {})


def set_slots(conversation: Conversation, values: dict[str, Any]) -> None:
    conversation.slots = dict(values)


def reset(conversation: Conversation, *, keep: tuple[str, ...] = ()) -> None:
    """Back to no flow (keeps only the named slots)."""
    old = conversation.slots or {}
    conversation.flow = None
    conversation.step = None
    conversation.slots = {k: old[k] for k in keep if k in old}


def start_flow(conversation: Conversation, flow: str, step: str | None, values: dict[str, Any] | None = None) -> None:
    conversation.flow = flow
    conversation.step = step
    conversation.slots = dict(values or {})


def touch(conversation: Conversation, when: datetime | None = None) -> None:
    conversation.last_activity_at = when or utcnow()
