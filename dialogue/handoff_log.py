"""The durable log of escalations to staff (table ``handoff_log``): one row per handoff, written where a handoff
is requested (``dialogue.flows.escalate.start``), taken or answered by staff (``dialogue.handoff.reply``, the
console's take/assign), and handed back (by staff, the citizen, the time-out or the console's close).

``Conversation.handoff_requested_at`` is the live state and is cleared on hand-back; this log keeps the history
the indicators read (``ticketing.indicators.Indicators.escalations``). It holds no personal data: no text, no
draft, no name, only the conversation's id (set to NULL when the citizen is forgotten) and the channel kind.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ticketing.models import ChannelKind, Conversation, HandoffLog, utcnow


def _open_row(session: Session, conversation_id: int) -> HandoffLog | None:
    return session.scalars(
        select(HandoffLog).where(HandoffLog.conversation_id == conversation_id, HandoffLog.closed_at.is_(None))
        .order_by(HandoffLog.id.desc()).limit(1)
    ).first()


def requested(session: Session, conversation: Conversation, reason: str, at: datetime | None = None) -> HandoffLog:
    """A new escalation of ``conversation``; an earlier one still open is closed as ``restarted``."""
    at = at or utcnow()
    if conversation.id is None:
        session.flush()
    session.execute(update(HandoffLog).where(HandoffLog.conversation_id == conversation.id,
                                             HandoffLog.closed_at.is_(None))
                    .values(closed_at=at, closed_how="restarted"))
    row = HandoffLog(conversation_id=conversation.id, channel=ChannelKind(conversation.identity.channel).value,
                     reason=reason, requested_at=at)
    session.add(row)
    return row


def taken(session: Session, conversation_id: int, at: datetime | None = None) -> None:
    """A staff member took (or was assigned) the conversation: the first time counts."""
    row = _open_row(session, conversation_id)
    if row is not None and row.taken_at is None:
        row.taken_at = at or utcnow()


def replied(session: Session, conversation_id: int, at: datetime | None = None) -> None:
    """Staff wrote to the citizen: the first reply is the escalation's first response."""
    row = _open_row(session, conversation_id)
    if row is not None:
        at = at or utcnow()
        row.taken_at = row.taken_at or at
        row.first_reply_at = row.first_reply_at or at


def closed(session: Session, conversation_id: int, how: str, at: datetime | None = None) -> None:
    """The conversation went back to the bot (``how`` ∈ staff | console_close | timeout | citizen)."""
    row = _open_row(session, conversation_id)
    if row is not None:
        row.closed_at = at or utcnow()
        row.closed_how = how
