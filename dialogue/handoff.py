"""Human handoff: the staff queue of conversations the bot handed over, staff replies and handing back.

While a conversation is in ``handoff`` mode the bot stays silent (``DialogueEngine``); staff read the
citizen's messages in the ``messages`` log and answer with ``reply``, which enqueues the text to the outbox
on the citizen's own channel (kind ``staff_reply``). ``close`` hands the conversation back to the bot and tells
the citizen. The staff web console will use these same functions; today the CLI does (``reporta handoff``).

Privacy: the queue shows a conversation id, channel, display name and messages, never phone numbers or chat ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialogue import handoff_log, state
from dialogue.render import Renderer
from notifications.outbox import enqueue
from reporta.messages import OutboundMessage
from ticketing.catalog import Catalog
from ticketing.models import (
    ChannelKind,
    Conversation,
    ConversationMode,
    Direction,
    Message,
    OutboxMessage,
    StaffUser,
    utcnow,
)

REASONS = {
    "requested": "pidió hablar con una persona",
    "not_understood": "el bot no entendió dos mensajes seguidos",
    "abusive": "mensaje ofensivo",
    "anguished": "posible emergencia o angustia",
    "notice_reply": "respondió a un aviso de su reporte",
}


class HandoffError(Exception):
    """A handoff request staff must fix (unknown conversation, not in the queue, empty text)."""


@dataclass(frozen=True)
class QueueItem:
    conversation_id: int
    channel: str
    citizen_id: int
    display_name: str | None
    reason: str | None
    requested_at: datetime | None
    staff: str | None
    last_messages: list[tuple[datetime, str, str]]  # (when, "in"/"out", text)
    #: The report the citizen had not sent when the conversation was handed over (category, description,
    #: address, colonia, landmark, lat/lon, photos...), or None.
    draft: dict | None = None


def _staff(session: Session, staff: StaffUser | str | None) -> tuple[StaffUser | None, str | None]:
    """The staff user (looked up by username when a string) and the name the citizen reads (None: the team's)."""
    if isinstance(staff, StaffUser):
        return staff, staff.display_name
    if staff:
        user = session.scalars(select(StaffUser).where(StaffUser.username == staff)).one_or_none()
        if user is not None:
            return user, user.display_name
        return None, staff
    return None, None


def _conversation(session: Session, conversation_id: int) -> Conversation:
    conversation = session.scalars(
        select(Conversation).where(Conversation.id == conversation_id).with_for_update()
    ).one_or_none()
    if conversation is None:
        raise HandoffError(f"no conversation with id {conversation_id}")
    if conversation.mode != ConversationMode.HANDOFF:
        raise HandoffError(f"conversation {conversation_id} is not waiting for staff (the bot is answering it)")
    return conversation


def list_queue(session: Session, *, messages: int = 3) -> list[QueueItem]:
    """Conversations waiting for staff, oldest request first, each with its last few messages."""
    rows = session.scalars(
        select(Conversation)
        .where(Conversation.mode == ConversationMode.HANDOFF)
        .order_by(Conversation.handoff_requested_at, Conversation.id)
    ).all()
    items = []
    for conv in rows:
        staff = session.get(StaffUser, conv.handoff_staff_id) if conv.handoff_staff_id else None
        recent = session.scalars(
            select(Message)
            .where(Message.identity_id == conv.identity_id)
            .order_by(Message.id.desc())
            .limit(messages)
        ).all()
        items.append(QueueItem(
            conversation_id=conv.id,
            channel=ChannelKind(conv.identity.channel).value,
            citizen_id=conv.citizen_id,
            display_name=conv.identity.citizen.display_name,
            reason=conv.handoff_reason,
            requested_at=conv.handoff_requested_at,
            staff=staff.username if staff else None,
            last_messages=[(m.created_at, Direction(m.direction).value, m.text or f"[{m.kind}]")
                           for m in reversed(recent)],
            draft=(conv.slots or {}).get("draft"),
        ))
    return items


def _dialogue_channel(channel: str, external_id: str) -> str:
    from dialogue.simulated import dialogue_channel

    return dialogue_channel(channel, external_id)


def _renderer(renderer: Renderer | None) -> Renderer:
    if renderer is not None:
        return renderer
    from reporta.settings import get_settings

    return Renderer(get_settings().templates_dir)


def reply(session: Session, conversation_id: int, text: str, staff: StaffUser | str | None,
          *, renderer: Renderer | None = None, now: datetime | None = None) -> OutboxMessage:
    """Send staff's ``text`` to the citizen on the conversation's channel (through the outbox)."""
    now = now or utcnow()
    text = (text or "").strip()
    if not text:
        raise HandoffError("the reply is empty")
    conversation = _conversation(session, conversation_id)
    user, name = _staff(session, staff)
    if user is not None:
        conversation.handoff_staff_id = user.id
    slots = state.slots(conversation)
    handoff_log.replied(session, conversation.id, now)
    slots["staff_replied_at"] = now.isoformat()  # someone answered: the bot's time-out no longer applies
    state.set_slots(conversation, slots)
    identity = conversation.identity
    channel = ChannelKind(identity.channel).value
    body = _renderer(renderer).render("handoff_staff_reply", channel, staff_name=name, text=text)
    row = enqueue(session, identity, OutboundMessage(channel=channel, external_id=identity.external_id, text=body,
                                                     kind="staff_reply"), kind="staff_reply")
    state.touch(conversation)
    return row


def resume_draft(conversation: Conversation, draft: dict[str, Any]) -> None:
    """Back to the bot: no flow, or the unsent report kept for staff (``draft``) at the question it was on."""
    state.reset(conversation)
    if draft:
        draft = dict(draft)
        step = draft.pop("step", None) or "location"
        state.start_flow(conversation, "report", step, {"candidates": [], "photos": [], **draft})


def _resume_question(draft: dict[str, Any]) -> dict[str, Any]:
    """What the hand-back message needs to ask the draft's question again (``report_resume_question.j2``)."""
    if not draft:
        return {}
    return {"step": draft.get("step") or "location", "code": draft.get("category")}


def close(session: Session, conversation_id: int, staff: StaffUser | str | None,
          *, renderer: Renderer | None = None, now: datetime | None = None,
          catalog: Catalog | None = None) -> OutboxMessage:
    """Hand the conversation back to the bot and tell the citizen (enqueued, kind ``handoff_closed``). An unsent
    report kept as the draft is resumed at its question, and the citizen is told it is still pending (never
    dropped without a word); ``catalog`` names its category."""
    conversation = _conversation(session, conversation_id)
    _user, name = _staff(session, staff)
    draft = dict((conversation.slots or {}).get("draft") or {})
    conversation.mode = ConversationMode.BOT
    conversation.handoff_reason = None
    conversation.handoff_requested_at = None
    conversation.handoff_staff_id = None
    conversation.misunderstood_count = 0
    handoff_log.closed(session, conversation.id, "staff", now)
    resume_draft(conversation, draft)
    state.touch(conversation)
    identity = conversation.identity
    channel = ChannelKind(identity.channel).value
    category = catalog.categories.get(draft.get("category") or "") if catalog is not None and draft else None
    body = _renderer(renderer).render("handoff_closed", _dialogue_channel(channel, identity.external_id),
                                      staff_name=name, draft=bool(draft), category=category.name if category else "",
                                      **_resume_question(draft))
    return enqueue(session, identity, OutboundMessage(channel=channel, external_id=identity.external_id, text=body,
                                                      kind="handoff_closed"), kind="handoff_closed")


def expire_handoffs(session: Session, catalog: Catalog, renderer: Renderer, *, timezone: str,
                    now: datetime | None = None, limit: int = 200) -> int:
    """Hand back to the bot every conversation nobody from staff answered within the catalog's
    ``handoff_timeout_minutes`` of staff hours, telling the citizen (kind ``handoff_timeout``); an unsent report
    kept as the draft is resumed. Returns how many. Safe in several processes (row locks, ``SKIP LOCKED`` on
    PostgreSQL)."""
    from dialogue.flows.handoff import timed_out
    from dialogue.staff_hours import StaffHours

    now = now or utcnow()
    cutoff = now - timedelta(minutes=catalog.handoff_timeout_minutes)
    stmt = (select(Conversation).where(Conversation.mode == ConversationMode.HANDOFF,
                                       Conversation.handoff_requested_at <= cutoff)
            .order_by(Conversation.id).limit(limit))
    if session.get_bind().dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True)
    staff_hours = StaffHours(catalog, timezone)
    hours = staff_hours.hours_text()
    done = 0
    for conversation in session.scalars(stmt).all():
        if not timed_out(conversation, now, catalog.handoff_timeout_minutes, staff_hours):
            continue
        draft = dict((conversation.slots or {}).get("draft") or {})
        conversation.mode = ConversationMode.BOT
        conversation.handoff_reason = None
        conversation.handoff_requested_at = None
        conversation.handoff_staff_id = None
        conversation.misunderstood_count = 0
        handoff_log.closed(session, conversation.id, "timeout", now)
        category = catalog.categories.get(draft.get("category") or "")
        resume_draft(conversation, draft)
        state.touch(conversation, now)
        identity = conversation.identity
        channel = ChannelKind(identity.channel).value
        body = renderer.render("handoff_timeout", _dialogue_channel(channel, identity.external_id),
                               draft=bool(draft), category=category.name if category else "", hours=hours,
                               **_resume_question(draft))
        enqueue(session, identity, OutboundMessage(channel=channel, external_id=identity.external_id, text=body,
                                                   kind="handoff_timeout"), kind="handoff_timeout",
                dedupe_key=f"handoff_timeout:{conversation.id}:{now:%Y%m%d%H%M%S}")
        done += 1
    return done
