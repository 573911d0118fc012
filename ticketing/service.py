"""The ticket service: the only code that changes tickets.

Every change goes through ``TicketService``: it validates the request against the catalog and the
status state machine, applies it, writes its audit ``TicketEvent`` in the same transaction (the
caller owns the transaction: commit or roll back the session), and calls the registered listeners
(notifications, metrics) in that same transaction, right after the event is flushed.

State machine::

    received ──► assigned ──► in_progress ──► resolved ──────► closed
        │            │   ◄────────┘   │            ▲              │
        └────────────┴────────────────┴──► not_resolved (reason) ─┘
    resolved / not_resolved / closed ──reopen──► assigned

A refused request raises a ``TicketError`` subclass before anything is changed: no change, no event.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from ticketing.business_time import BusinessCalendar
from ticketing.catalog import Catalog, Category, sync_departments
from ticketing.errors import InvalidTransition, TicketError, TicketNotFound, UnknownCategory, UnknownReason
from ticketing.folio import new_folio, normalise_folio
from ticketing.models import (
    OPEN_STATUSES,
    Attachment,
    ChannelIdentity,
    ChannelKind,
    Department,
    StaffUser,
    Subscription,
    Ticket,
    TicketEvent,
    TicketStatus,
)
from ticketing.written_places import place_words, same_words

__all__ = [
    "ALLOWED_TRANSITIONS",
    "InvalidTransition",
    "TicketError",
    "TicketListener",
    "TicketNotFound",
    "TicketService",
    "UnknownCategory",
    "UnknownReason",
    "haversine_m",
]

TicketListener = Callable[[Session, Ticket, TicketEvent], None]

S = TicketStatus
#: ``change_status`` moves; reopening is ``reopen``, closing with the citizen's answer is ``close``.
ALLOWED_TRANSITIONS: dict[TicketStatus, frozenset[TicketStatus]] = {
    S.RECEIVED: frozenset({S.ASSIGNED, S.IN_PROGRESS, S.RESOLVED, S.NOT_RESOLVED}),
    S.ASSIGNED: frozenset({S.IN_PROGRESS, S.RESOLVED, S.NOT_RESOLVED}),
    S.IN_PROGRESS: frozenset({S.ASSIGNED, S.RESOLVED, S.NOT_RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED}),
    S.NOT_RESOLVED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
REOPENABLE = frozenset({S.RESOLVED, S.NOT_RESOLVED, S.CLOSED})
CONFIRMATIONS = frozenset({"confirmed", "not_confirmed"})
MAX_FOLIO_ATTEMPTS = 20
EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = 111_320.0
#: Open tickets of a category compared with a written place for a duplicate (the newest).
WRITTEN_LOOKUP = 300


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _status(value: TicketStatus | str) -> TicketStatus:
    try:
        return TicketStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in TicketStatus)
        raise TicketError(f"unknown status {value!r}; known: {known}") from None


def _check_location(lat: float | None, lon: float | None) -> None:
    if (lat is None) != (lon is None):
        raise TicketError("give both lat and lon, or neither")
    if lat is not None and lon is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise TicketError(f"coordinates out of range: lat={lat}, lon={lon}")


class TicketService:
    """Creates and changes tickets inside the caller's session (one instance per unit of work is fine)."""

    def __init__(
        self,
        session: Session,
        catalog: Catalog,
        *,
        timezone: str = "America/Monterrey",
        listeners: Sequence[TicketListener] = (),
        now: Callable[[], datetime] | None = None,
    ):
        self.session = session
        self.catalog = catalog
        self.calendar = BusinessCalendar(catalog.business_hours, timezone)
        self.listeners = list(listeners)
        self._now = now or (lambda: datetime.now(UTC))
        self._departments: dict[str, Department] = {}

    # --- helpers ----------------------------------------------------------------------------------

    def now(self) -> datetime:
        moment = self._now()
        if moment.tzinfo is None:
            raise ValueError("the clock returned a naive datetime")
        return moment.astimezone(UTC)

    def _department(self, code: str) -> Department:
        row = self._departments.get(code)
        if row is not None:
            return row
        if code not in self.catalog.departments:
            raise TicketError(f"unknown department {code!r}; known: {', '.join(sorted(self.catalog.departments))}")
        stmt = select(Department).where(Department.code == code)
        row = self.session.scalars(stmt).one_or_none()
        if row is None:  # first use of this database with this catalog: create the department rows
            sync_departments(self.session, self.catalog)
            row = self.session.scalars(stmt).one()
        self._departments[code] = row
        return row

    def _record(
        self,
        ticket: Ticket,
        kind: str,
        *,
        actor: str,
        from_status: TicketStatus | None = None,
        to_status: TicketStatus | None = None,
        reason: str | None = None,
        public_note: str | None = None,
        internal_note: str | None = None,
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> TicketEvent:
        if not actor or not actor.strip():
            raise TicketError("every change needs an actor (e.g. 'staff:ana', 'citizen:12', 'system')")
        at = at or self.now()
        ticket.updated_at = at
        event = TicketEvent(
            ticket=ticket,
            kind=kind,
            from_status=from_status.value if from_status else None,
            to_status=to_status.value if to_status else None,
            reason_code=reason,
            actor=actor.strip(),
            public_note=(public_note or "").strip() or None,
            internal_note=(internal_note or "").strip() or None,
            data={k: v for k, v in (data or {}).items() if v is not None},
            created_at=at,
        )
        self.session.add(event)
        self.session.flush()
        for listener in self.listeners:
            listener(self.session, ticket, event)
        return event

    @staticmethod
    def _require_actor(actor: str) -> None:
        if not actor or not actor.strip():
            raise TicketError("every change needs an actor (e.g. 'staff:ana', 'citizen:12', 'system')")

    # --- reading ----------------------------------------------------------------------------------

    def get(self, folio: str) -> Ticket:
        """The ticket with this folio, typed in any accepted form; TicketNotFound otherwise."""
        canonical = normalise_folio(folio)
        if canonical is None:
            raise TicketNotFound(f"{folio!r} is not a valid folio (8 digits, e.g. 1234-5678)")
        ticket = self.session.scalars(
            select(Ticket).where(Ticket.folio == canonical).options(selectinload(Ticket.events))
        ).one_or_none()
        if ticket is None:
            raise TicketNotFound(f"no ticket with folio {canonical}")
        return ticket

    def list_tickets(
        self,
        *,
        status: str | None = None,
        category: str | None = None,
        limit: int | None = 50,
        with_events: bool = False,
    ) -> list[Ticket]:
        """Newest first. ``status`` is a status value or ``open`` (received, assigned or in progress)."""
        stmt = select(Ticket).options(selectinload(Ticket.department))
        if with_events:
            stmt = stmt.options(selectinload(Ticket.events))
        statuses = sorted(OPEN_STATUSES) if status == "open" else [_status(status)] if status is not None else []
        if category is not None:
            self.catalog.category(category)
        if statuses and category is not None and limit is not None:
            # One backward range scan of ix_tickets_status_category (status, category_code, created_at) per
            # status, newest ``limit`` each; merged below. Stays fast however many tickets are open.
            branches = [
                select(Ticket.id)
                .where(Ticket.status == s, Ticket.category_code == category)
                .order_by(Ticket.created_at.desc())
                .limit(limit)
                .subquery()
                for s in statuses
            ]
            stmt = stmt.where(Ticket.id.in_(union_all(*(select(b.c.id) for b in branches))))
        else:
            if statuses:
                stmt = stmt.where(Ticket.status.in_(statuses))
            if category is not None:
                stmt = stmt.where(Ticket.category_code == category)
        stmt = stmt.order_by(Ticket.created_at.desc(), Ticket.id.desc())
        if limit is not None:
            stmt = stmt.limit(limit)
        return list(self.session.scalars(stmt))

    def find_duplicates(
        self, category: str, lat: float, lon: float, *, radius_m: float | None = None, limit: int = 5
    ) -> list[tuple[Ticket, float]]:
        """Open tickets of ``category`` within ``radius_m`` (default: the category's) of a point, nearest first.

        The query is a bounding box on (category_code, is_open, lat, lon), which the index
        ``ix_tickets_nearby`` answers with one range scan; exact distances are computed here.
        """
        cat = self.catalog.category(category)
        _check_location(lat, lon)
        radius = float(cat.duplicate_radius_m if radius_m is None else radius_m)
        if radius <= 0:
            return []
        dlat = radius / METRES_PER_DEGREE_LAT
        cos_lat = max(math.cos(math.radians(lat)), 1e-6)
        dlon = min(180.0, radius / (METRES_PER_DEGREE_LAT * cos_lat))
        stmt = select(Ticket).where(
            Ticket.category_code == category,
            Ticket.is_open.is_(True),
            Ticket.lat.between(lat - dlat, lat + dlat),
            Ticket.lon.between(lon - dlon, lon + dlon),
        )
        found = []
        for ticket in self.session.scalars(stmt):
            assert ticket.lat is not None and ticket.lon is not None
            distance = haversine_m(lat, lon, ticket.lat, ticket.lon)
            if distance <= radius:
                found.append((ticket, distance))
        found.sort(key=lambda pair: (pair[1], pair[0].id))
        return found[:limit]

    def find_written_duplicates(self, category: str, place: str, *, limit: int = 5) -> list[Ticket]:
        """Open tickets of ``category`` at the same place written in words (``ticketing.written_places``), newest
        first: the duplicate check of a report without a pin. Only the latest ``WRITTEN_LOOKUP`` open tickets of the
        category are compared (the index ``ix_tickets_nearby`` starts with category and is_open)."""
        stmt = (
            select(Ticket)
            .where(Ticket.category_code == category, Ticket.is_open.is_(True))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
            .limit(WRITTEN_LOOKUP)
        )
        words = place_words(place)  # read once, compared with each ticket's place
        found = [t for t in self.session.scalars(stmt)
                 if same_words(words, place_words(" ".join(p for p in (t.address, t.landmark) if p)))]
        return found[:limit]

    def open_tickets_for(self, citizen_id: int) -> list[Ticket]:
        """Open tickets a citizen reported or follows, newest first."""
        followed = select(Subscription.ticket_id).where(
            Subscription.citizen_id == citizen_id, Subscription.active.is_(True)
        )
        stmt = (
            select(Ticket)
            .where(Ticket.is_open.is_(True), or_(Ticket.reporter_id == citizen_id, Ticket.id.in_(followed)))
            .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        )
        return list(self.session.scalars(stmt))

    def latest_reported_by(self, citizen_id: int) -> list[Ticket]:
        """The citizen's own reports (not anonymised), newest first, at most ten: "en el mismo lugar de la otra
        vez" is the place of one of them."""
        stmt = (select(Ticket)
                .where(Ticket.reporter_id == citizen_id, Ticket.anonymised_at.is_(None))
                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(10))
        return list(self.session.scalars(stmt))

    def latest_reopenable_for(self, citizen_id: int, *, since: datetime) -> Ticket | None:
        """The citizen's most recently updated report (reported or followed) that can be reopened, updated since
        ``since``: resolved, not resolved or closed."""
        followed = select(Subscription.ticket_id).where(Subscription.citizen_id == citizen_id)
        stmt = (select(Ticket)
                .where(or_(Ticket.reporter_id == citizen_id, Ticket.id.in_(followed)),
                       Ticket.status.in_([S.RESOLVED, S.NOT_RESOLVED, S.CLOSED]), Ticket.updated_at >= since)
                .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))
        return self.session.scalars(stmt).first()

    # --- creating ---------------------------------------------------------------------------------

    def create(
        self,
        *,
        category: str,
        description: str,
        channel: ChannelKind | str,
        actor: str,
        lat: float | None = None,
        lon: float | None = None,
        address: str | None = None,
        landmark: str | None = None,
        reporter_identity: ChannelIdentity | None = None,
        attachment_ids: Sequence[int] = (),
        urgent: bool = False,
    ) -> Ticket:
        """Record a new report: folio, routing to the category's department, due date, ``created`` event.

        ``urgent``: the report's words say it is urgent (the category's ``urgent_cues``): the due date is the
        category's ``urgent_sla_hours`` calendar hours when that is sooner than its usual commitment.

        The reporter's channel identity (if any) is subscribed to the ticket. A category's photo policy
        is the dialogue's to enforce (staff taking a report by phone cannot attach one).
        """
        cat: Category = self.catalog.category(category)
        self._require_actor(actor)
        try:
            kind = ChannelKind(channel)
        except ValueError:
            known = ", ".join(c.value for c in ChannelKind)
            raise TicketError(f"unknown channel {channel!r}; known: {known}") from None
        _check_location(lat, lon)
        address = (address or "").strip() or None
        landmark = (landmark or "").strip() or None
        if lat is None and address is None and landmark is None:
            raise TicketError("a report needs a location: coordinates, an address or a landmark")
        attachments = self._attachments(attachment_ids, None)
        department = self._department(cat.department)
        now = self.now()
        due_at = self.calendar.due_at(cat, now)
        if urgent and cat.urgent_sla_hours is not None:
            due_at = min(due_at, now + timedelta(hours=cat.urgent_sla_hours))
        fields: dict[str, Any] = dict(
            category_code=cat.code,
            department_id=department.id,
            status=TicketStatus.RECEIVED,
            is_open=True,
            description=(description or "").strip(),
            address=address,
            landmark=landmark,
            lat=lat,
            lon=lon,
            channel=kind,
            reporter_id=reporter_identity.citizen_id if reporter_identity else None,
            reporter_identity_id=reporter_identity.id if reporter_identity else None,
            created_at=now,
            updated_at=now,
            due_at=due_at,
            reopen_count=0,
        )
        ticket = self._insert_with_unique_folio(fields)
        ticket.department = department
        for attachment in attachments:
            attachment.ticket_id = ticket.id
        if reporter_identity is not None:
            self._subscribe(ticket, reporter_identity)
        self._record(
            ticket,
            "created",
            actor=actor,
            to_status=TicketStatus.RECEIVED,
            data={
                "category": cat.code,
                "department": cat.department,
                "channel": kind.value,
                "due_at": _iso(ticket.due_at),
                "urgent": True if urgent and cat.urgent_sla_hours is not None else None,
                "attachment_ids": list(attachment_ids) or None,
                "reporter_identity_id": reporter_identity.id if reporter_identity else None,
            },
            at=now,
        )
        return ticket

    def _insert_with_unique_folio(self, fields: dict[str, Any]) -> Ticket:
        """Insert under a fresh random folio; on a unique-constraint collision, retry inside a SAVEPOINT."""
        for _ in range(MAX_FOLIO_ATTEMPTS):
            ticket = Ticket(folio=new_folio(), **fields)
            try:
                with self.session.begin_nested():
                    self.session.add(ticket)
                    self.session.flush()
            except IntegrityError as exc:
                if "folio" not in str(exc.orig).lower():
                    raise
                continue
            return ticket
        raise TicketError(f"could not find a free folio after {MAX_FOLIO_ATTEMPTS} attempts")

    def _attachments(self, ids: Sequence[int], ticket: Ticket | None) -> list[Attachment]:
        found = []
        for attachment_id in ids:
            attachment = self.session.get(Attachment, attachment_id)
            if attachment is None:
                raise TicketError(f"no attachment with id {attachment_id}")
            if attachment.ticket_id is not None and (ticket is None or attachment.ticket_id != ticket.id):
                raise TicketError(f"attachment {attachment_id} already belongs to another ticket")
            found.append(attachment)
        return found

    # --- status -----------------------------------------------------------------------------------

    def _reason_for(self, ticket: Ticket, target: TicketStatus, reason: str | None) -> str | None:
        if target == S.RESOLVED:
            reason = reason or "resolved"
            if reason != "resolved":
                raise UnknownReason(f"status resolved takes reason 'resolved', not {reason!r}; use not_resolved")
        elif target == S.NOT_RESOLVED:
            if not reason:
                known = ", ".join(r for r in self.catalog.reasons if r != "resolved")
                raise UnknownReason(f"status not_resolved needs a reason: {known}")
            if reason == "resolved":
                raise UnknownReason("reason 'resolved' goes with status resolved")
            if reason == "duplicate":
                raise TicketError("use mark_duplicate (CLI: --duplicate-of FOLIO) to close a ticket as a duplicate")
        elif target == S.IN_PROGRESS and reason is not None:
            if reason != "scheduled":
                raise UnknownReason(f"status in_progress takes only reason 'scheduled', not {reason!r}")
        elif reason is not None:
            raise UnknownReason(f"status {target.value} takes no reason (got {reason!r})")
        if reason is not None:
            self.catalog.reason(reason)
        return reason

    def change_status(
        self,
        ticket: Ticket,
        status: TicketStatus | str,
        *,
        actor: str,
        reason: str | None = None,
        public_note: str | None = None,
        internal_note: str | None = None,
        scheduled_for: datetime | None = None,
        revised_due_at: datetime | None = None,
        referred_to: str | None = None,
    ) -> TicketEvent:
        """Move a ticket along the state machine; raises InvalidTransition/UnknownReason/TicketError unchanged."""
        target = _status(status)
        current = TicketStatus(ticket.status)
        self._require_actor(actor)
        if target == S.CLOSED and current in ALLOWED_TRANSITIONS and target in ALLOWED_TRANSITIONS[current]:
            if reason is not None:
                raise UnknownReason("status closed takes no reason (the outcome's reason stays)")
            return self._close(ticket, actor=actor, confirmation=None, public_note=public_note,
                               internal_note=internal_note)
        rescheduling = current == target == S.IN_PROGRESS and reason == "scheduled"
        if target not in ALLOWED_TRANSITIONS[current] and not rescheduling:
            hint = " (use reopen)" if current in REOPENABLE else ""
            allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[current])) or "none"
            raise InvalidTransition(
                f"ticket {ticket.folio}: cannot change status from {current.value} to {target.value}{hint}; "
                f"allowed: {allowed}"
            )
        reason = self._reason_for(ticket, target, reason)
        for name, value in (("scheduled_for", scheduled_for), ("revised_due_at", revised_due_at)):
            if value is not None and value.tzinfo is None:
                raise TicketError(f"{name} must be an aware datetime")
        if reason == "scheduled" and scheduled_for is None:
            raise TicketError("reason 'scheduled' needs scheduled_for (the date the work is planned)")
        if scheduled_for is not None and self.calendar.local(scheduled_for).date() < self.calendar.local(
                self.now()).date():
            raise TicketError(f"scheduled_for {self.calendar.local(scheduled_for):%Y-%m-%d} is in the past: the "
                              "citizen would read a date that already went by; give today or a later date")
        if reason == "out_of_jurisdiction":
            category = self.catalog.category(ticket.category_code)
            referred_to = (referred_to or "").strip() or (category.referral.agency if category.referral else None)
            if not referred_to:
                raise TicketError("reason 'out_of_jurisdiction' needs referred_to (the agency it was referred to)")
        elif referred_to:
            raise TicketError("referred_to goes with reason 'out_of_jurisdiction'")

        now = self.now()
        ticket.status = target
        ticket.is_open = target in OPEN_STATUSES
        if target in (S.RESOLVED, S.NOT_RESOLVED):
            ticket.reason_code = reason
            ticket.resolved_at = now if target == S.RESOLVED else None
        elif reason is not None:  # in_progress, scheduled
            ticket.reason_code = reason
        if scheduled_for is not None:
            ticket.scheduled_for = scheduled_for
        if revised_due_at is not None:
            ticket.revised_due_at = revised_due_at
        if referred_to:
            ticket.referred_to = referred_to
        return self._record(
            ticket,
            "status",
            actor=actor,
            from_status=current,
            to_status=target,
            reason=reason,
            public_note=public_note,
            internal_note=internal_note,
            data={
                "scheduled_for": _iso(scheduled_for),
                "revised_due_at": _iso(revised_due_at),
                "referred_to": referred_to,
            },
            at=now,
        )

    def reopen(
        self,
        ticket: Ticket,
        *,
        actor: str,
        public_note: str | None = None,
        internal_note: str | None = None,
        attachment_ids: Sequence[int] = (),
    ) -> TicketEvent:
        """Back to ``assigned`` after an outcome: the citizen says it is not fixed. A fresh SLA starts."""
        current = TicketStatus(ticket.status)
        self._require_actor(actor)
        if current not in REOPENABLE:
            raise InvalidTransition(f"ticket {ticket.folio} is {current.value}: only resolved, not_resolved or "
                                    "closed tickets can be reopened")
        attachments = self._attachments(attachment_ids, ticket)
        now = self.now()
        previous_reason = ticket.reason_code
        ticket.status = S.ASSIGNED
        ticket.is_open = True
        ticket.reopen_count = (ticket.reopen_count or 0) + 1
        ticket.reason_code = None
        ticket.resolved_at = None
        ticket.closed_at = None
        ticket.duplicate_of_id = None
        ticket.revised_due_at = self.calendar.due_at(self.catalog.category(ticket.category_code), now)
        for attachment in attachments:
            attachment.ticket_id = ticket.id
        return self._record(
            ticket,
            "reopened",
            actor=actor,
            from_status=current,
            to_status=S.ASSIGNED,
            public_note=public_note,
            internal_note=internal_note,
            data={
                "reopen_count": ticket.reopen_count,
                "previous_reason": previous_reason,
                "revised_due_at": _iso(ticket.revised_due_at),
                "attachment_ids": list(attachment_ids) or None,
            },
            at=now,
        )

    def update_location(
        self,
        ticket: Ticket,
        *,
        actor: str,
        lat: float | None = None,
        lon: float | None = None,
        address: str | None = None,
        landmark: str | None = None,
        public_note: str | None = None,
    ) -> TicketEvent:
        """Record a better place for a ticket (a pin and/or written address); the previous one stays in the event."""
        self._require_actor(actor)
        _check_location(lat, lon)
        address = (address or "").strip() or None
        landmark = (landmark or "").strip() or None
        if lat is None and address is None and landmark is None:
            raise TicketError("give a pin (lat and lon), an address or a landmark")
        previous = {"lat": ticket.lat, "lon": ticket.lon, "address": ticket.address, "landmark": ticket.landmark}
        if lat is not None:
            ticket.lat, ticket.lon = lat, lon
        if address is not None:
            ticket.address = address[:500]
        if landmark is not None:
            ticket.landmark = landmark[:500]
        return self._record(
            ticket,
            "location",
            actor=actor,
            public_note=public_note,
            data={"previous": previous, "lat": lat, "lon": lon, "address": address, "landmark": landmark},
        )

    def close(
        self, ticket: Ticket, *, actor: str, confirmation: str, public_note: str | None = None
    ) -> TicketEvent:
        """Close a resolved / not-resolved ticket with the citizen's answer: ``confirmed`` or ``not_confirmed``."""
        if confirmation not in CONFIRMATIONS:
            raise TicketError(f"confirmation must be one of {', '.join(sorted(CONFIRMATIONS))}, not {confirmation!r}")
        return self._close(ticket, actor=actor, confirmation=confirmation, public_note=public_note)

    def _close(
        self,
        ticket: Ticket,
        *,
        actor: str,
        confirmation: str | None,
        public_note: str | None = None,
        internal_note: str | None = None,
    ) -> TicketEvent:
        current = TicketStatus(ticket.status)
        self._require_actor(actor)
        if S.CLOSED not in ALLOWED_TRANSITIONS[current]:
            raise InvalidTransition(
                f"ticket {ticket.folio}: cannot close a ticket that is {current.value}; resolve it first"
            )
        now = self.now()
        ticket.status = S.CLOSED
        ticket.is_open = False
        ticket.closed_at = now
        if confirmation is not None:
            ticket.confirmation = confirmation
        return self._record(
            ticket,
            "closed",
            actor=actor,
            from_status=current,
            to_status=S.CLOSED,
            reason=ticket.reason_code,
            public_note=public_note,
            internal_note=internal_note,
            data={"confirmation": confirmation},
            at=now,
        )

    # --- assignment, evidence, duplicates, followers ------------------------------------------------

    def assign(
        self, ticket: Ticket, *, actor: str, department: str | None = None, staff_id: int | None = None
    ) -> TicketEvent:
        """Assign to a department and/or a staff member; a received ticket becomes ``assigned``.

        A department change is recorded as ``reassigned``.
        """
        current = TicketStatus(ticket.status)
        self._require_actor(actor)
        if not ticket.is_open:
            raise InvalidTransition(f"ticket {ticket.folio} is {current.value}: reopen it before assigning it")
        old_department = ticket.department.code if ticket.department else None
        new_department = self._department(department) if department is not None else ticket.department
        if staff_id is not None:
            staff = self.session.get(StaffUser, staff_id)
            if staff is None or not staff.active:
                raise TicketError(f"no active staff user with id {staff_id}")
        moves = new_department.id != ticket.department_id
        target = S.ASSIGNED if current == S.RECEIVED else current
        if not moves and target == current and (staff_id is None or staff_id == ticket.assigned_staff_id):
            raise TicketError(f"ticket {ticket.folio} is already assigned that way: nothing to change")
        previous_staff = ticket.assigned_staff_id
        ticket.department = new_department
        ticket.department_id = new_department.id
        if staff_id is not None:
            ticket.assigned_staff_id = staff_id
        ticket.status = target
        return self._record(
            ticket,
            "reassigned" if moves else "assigned",
            actor=actor,
            from_status=current,
            to_status=target,
            data={
                "department": new_department.code,
                "previous_department": old_department if moves else None,
                "staff_id": ticket.assigned_staff_id,
                "previous_staff_id": previous_staff if staff_id is not None and previous_staff != staff_id else None,
            },
        )

    def attach(self, ticket: Ticket, attachment_id: int, *, actor: str, kind: str = "evidence") -> TicketEvent:
        """Link a stored attachment (a citizen's photo, staff's evidence of the work) to the ticket."""
        self._require_actor(actor)
        (attachment,) = self._attachments([attachment_id], ticket)
        attachment.ticket_id = ticket.id
        attachment.kind = kind
        return self._record(ticket, "attachment", actor=actor, data={"attachment_id": attachment_id, "kind": kind})

    def mark_duplicate(
        self, ticket: Ticket, original: Ticket, *, actor: str, public_note: str | None = None
    ) -> TicketEvent:
        """Close ``ticket`` as a duplicate of ``original`` (not_resolved, reason duplicate).

        The duplicate's followers are subscribed to the original, so they hear how it ends.
        """
        self._require_actor(actor)
        root = original
        seen = {ticket.id}
        while root.duplicate_of_id is not None and root.duplicate_of_id not in seen:
            seen.add(root.id)
            parent = self.session.get(Ticket, root.duplicate_of_id)
            if parent is None:
                break
            root = parent
        if root.id == ticket.id:
            raise TicketError(f"ticket {ticket.folio} cannot be a duplicate of itself")
        current = TicketStatus(ticket.status)
        if not ticket.is_open:
            raise InvalidTransition(f"ticket {ticket.folio} is {current.value}: only open tickets can be duplicates")
        if not root.is_open:
            raise InvalidTransition(
                f"the original {root.folio} is {TicketStatus(root.status).value}: reopen it instead of "
                "marking a duplicate"
            )
        self.catalog.reason("duplicate")
        now = self.now()
        ticket.status = S.NOT_RESOLVED
        ticket.is_open = False
        ticket.reason_code = "duplicate"
        ticket.resolved_at = None
        ticket.duplicate_of_id = root.id
        event = self._record(
            ticket,
            "duplicate",
            actor=actor,
            from_status=current,
            to_status=S.NOT_RESOLVED,
            reason="duplicate",
            public_note=public_note,
            data={"duplicate_of": root.folio},
            at=now,
        )
        followers = self.session.scalars(
            select(ChannelIdentity)
            .join(Subscription, Subscription.identity_id == ChannelIdentity.id)
            .where(Subscription.ticket_id == ticket.id, Subscription.active.is_(True))
            .order_by(Subscription.id)
        ).all()
        for identity in followers:
            self.subscribe(root, identity, actor=actor)
        return event

    def _subscribe(self, ticket: Ticket, identity: ChannelIdentity) -> tuple[Subscription, bool]:
        """Insert or reactivate; returns (subscription, changed)."""
        stmt = select(Subscription).where(Subscription.ticket_id == ticket.id, Subscription.identity_id == identity.id)
        existing = self.session.scalars(stmt).one_or_none()
        if existing is not None:
            if existing.active:
                return existing, False
            existing.active = True
            return existing, True
        subscription = Subscription(
            ticket_id=ticket.id, citizen_id=identity.citizen_id, identity_id=identity.id, active=True,
            created_at=self.now(),
        )
        try:
            with self.session.begin_nested():
                self.session.add(subscription)
                self.session.flush()
        except IntegrityError:  # a concurrent subscribe won the race
            return self.session.scalars(stmt).one(), False
        return subscription, True

    def subscribe(self, ticket: Ticket, identity: ChannelIdentity, *, actor: str) -> Subscription:
        """Have ``identity`` follow the ticket (idempotent: an existing active subscription is returned as is)."""
        self._require_actor(actor)
        subscription, changed = self._subscribe(ticket, identity)
        if changed:
            self._record(
                ticket,
                "subscribed",
                actor=actor,
                data={
                    "identity_id": identity.id,
                    "citizen_id": identity.citizen_id,
                    "channel": ChannelKind(identity.channel).value,
                },
            )
        return subscription

    def set_satisfaction(self, ticket: Ticket, score: int, *, actor: str) -> TicketEvent:
        """Record the citizen's 1–5 rating after the outcome."""
        self._require_actor(actor)
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise TicketError(f"satisfaction must be an integer from 1 to 5, not {score!r}")
        if ticket.is_open:
            raise InvalidTransition(f"ticket {ticket.folio} is still open: rate it after its outcome")
        ticket.satisfaction = score
        return self._record(ticket, "satisfaction", actor=actor, data={"score": score})



    # --- console corrections (issue 9) -------------------------------------------------------------------

    def reroute(self, ticket: Ticket, category: str, *, actor: str, reason: str,
                public_note: str | None = None) -> TicketEvent:
        """A routing correction: the report was filed under the wrong category. It moves to ``category`` and to
        that category's department; the event ``rerouted`` (data: ``from_category``, ``to_category``,
        ``from_department``, ``to_department``) is what the dashboards count as a routing correction.
        The due date stays (the commitment made to the citizen does not move)."""
        self._require_actor(actor)
        reason = (reason or "").strip()
        if not reason:
            raise TicketError("a routing correction needs a reason")
        cat = self.catalog.category(category)
        if not ticket.is_open:
            raise InvalidTransition(f"ticket {ticket.folio} is {TicketStatus(ticket.status).value}: reopen it first")
        if cat.code == ticket.category_code:
            raise TicketError(f"ticket {ticket.folio} is already in category {cat.code}")
        old_category = ticket.category_code
        old_department = ticket.department.code if ticket.department else None
        department = self._department(cat.department)
        ticket.category_code = cat.code
        ticket.department = department
        ticket.department_id = department.id
        if department.code != old_department:
            ticket.assigned_staff_id = None
        return self._record(
            ticket,
            "rerouted",
            actor=actor,
            public_note=public_note,
            internal_note=reason,
            data={"from_category": old_category, "to_category": cat.code, "from_department": old_department,
                  "to_department": department.code},
        )

    def add_note(self, ticket: Ticket, *, actor: str, internal_note: str) -> TicketEvent:
        """An internal note on the ticket (staff only; never sent to citizens, never public)."""
        self._require_actor(actor)
        internal_note = (internal_note or "").strip()
        if not internal_note:
            raise TicketError("the note is empty")
        return self._record(ticket, "note", actor=actor, internal_note=internal_note[:4000])
