"""Citizens' rights over their personal data, and how long Reporta keeps them.

A municipality is a *sujeto obligado* under the Ley General de Protección de Datos Personales en Posesión de
Sujetos Obligados (and its state law): citizens may see what is held about them (access), ask for it to be
deleted (cancelación / supresión), and nothing is kept longer than its purpose needs. This module owns:

- ``access_summary``: what Reporta holds about a citizen (the "MIS DATOS" answer), ``record_access`` its audit row;
- ``request_erasure``: a deletion request, recorded for staff (``privacy_requests``, status ``pending``);
- ``forget_citizen``: staff approved it: the citizen's phone, names, chat ids, conversations, message texts,
  photos and subscriptions are deleted; their tickets stay, anonymised (``anonymise_ticket``), so counts and
  indicators still work; the request row keeps only counts;
- ``apply_retention``: closed tickets unchanged for ``REPORTA_RETENTION_MONTHS`` anonymised, older messages and sent
  outbox rows deleted, citizens with nothing open and no activity in that time forgotten.

What stays on an anonymised ticket: folio, category, department, status history (actors ``citizen``, not
``citizen:ID``), dates, the place of the problem (address and coordinates: a public street, not the citizen),
survey outcome and rating, staff's evidence photos. What goes: the reporter link, the description and landmark
(free text the citizen wrote), the citizen's notes and photos, subscriptions and sent updates.

Photos are files: the caller deletes them after the commit (``ForgetResult.files`` → ``remove_files``), and only
when no attachment row still points at them (files are named by content hash and may be shared).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, case, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from ticketing.models import (
    OPEN_STATUSES,
    Attachment,
    ChannelIdentity,
    Citizen,
    Conversation,
    ConversationTicket,
    HandoffLog,
    InboundState,
    Message,
    OutboxMessage,
    OutboxStatus,
    PersonalDataAccess,
    PrivacyRequest,
    Subscription,
    Ticket,
    TicketEvent,
    utcnow,
)

log = logging.getLogger(__name__)

#: What replaces a description or landmark the citizen wrote (staff read it on the ticket).
REDACTED = "[eliminado por protección de datos personales]"
#: Event data keys that point at a citizen or one of their identities, and the events that carry them.
_PERSON_KEYS = ("citizen_id", "identity_id", "reporter_identity_id")
_EVENTS_WITH_PERSON = ("created", "subscribed")
#: Outbox rows that are finished with (sent, or given up): the retention deletes them.
#: Dormant citizens forgotten per retention batch.
CITIZENS_PER_BATCH = 20
FINAL_OUTBOX = (OutboxStatus.SENT, OutboxStatus.DELIVERED, OutboxStatus.READ, OutboxStatus.FAILED,
                OutboxStatus.UNDELIVERED)


class PrivacyError(Exception):
    """A refused privacy operation (unknown citizen or request, a request already decided)."""


# --- access -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketLine:
    folio: str
    category_code: str
    status: str
    is_open: bool
    created_at: datetime


@dataclass(frozen=True)
class AccessSummary:
    """What Reporta holds about one citizen (their own data: it goes back only to them)."""

    since: datetime
    name: str | None
    phone_hint: str | None  # the last four digits only
    channels: list[str]
    tickets: list[TicketLine]
    ticket_count: int
    open_count: int
    messages: int
    photos: int
    pending_erasure_id: int | None


def phone_hint(phone: str | None) -> str | None:
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return digits[-4:] if len(digits) >= 4 else None


def access_summary(session: Session, citizen: Citizen, *, max_tickets: int = 10) -> AccessSummary:
    """Everything the citizen may see about themselves, newest tickets first (at most ``max_tickets`` listed)."""
    identities = select(ChannelIdentity.id).where(ChannelIdentity.citizen_id == citizen.id)
    channels = sorted({str(getattr(c, "value", c)) for c in session.scalars(
        select(ChannelIdentity.channel).where(ChannelIdentity.citizen_id == citizen.id))})
    mine = Ticket.reporter_id == citizen.id
    rows = session.execute(
        select(Ticket.folio, Ticket.category_code, Ticket.status, Ticket.is_open, Ticket.created_at)
        .where(mine).order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(max_tickets)).all()
    count, open_count = session.execute(
        select(func.count(), func.count().filter(Ticket.is_open.is_(True))).select_from(Ticket).where(mine)).one()
    messages = session.scalar(select(func.count()).select_from(Message).where(Message.identity_id.in_(identities)))
    my_messages = select(Message.id).where(Message.identity_id.in_(identities))
    photos = session.scalar(select(func.count()).select_from(Attachment).where(or_(
        Attachment.message_id.in_(my_messages),
        and_(Attachment.ticket_id.in_(select(Ticket.id).where(mine)), Attachment.kind != "evidence"))))
    pending = _pending_erasure(session, citizen.id)
    return AccessSummary(
        since=citizen.created_at, name=citizen.display_name, phone_hint=phone_hint(citizen.phone_e164),
        channels=channels,
        tickets=[TicketLine(r.folio, r.category_code, str(getattr(r.status, "value", r.status)), bool(r.is_open),
                            r.created_at) for r in rows],
        ticket_count=int(count or 0), open_count=int(open_count or 0), messages=int(messages or 0),
        photos=int(photos or 0), pending_erasure_id=pending.id if pending else None,
    )


def record_access(session: Session, citizen: Citizen, channel: str, now: datetime | None = None) -> PrivacyRequest:
    """The audit row of an access request answered in the chat."""
    now = now or utcnow()
    row = PrivacyRequest(kind="access", status="answered", citizen_id=citizen.id, channel=channel,
                         requested_at=now, decided_at=now, decided_by="system:chat", result={})
    session.add(row)
    session.flush()
    return row


# --- erasure requests ---------------------------------------------------------------------------------------


def _pending_erasure(session: Session, citizen_id: int) -> PrivacyRequest | None:
    return session.scalars(select(PrivacyRequest).where(
        PrivacyRequest.citizen_id == citizen_id, PrivacyRequest.kind == "erasure",
        PrivacyRequest.status == "pending").order_by(PrivacyRequest.id).limit(1)).first()


def request_erasure(session: Session, citizen: Citizen, channel: str,
                    now: datetime | None = None) -> tuple[PrivacyRequest, bool]:
    """Record a deletion request for staff; (request, True) when new, (the pending one, False) when repeated."""
    existing = _pending_erasure(session, citizen.id)
    if existing is not None:
        return existing, False
    row = PrivacyRequest(kind="erasure", status="pending", citizen_id=citizen.id, channel=channel,
                         requested_at=now or utcnow(), result={})
    session.add(row)
    session.flush()
    log.info("privacy: erasure request %s recorded for citizen %s", row.id, citizen.id)
    return row, True


@dataclass(frozen=True)
class RequestLine:
    id: int
    kind: str
    status: str
    citizen_id: int | None
    channel: str | None
    requested_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    tickets: int  # the citizen's tickets now (what a forget would anonymise)
    open_tickets: int
    result: dict[str, Any]


def list_requests(session: Session, *, status: str | None = "pending", kind: str | None = "erasure",
                  limit: int = 200) -> list[RequestLine]:
    """Requests for staff, oldest first; no phone numbers or names (the citizen id identifies the person)."""
    stmt = select(PrivacyRequest).order_by(PrivacyRequest.requested_at, PrivacyRequest.id).limit(limit)
    if status:
        stmt = stmt.where(PrivacyRequest.status == status)
    if kind:
        stmt = stmt.where(PrivacyRequest.kind == kind)
    out = []
    for r in session.scalars(stmt):
        total = open_ = 0
        if r.citizen_id is not None:
            total, open_ = session.execute(select(func.count(), func.count().filter(Ticket.is_open.is_(True)))
                                           .select_from(Ticket).where(Ticket.reporter_id == r.citizen_id)).one()
        out.append(RequestLine(r.id, r.kind, r.status, r.citizen_id, r.channel, r.requested_at, r.decided_at,
                               r.decided_by, int(total or 0), int(open_ or 0), dict(r.result or {})))
    return out


def get_request(session: Session, request_id: int) -> PrivacyRequest:
    row = session.get(PrivacyRequest, request_id)
    if row is None:
        raise PrivacyError(f"no privacy request {request_id}")
    return row


def reject_request(session: Session, request_id: int, *, actor: str, note: str,
                   now: datetime | None = None) -> PrivacyRequest:
    """Staff decline an erasure request (the reason is kept; the law asks for a reasoned answer)."""
    row = get_request(session, request_id)
    if row.kind != "erasure" or row.status != "pending":
        raise PrivacyError(f"request {request_id} is {row.kind}/{row.status}, not a pending erasure request")
    row.status, row.decided_at, row.decided_by, row.note = "rejected", now or utcnow(), actor, note
    return row


# --- forgetting ---------------------------------------------------------------------------------------------


@dataclass
class ForgetResult:
    citizen_id: int
    counts: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)  # to remove after the commit (``remove_files``)


def forget_citizen(session: Session, citizen_id: int, *, actor: str, request_id: int | None = None,
                   now: datetime | None = None) -> ForgetResult:
    """Delete the citizen's personal data and anonymise their tickets, in the caller's transaction.

    ``request_id``: the erasure request this approves (marked ``done``); any other pending request of the
    citizen is closed with it. The caller commits, then calls ``remove_files(session, result.files)``.
    """
    now = now or utcnow()
    if not actor or not actor.strip():
        raise PrivacyError("forgetting a citizen needs the approving staff member (e.g. staff:ana)")
    request = get_request(session, request_id) if request_id is not None else None
    if request is not None:
        if request.kind != "erasure" or request.status != "pending":
            raise PrivacyError(f"request {request_id} is {request.kind}/{request.status}, "
                               "not a pending erasure request")
        if request.citizen_id is None:
            raise PrivacyError(f"request {request_id} has no citizen")
        citizen_id = request.citizen_id
    # The inbound pipeline's lock order (the citizen's identities in id order, then the citizen): a message being
    # processed finishes first, and a concurrent one cannot deadlock with this.
    identity_ids = list(session.scalars(select(ChannelIdentity.id).where(ChannelIdentity.citizen_id == citizen_id)
                                        .order_by(ChannelIdentity.id).with_for_update()))
    citizen = session.get(Citizen, citizen_id, with_for_update=True)
    if citizen is None:
        raise PrivacyError(f"no citizen {citizen_id}")
    result = ForgetResult(citizen_id)
    counts = result.counts
    message_ids = select(Message.id).where(Message.identity_id.in_(identity_ids))

    tickets = list(session.scalars(select(Ticket).where(or_(
        Ticket.reporter_id == citizen_id, Ticket.reporter_identity_id.in_(identity_ids))).order_by(Ticket.id)))
    result.files += anonymise_tickets(session, tickets, actor=actor, reason="erasure", now=now)
    counts["tickets_anonymised"] = len(tickets)
    counts["notes_cleared"] = _clear_citizen_events(session, [f"citizen:{citizen_id}"])
    session.flush()  # the tickets no longer point at the identities deleted below

    photos = list(session.scalars(select(Attachment).where(Attachment.message_id.in_(message_ids))))
    result.files += [a.storage_path for a in photos]
    counts["photos"] = len(set(result.files))
    if photos:
        session.execute(delete(Attachment).where(Attachment.id.in_([a.id for a in photos])))
    session.execute(update(OutboxMessage).where(OutboxMessage.in_reply_to_id.in_(message_ids))
                    .values(in_reply_to_id=None))
    counts["outbox"] = _rowcount(session.execute(
        delete(OutboxMessage).where(OutboxMessage.identity_id.in_(identity_ids))))
    counts["messages"] = _rowcount(session.execute(delete(Message).where(Message.identity_id.in_(identity_ids))))
    counts["subscriptions"] = _rowcount(session.execute(
        delete(Subscription).where(or_(Subscription.citizen_id == citizen_id,
                                       Subscription.identity_id.in_(identity_ids)))))
    conversations = select(Conversation.id).where(or_(Conversation.citizen_id == citizen_id,
                                                      Conversation.identity_id.in_(identity_ids)))
    session.execute(delete(ConversationTicket).where(ConversationTicket.conversation_id.in_(conversations)))
    # The console's record of who saw the citizen's number stays (a sujeto obligado must show it), without them.
    session.execute(update(PersonalDataAccess).where(or_(PersonalDataAccess.citizen_id == citizen_id,
                                                         PersonalDataAccess.identity_id.in_(identity_ids)))
                    .values(citizen_id=None, identity_id=None))
    # The escalation log keeps its timings (the indicators), not the link to the citizen's conversation.
    session.execute(update(HandoffLog).where(HandoffLog.conversation_id.in_(conversations))
                    .values(conversation_id=None), execution_options={"synchronize_session": False})
    session.execute(delete(Conversation).where(Conversation.id.in_(conversations)))
    counts["identities"] = _rowcount(session.execute(
        delete(ChannelIdentity).where(ChannelIdentity.id.in_(identity_ids))))

    done, decided = {**counts}, 0
    for row in session.scalars(select(PrivacyRequest).where(PrivacyRequest.citizen_id == citizen_id)):
        if row.kind == "erasure" and row.status == "pending":
            row.status, row.decided_at, row.decided_by, row.result = "done", now, actor, done
            decided += 1
        row.citizen_id = None
    if not decided:  # forgotten without a request in the chat (asked at the Unidad, or retention): audited
        session.add(PrivacyRequest(kind="erasure", status="done", citizen_id=None, channel=None,
                                   requested_at=now, decided_at=now, decided_by=actor, result=done))
    session.flush()
    session.execute(delete(Citizen).where(Citizen.id == citizen_id))
    session.expunge(citizen)
    log.info("privacy: citizen %s forgotten by %s (%s)", citizen_id, actor,
             ", ".join(f"{k}={v}" for k, v in counts.items()))
    return result


def anonymise_ticket(session: Session, ticket: Ticket, *, actor: str, reason: str,
                     now: datetime | None = None) -> list[str]:
    """Remove the personal data of one ticket (see the module docstring); return the photo files to delete."""
    return anonymise_tickets(session, [ticket], actor=actor, reason=reason, now=now)


def anonymise_tickets(session: Session, tickets: Sequence[Ticket], *, actor: str, reason: str,
                      now: datetime | None = None) -> list[str]:
    """``anonymise_ticket`` for many tickets in a few set-based statements; return the photo files to delete."""
    if not tickets:
        return []
    now = now or utcnow()
    ids = [t.id for t in tickets]
    for ticket in tickets:
        ticket.reporter_id = None
        ticket.reporter_identity_id = None
        if ticket.description:
            ticket.description = REDACTED
        if ticket.landmark:
            ticket.landmark = REDACTED
        ticket.anonymised_at = now
    photos = session.execute(select(Attachment.id, Attachment.ticket_id, Attachment.storage_path).where(
        Attachment.ticket_id.in_(ids), Attachment.kind != "evidence")).all()
    if photos:
        session.execute(delete(Attachment).where(Attachment.id.in_([p.id for p in photos])))
    session.execute(delete(Subscription).where(Subscription.ticket_id.in_(ids)))
    session.execute(delete(OutboxMessage).where(OutboxMessage.ticket_id.in_(ids),
                                                OutboxMessage.status.in_(FINAL_OUTBOX)))
    session.execute(update(TicketEvent).where(TicketEvent.ticket_id.in_(ids), TicketEvent.actor.like("citizen:%"))
                    .values(actor="citizen",
                            public_note=case((TicketEvent.public_note.is_(None), None), else_=REDACTED),
                            internal_note=case((TicketEvent.internal_note.is_(None), None), else_=REDACTED)),
                    execution_options={"synchronize_session": False})
    for event in session.scalars(select(TicketEvent).where(TicketEvent.ticket_id.in_(ids),
                                                           TicketEvent.kind.in_(_EVENTS_WITH_PERSON))):
        _scrub_event(event, citizen_actor=False)
    per_ticket = {i: 0 for i in ids}
    for p in photos:
        per_ticket[p.ticket_id] += 1
    session.execute(insert(TicketEvent), [{"ticket_id": i, "kind": "anonymised", "actor": actor, "data": {
        "reason": reason, "photos": n}, "created_at": now} for i, n in per_ticket.items()])
    log.info("privacy: %d ticket(s) anonymised (%s)", len(ids), reason)
    return [p.storage_path for p in photos]


def _scrub_event(event: TicketEvent, *, citizen_actor: bool) -> None:
    if citizen_actor:
        event.actor = "citizen"
        event.public_note = REDACTED if event.public_note else None
        event.internal_note = REDACTED if event.internal_note else None
    data = dict(event.data or {})
    if any(k in data for k in _PERSON_KEYS):
        event.data = {k: v for k, v in data.items() if k not in _PERSON_KEYS}


def _clear_citizen_events(session: Session, actors: list[str]) -> int:
    """Events the citizen wrote on tickets that are not theirs (a survey answer on a followed ticket)."""
    n = 0
    for event in session.scalars(select(TicketEvent).where(TicketEvent.actor.in_(actors))):
        _scrub_event(event, citizen_actor=True)
        n += 1
    return n


def remove_files(session: Session, paths: Iterable[str], media_root: Path | None = None) -> int:
    """Delete photo files no attachment row points at any more (call after the commit); return how many."""
    removed = 0
    for path in sorted(set(paths)):
        if session.scalar(select(exists().where(Attachment.storage_path == path))):
            continue  # the same picture (same hash) is still another attachment's
        file = Path(path)
        if media_root is not None and not file.is_absolute():
            file = media_root / file
        try:
            file.unlink()
            removed += 1
        except FileNotFoundError:
            pass
        except OSError as exc:
            log.warning("privacy: could not delete a photo file (%s)", type(exc).__name__)
    return removed


def _rowcount(result: Any) -> int:
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


# --- retention ----------------------------------------------------------------------------------------------


def retention_cutoff(now: datetime, months: int) -> datetime:
    """``now`` minus ``months`` months (30.44 days each: a calendar month on average)."""
    return now - timedelta(days=round(months * 30.44))


def apply_retention(session: Session, *, cutoff: datetime, now: datetime | None = None, limit: int = 200,
                    skip_locked: bool = False) -> tuple[dict[str, int], list[str]]:
    """One batch of the retention policy in the caller's transaction; return (counts, photo files to delete).

    Closed tickets whose last change is before ``cutoff`` are anonymised; messages and finished outbox rows
    older than ``cutoff`` are deleted (a photo still on an open ticket is kept); citizens with no open ticket,
    no active subscription to one, no pending request and no message since ``cutoff`` are forgotten.
    """
    now = now or utcnow()
    files: list[str] = []
    # By the last change (a closed ticket's ``updated_at`` is its closing, or a later note): ix_tickets_retention.
    stmt = (select(Ticket).where(Ticket.anonymised_at.is_(None), Ticket.is_open.is_(False),
                                 Ticket.updated_at < cutoff).order_by(Ticket.updated_at, Ticket.id).limit(limit))
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True, of=Ticket)
    tickets = list(session.scalars(stmt))
    files += anonymise_tickets(session, tickets, actor="system:retention", reason="retention", now=now)

    old_messages = list(session.scalars(select(Message.id).where(Message.created_at < cutoff,
                                                                 or_(Message.state.is_(None),
                                                                     Message.state != InboundState.RECEIVED))
                                        .order_by(Message.id).limit(limit * 10)))
    if old_messages:
        # A photo on an open (or not yet anonymised) ticket stays with the ticket; a stray one goes.
        session.execute(update(Attachment).where(Attachment.message_id.in_(old_messages),
                                                 Attachment.ticket_id.is_not(None)).values(message_id=None))
        strays = list(session.scalars(select(Attachment).where(Attachment.message_id.in_(old_messages))))
        files += [a.storage_path for a in strays]
        if strays:
            session.execute(delete(Attachment).where(Attachment.id.in_([a.id for a in strays])))
        session.execute(update(OutboxMessage).where(OutboxMessage.in_reply_to_id.in_(old_messages))
                        .values(in_reply_to_id=None))
        session.execute(delete(Message).where(Message.id.in_(old_messages)))
    old_outbox = _rowcount(session.execute(delete(OutboxMessage).where(
        OutboxMessage.id.in_(select(OutboxMessage.id).where(
            OutboxMessage.created_at < cutoff, OutboxMessage.status.in_(FINAL_OUTBOX)).limit(limit * 10)))))

    forgotten = 0
    # Forgetting is a dozen statements per citizen: a few per batch keep the transaction (and SQLite's write lock)
    # short; the job runs again a minute later.
    for citizen_id in _dormant_citizens(session, cutoff, min(limit, CITIZENS_PER_BATCH), skip_locked=skip_locked):
        files += forget_citizen(session, citizen_id, actor="system:retention", now=now).files
        forgotten += 1
    counts = {"tickets": len(tickets), "messages": len(old_messages), "outbox": old_outbox,
              "citizens": forgotten}
    return counts, files


def _dormant_citizens(session: Session, cutoff: datetime, limit: int, *, skip_locked: bool) -> list[int]:
    open_reported = exists().where(Ticket.reporter_id == Citizen.id, Ticket.status.in_(list(OPEN_STATUSES)))
    following_open = exists().where(Subscription.citizen_id == Citizen.id, Subscription.active.is_(True),
                                    Subscription.ticket_id == Ticket.id, Ticket.is_open.is_(True))
    recent = exists().where(ChannelIdentity.citizen_id == Citizen.id,
                            func.coalesce(ChannelIdentity.last_inbound_at, ChannelIdentity.created_at) >= cutoff)
    pending = exists().where(PrivacyRequest.citizen_id == Citizen.id, PrivacyRequest.status == "pending")
    stmt = (select(Citizen.id).where(Citizen.created_at < cutoff, ~open_reported, ~following_open, ~recent,
                                     ~pending).order_by(Citizen.id).limit(limit))
    if skip_locked:  # another worker forgetting the same citizen: left to it
        stmt = stmt.with_for_update(skip_locked=True, of=Citizen)
    return list(session.scalars(stmt))
