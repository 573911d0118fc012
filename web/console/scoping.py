"""Department scoping, inside every query: an agent or supervisor sees only their department's tickets and
conversations; an admin sees everything. A conversation belongs to the department of its report (the ticket
made from it in the console, ``conversation_tickets``); one without a report belongs to the catalog's
citizen-attention department (``citizen_attention_department``, default ``atencion_ciudadana``).

``ticket_or_404`` and ``conversation_or_404`` are the only ways a console page loads one row by URL: another
department's row answers the same 404 as a row that does not exist (nothing leaks, not even that it exists).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, selectinload
from starlette.exceptions import HTTPException

from ticketing.folio import normalise_folio
from ticketing.models import Conversation, ConversationTicket, Department, Ticket
from web.staff import StaffPrincipal

DEFAULT_ATTENTION_DEPARTMENT = "atencion_ciudadana"


def attention_department_code(catalog: Any) -> str | None:
    code = getattr(catalog, "citizen_attention_department", None) or DEFAULT_ATTENTION_DEPARTMENT
    return code if code in catalog.departments else None


def attention_department_id(session: Session, catalog: Any) -> int | None:
    code = attention_department_code(catalog)
    if code is None:
        return None
    return session.scalar(select(Department.id).where(Department.code == code))


def conversation_department(attention_id: int | None) -> Any:
    """SQL: the department a conversation belongs to (its report's, else the citizen-attention one)."""
    report_department = (
        select(Ticket.department_id)
        .join(ConversationTicket, ConversationTicket.ticket_id == Ticket.id)
        .where(ConversationTicket.conversation_id == Conversation.id)
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(report_department, attention_id if attention_id is not None else -1)


def scope_tickets(stmt: Select, staff: StaffPrincipal) -> Select:
    department = staff.department_filter
    return stmt if department is None else stmt.where(Ticket.department_id == department)


def scope_conversations(stmt: Select, staff: StaffPrincipal, attention_id: int | None) -> Select:
    department = staff.department_filter
    return stmt if department is None else stmt.where(conversation_department(attention_id) == department)


def not_found() -> HTTPException:
    return HTTPException(status_code=404, detail="not found")


def ticket_or_404(session: Session, staff: StaffPrincipal, folio: str, *, events: bool = False) -> Ticket:
    canonical = normalise_folio(folio or "")
    if canonical is None:
        raise not_found()
    stmt = scope_tickets(select(Ticket).where(Ticket.folio == canonical), staff)
    if events:
        stmt = stmt.options(selectinload(Ticket.events), selectinload(Ticket.attachments))
    ticket = session.scalars(stmt).one_or_none()
    if ticket is None:
        raise not_found()
    return ticket


def conversation_or_404(session: Session, staff: StaffPrincipal, catalog: Any, conversation_id: Any) -> Conversation:
    try:
        cid = int(conversation_id)
    except (TypeError, ValueError):
        raise not_found() from None
    stmt = scope_conversations(select(Conversation).where(Conversation.id == cid), staff,
                               attention_department_id(session, catalog))
    conversation = session.scalars(stmt).one_or_none()
    if conversation is None:
        raise not_found()
    return conversation


def conversation_ticket(session: Session, conversation_id: int) -> Ticket | None:
    return session.scalars(
        select(Ticket).join(ConversationTicket, ConversationTicket.ticket_id == Ticket.id)
        .where(ConversationTicket.conversation_id == conversation_id)
    ).first()
