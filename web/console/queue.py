"""The ticket desk's queue: one department's tickets with the desk's filters, ordered by commitment (overdue
first by lateness, then by due date: for open tickets both are "earliest effective due date first", the
effective due date being the revised one after a reopen, else the committed one), paged without a count.

``QueueFilters.from_query(params)`` reads the filters from a URL; ``queue_page(session, staff, filters, now)``
is the query (also timed by ``benchmarks/console_bench.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, text, true
from sqlalchemy.orm import Session, selectinload

from ticketing.models import OPEN_STATUSES, ChannelKind, Ticket, TicketStatus
from web.console.scoping import scope_tickets
from web.staff import StaffPrincipal

PAGE_SIZE = 25
MAX_PAGE = 10_000
STATUS_CHOICES = ("open", "all", *(s.value for s in TicketStatus))


def effective_due() -> Any:
    return func.coalesce(Ticket.revised_due_at, Ticket.due_at)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "on", "true", "si", "sí")


@dataclass(frozen=True)
class QueueFilters:
    status: str = "open"
    category: str = ""
    overdue: bool = False
    reopened: bool = False
    channel: str = ""
    assignee: str = ""  # "", "me", "none" or a staff id
    q: str = ""
    page: int = 1

    @classmethod
    def from_query(cls, params: Any) -> QueueFilters:
        status = params.get("status") or "open"
        channel = params.get("channel") or ""
        try:
            page = min(MAX_PAGE, max(1, int(params.get("page") or 1)))
        except ValueError:
            page = 1
        return cls(
            status=status if status in STATUS_CHOICES else "open",
            category=(params.get("category") or "")[:64],
            overdue=_flag(params.get("overdue")),
            reopened=_flag(params.get("reopened")),
            channel=channel if channel in {c.value for c in ChannelKind} else "",
            assignee=(params.get("assignee") or "")[:12],
            q=(params.get("q") or "").strip()[:100],
            page=page,
        )

    def query_string(self, **changes: Any) -> str:
        from urllib.parse import urlencode

        values = {**self.__dict__, **changes}
        pairs = {k: ("1" if v is True else v) for k, v in values.items() if v not in ("", False, None)}
        if pairs.get("status") == "open":
            pairs.pop("status")
        if pairs.get("page") == 1:
            pairs.pop("page")
        return urlencode(pairs)


@dataclass(frozen=True)
class QueuePage:
    tickets: list[Ticket]
    page: int
    has_next: bool


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def queue_page(session: Session, staff: StaffPrincipal, f: QueueFilters, now: datetime) -> QueuePage:
    stmt = scope_tickets(select(Ticket).options(selectinload(Ticket.department)), staff)
    if f.status == "open":
        stmt = stmt.where(Ticket.is_open == true())  # "= true", not "IS true": ix_tickets_queue answers it
    elif f.status != "all":
        stmt = stmt.where(Ticket.status == TicketStatus(f.status))
    if f.category:
        stmt = stmt.where(Ticket.category_code == f.category)
    if f.overdue:
        stmt = stmt.where(Ticket.is_open == true(), effective_due() < now)
    if f.reopened:
        stmt = stmt.where(Ticket.reopen_count > 0)
    if f.channel:
        stmt = stmt.where(Ticket.channel == ChannelKind(f.channel))
    if f.assignee == "me":
        stmt = stmt.where(Ticket.assigned_staff_id == staff.id)
    elif f.assignee == "none":
        stmt = stmt.where(Ticket.assigned_staff_id.is_(None))
    elif f.assignee.isdigit():
        stmt = stmt.where(Ticket.assigned_staff_id == int(f.assignee))
    if f.q:
        if session.get_bind().dialect.name == "postgresql":
            # a search's selectivity depends on its words: plan it for them, never with a cached generic plan
            # (psycopg prepares a statement run 5 times; its generic plan would fetch every matching ticket)
            session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        # ILIKE on the columns themselves (PostgreSQL; lower() LIKE lower() on SQLite): the planner has the
        # columns' statistics, estimates the match rate and keeps the index order (stops after one page)
        pattern = _like(f.q)
        stmt = stmt.where(or_(Ticket.address.ilike(pattern, escape="\\"),
                              Ticket.landmark.ilike(pattern, escape="\\")))
    stmt = stmt.order_by(effective_due(), Ticket.id).offset((f.page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1)
    rows = list(session.scalars(stmt))
    return QueuePage(tickets=rows[:PAGE_SIZE], page=f.page, has_next=len(rows) > PAGE_SIZE)


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    return bool(ticket.is_open) and (ticket.revised_due_at or ticket.due_at) < now


__all__ = ["OPEN_STATUSES", "PAGE_SIZE", "QueueFilters", "QueuePage", "is_overdue", "queue_page"]
