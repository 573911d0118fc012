"""The ticket service: creation, the status state machine, audit events, assignment, duplicates, followers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.ticketing.conftest import Clock
from ticketing import service as service_module
from ticketing.models import Attachment, ChannelKind, StaffUser, Subscription, Ticket, TicketEvent, TicketStatus
from ticketing.service import (
    InvalidTransition,
    TicketError,
    TicketNotFound,
    TicketService,
    UnknownCategory,
    UnknownReason,
)

MONDAY = datetime(2025, 9, 1, 16, 0, tzinfo=UTC)  # 10:00 in Monterrey
CENTRO = (25.6714, -100.3093)


def _events(session, ticket: Ticket) -> list[TicketEvent]:
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)))


def _new(service: TicketService, category: str = "pothole", lat: float = CENTRO[0], lon: float = CENTRO[1], **kw):
    kw.setdefault("channel", "telegram")
    kw.setdefault("actor", "system")
    return service.create(category=category, description="Hay un problema", lat=lat, lon=lon, **kw)


def test_create_routes_assigns_folio_and_records_event(make_service, make_identity, session) -> None:
    svc = make_service(now=Clock(MONDAY))
    identity = make_identity()
    ticket = svc.create(category="water_leak", description="  Fuga en la esquina ", channel=ChannelKind.WHATSAPP,
                        actor="citizen:1", lat=25.7, lon=-100.3, landmark="frente a la primaria",
                        reporter_identity=identity)
    session.commit()
    assert svc.get(ticket.folio) is ticket
    assert ticket.department.code == "atencion_ciudadana"
    assert ticket.status == TicketStatus.RECEIVED and ticket.is_open
    assert ticket.description == "Fuga en la esquina"
    assert ticket.due_at == MONDAY + timedelta(hours=24)  # urgent: calendar hours
    assert ticket.reporter_id == identity.citizen_id and ticket.reporter_identity_id == identity.id
    (event,) = _events(session, ticket)
    assert (event.kind, event.to_status, event.actor) == ("created", "received", "citizen:1")
    assert event.data["department"] == "atencion_ciudadana" and event.data["channel"] == "whatsapp"
    sub = session.scalars(select(Subscription).where(Subscription.ticket_id == ticket.id)).one()
    assert sub.identity_id == identity.id and sub.active


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"category": "volcano"}, UnknownCategory, "unknown category 'volcano'"),
        ({"channel": "fax"}, TicketError, "unknown channel 'fax'"),
        ({"lat": 25.0, "lon": None}, TicketError, "both lat and lon"),
        ({"lat": 95.0}, TicketError, "out of range"),
        ({"lat": None, "lon": None}, TicketError, "needs a location"),
        ({"actor": " "}, TicketError, "needs an actor"),
    ],
)
def test_create_rejects_bad_input_without_writing(service, session, kwargs, error, message) -> None:
    args = {"category": "pothole", "description": "x", "channel": "sms", "actor": "system", "lat": 25.6, "lon": -100.3}
    args.update(kwargs)
    with pytest.raises(error, match=message):
        service.create(**args)
    assert session.scalar(select(func.count()).select_from(Ticket)) == 0
    assert session.scalar(select(func.count()).select_from(TicketEvent)) == 0


def test_get_accepts_typed_forms(service) -> None:
    ticket = _new(service)
    digits = ticket.folio.replace("-", "")
    for typed in (ticket.folio, digits, f"{digits[:4]} {digits[4:]}", f" folio {ticket.folio} "):
        assert service.get(typed) is ticket
    with pytest.raises(TicketNotFound, match="not a valid folio"):
        service.get("1234")
    other = digits[:7] + str((int(digits[7]) + 1) % 10)  # wrong check digit
    with pytest.raises(TicketNotFound):
        service.get(other)


def test_full_lifecycle_keeps_flags_consistent(make_service, session) -> None:
    clock = Clock(MONDAY)
    svc = make_service(now=clock)
    ticket = _new(svc)
    clock.moment += timedelta(hours=1)
    svc.change_status(ticket, "assigned", actor="staff:ana")
    svc.change_status(ticket, TicketStatus.IN_PROGRESS, actor="staff:ana", internal_note="cuadrilla 3")
    clock.moment += timedelta(hours=2)
    ev = svc.change_status(ticket, "resolved", actor="staff:ana", public_note="Ya quedó el bache.")
    assert ev.reason_code == "resolved" and ticket.reason_code == "resolved"
    assert ticket.resolved_at == MONDAY + timedelta(hours=3) and not ticket.is_open
    clock.moment += timedelta(days=1)
    svc.close(ticket, actor="citizen:1", confirmation="confirmed")
    assert ticket.status == TicketStatus.CLOSED and ticket.closed_at == clock.moment
    assert ticket.confirmation == "confirmed"
    svc.set_satisfaction(ticket, 5, actor="citizen:1")
    clock.moment += timedelta(days=1)
    reopened = svc.reopen(ticket, actor="citizen:1", public_note="Se volvió a hundir")
    assert reopened.kind == "reopened" and reopened.to_status == "assigned"
    assert ticket.status == TicketStatus.ASSIGNED and ticket.is_open and ticket.reopen_count == 1
    assert ticket.resolved_at is None and ticket.closed_at is None and ticket.reason_code is None
    assert ticket.revised_due_at is not None and ticket.revised_due_at > clock.moment
    session.commit()
    kinds = [(e.kind, e.from_status, e.to_status, e.actor) for e in _events(session, ticket)]
    assert kinds == [
        ("created", None, "received", "system"),
        ("status", "received", "assigned", "staff:ana"),
        ("status", "assigned", "in_progress", "staff:ana"),
        ("status", "in_progress", "resolved", "staff:ana"),
        ("closed", "resolved", "closed", "citizen:1"),
        ("satisfaction", None, None, "citizen:1"),
        ("reopened", "closed", "assigned", "citizen:1"),
    ]
    events = _events(session, ticket)
    assert events[2].internal_note == "cuadrilla 3" and events[3].public_note == "Ya quedó el bache."


@pytest.mark.parametrize(
    ("path", "target", "error", "message"),
    [
        ([], "closed", InvalidTransition, "from received to closed; allowed"),
        ([], "received", InvalidTransition, "from received to received"),
        ([("resolved", None)], "in_progress", InvalidTransition, "use reopen"),
        ([("resolved", None), ("closed", None)], "resolved", InvalidTransition, "from closed to resolved"),
        ([], "not_resolved", UnknownReason, "needs a reason"),
        ([], "resolved", UnknownReason, "takes reason 'resolved'"),  # with reason=no_problem_found below
        ([], "assigned", UnknownReason, "takes no reason"),
        ([], "flying", TicketError, "unknown status 'flying'"),
    ],
)
def test_invalid_transitions_change_nothing(service, session, path, target, error, message) -> None:
    ticket = _new(service)
    for status, reason in path:
        service.change_status(ticket, status, actor="staff:ana", reason=reason)
    session.commit()
    before = (ticket.status, ticket.is_open, ticket.reason_code, ticket.updated_at)
    n_events = len(_events(session, ticket))
    reason = {"resolved": "no_problem_found", "assigned": "resolved"}.get(target) if not path else None
    with pytest.raises(error, match=message):
        service.change_status(ticket, target, actor="staff:ana", reason=reason)
    assert (ticket.status, ticket.is_open, ticket.reason_code, ticket.updated_at) == before
    assert len(_events(session, ticket)) == n_events
    session.commit()
    session.expire_all()
    assert len(_events(session, ticket)) == n_events


def test_reason_rules(service, catalog) -> None:
    t1 = _new(service)
    with pytest.raises(UnknownReason, match="unknown reason 'bored'"):
        service.change_status(t1, "not_resolved", actor="staff:ana", reason="bored")
    with pytest.raises(TicketError, match="mark_duplicate"):
        service.change_status(t1, "not_resolved", actor="staff:ana", reason="duplicate")
    with pytest.raises(TicketError, match="needs scheduled_for"):
        service.change_status(t1, "in_progress", actor="staff:ana", reason="scheduled")
    with pytest.raises(TicketError, match="needs referred_to"):  # potholes have no referral agency
        service.change_status(t1, "not_resolved", actor="staff:ana", reason="out_of_jurisdiction")
    assert t1.status == TicketStatus.RECEIVED
    with pytest.raises(TicketError, match="is in the past"):  # the citizen would read a date that went by
        service.change_status(t1, "in_progress", actor="staff:ana", reason="scheduled",
                              scheduled_for=service.now() - timedelta(days=2))
    when = (service.now() + timedelta(days=5)).replace(hour=15, minute=0, second=0, microsecond=0)
    ev = service.change_status(t1, "in_progress", actor="staff:ana", reason="scheduled", scheduled_for=when,
                               public_note="Programado para el sábado")
    assert t1.is_open and t1.scheduled_for == when and ev.data["scheduled_for"] == when.astimezone(UTC).isoformat()
    # rescheduling keeps it in progress
    later = when + timedelta(days=7)
    service.change_status(t1, "in_progress", actor="staff:ana", reason="scheduled", scheduled_for=later)
    assert t1.scheduled_for == later
    ev = service.change_status(t1, "not_resolved", actor="staff:ana", reason="needs_budget",
                               revised_due_at=when + timedelta(days=90))
    assert not t1.is_open and t1.reason_code == "needs_budget" and t1.resolved_at is None
    assert ev.data["revised_due_at"] == (when + timedelta(days=90)).astimezone(UTC).isoformat()

    leak = _new(service, "water_leak")
    ev = service.change_status(leak, "not_resolved", actor="staff:ana", reason="out_of_jurisdiction")
    assert leak.referred_to == catalog.category("water_leak").referral.agency
    assert ev.data["referred_to"] == leak.referred_to
    other = _new(service, "noise")
    service.change_status(other, "not_resolved", actor="staff:ana", reason="out_of_jurisdiction",
                          referred_to="Fiscalía del Estado")
    assert other.referred_to == "Fiscalía del Estado"


def test_close_and_satisfaction_rules(service) -> None:
    t = _new(service)
    with pytest.raises(InvalidTransition):
        service.close(t, actor="citizen:1", confirmation="confirmed")
    with pytest.raises(InvalidTransition, match="still open"):
        service.set_satisfaction(t, 4, actor="citizen:1")
    service.change_status(t, "not_resolved", actor="staff:ana", reason="private_property")
    with pytest.raises(TicketError, match="confirmation must be one of"):
        service.close(t, actor="citizen:1", confirmation="maybe")
    with pytest.raises(TicketError, match="from 1 to 5"):
        service.set_satisfaction(t, 6, actor="citizen:1")
    ev = service.close(t, actor="citizen:1", confirmation="not_confirmed")
    assert ev.reason_code == "private_property" and t.confirmation == "not_confirmed"
    with pytest.raises(InvalidTransition, match="only resolved, not_resolved or closed"):
        service.reopen(_new(service), actor="citizen:1")


def test_assign_and_reassign(service, session) -> None:
    staff = StaffUser(username="ana", display_name="Ana")
    session.add(staff)
    session.flush()
    t = _new(service, "tree")
    ev = service.assign(t, actor="staff:sup", staff_id=staff.id)
    assert ev.kind == "assigned" and (ev.from_status, ev.to_status) == ("received", "assigned")
    assert t.assigned_staff_id == staff.id and t.status == TicketStatus.ASSIGNED
    ev = service.assign(t, actor="staff:sup", department="medio_ambiente")
    assert ev.kind == "reassigned" and ev.data["department"] == "medio_ambiente"
    assert ev.data["previous_department"] == "servicios_publicos" and t.department.code == "medio_ambiente"
    with pytest.raises(TicketError, match="nothing to change"):
        service.assign(t, actor="staff:sup", department="medio_ambiente")
    with pytest.raises(TicketError, match="unknown department"):
        service.assign(t, actor="staff:sup", department="nasa")
    with pytest.raises(TicketError, match="no active staff"):
        service.assign(t, actor="staff:sup", staff_id=999)
    service.change_status(t, "resolved", actor="staff:ana")
    with pytest.raises(InvalidTransition, match="reopen it"):
        service.assign(t, actor="staff:sup", department="obras_publicas")


def test_update_location_keeps_the_previous_place_in_the_event(service) -> None:
    t = _new(service)
    before = (t.lat, t.lon, t.address)
    ev = service.update_location(t, actor="citizen:1", lat=25.7, lon=-100.3, address="Hidalgo 12, Centro")
    assert (t.lat, t.lon, t.address) == (25.7, -100.3, "Hidalgo 12, Centro")
    assert ev.kind == "location" and (ev.data["previous"]["lat"], ev.data["previous"]["lon"]) == before[:2]
    with pytest.raises(TicketError, match="both lat and lon"):
        service.update_location(t, actor="citizen:1", lat=25.7)
    with pytest.raises(TicketError, match="a pin"):
        service.update_location(t, actor="citizen:1")
    assert (t.lat, t.lon) == (25.7, -100.3)


def test_attach(service, session) -> None:
    t1, t2 = _new(service), _new(service)
    att = Attachment(kind="photo", sha256="0" * 64, content_type="image/jpeg", size_bytes=10, storage_path="a.jpg")
    session.add(att)
    session.flush()
    ev = service.attach(t1, att.id, actor="staff:ana")
    assert ev.kind == "attachment" and ev.data == {"attachment_id": att.id, "kind": "evidence"}
    assert att.ticket_id == t1.id and att.kind == "evidence"
    with pytest.raises(TicketError, match="another ticket"):
        service.attach(t2, att.id, actor="staff:ana")
    with pytest.raises(TicketError, match="no attachment"):
        service.attach(t2, 12345, actor="staff:ana")
    att2 = Attachment(kind="photo", sha256="1" * 64, content_type="image/jpeg", size_bytes=10, storage_path="b.jpg")
    session.add(att2)
    session.flush()
    t3 = _new(service, attachment_ids=[att2.id])
    assert att2.ticket_id == t3.id


def test_mark_duplicate_moves_followers_to_the_original(service, session, make_identity) -> None:
    a, b = make_identity(), make_identity()
    original = _new(service, reporter_identity=a)
    dup = _new(service, reporter_identity=b)
    dup2 = _new(service)
    ev = service.mark_duplicate(dup, original, actor="staff:ana", public_note="Ya estaba reportado")
    assert ev.kind == "duplicate" and ev.reason_code == "duplicate" and ev.data["duplicate_of"] == original.folio
    assert dup.status == TicketStatus.NOT_RESOLVED and not dup.is_open and dup.duplicate_of_id == original.id
    followers = set(session.scalars(select(Subscription.identity_id).where(Subscription.ticket_id == original.id)))
    assert followers == {a.id, b.id}
    assert [e.kind for e in _events(session, original)] == ["created", "subscribed"]
    # a duplicate of a duplicate points at the root
    service.reopen(dup, actor="staff:ana")
    service.mark_duplicate(dup2, dup, actor="staff:ana")  # dup is open again: it is its own root now
    assert dup2.duplicate_of_id == dup.id
    with pytest.raises(TicketError, match="duplicate of itself"):
        service.mark_duplicate(original, original, actor="staff:ana")
    service.change_status(original, "resolved", actor="staff:ana")
    with pytest.raises(InvalidTransition, match="reopen it instead"):
        service.mark_duplicate(dup, original, actor="staff:ana")


def test_subscribe_is_idempotent_and_open_tickets_for(service, session, make_identity) -> None:
    reporter = make_identity()
    follower = make_identity()
    t1 = _new(service, reporter_identity=reporter)
    t2 = _new(service)
    s1 = service.subscribe(t2, follower, actor="citizen:2")
    s2 = service.subscribe(t2, follower, actor="citizen:2")
    assert s1 is s2
    assert [e.kind for e in _events(session, t2)] == ["created", "subscribed"]
    s1.active = False
    service.subscribe(t2, follower, actor="citizen:2")
    assert s1.active and [e.kind for e in _events(session, t2)][-1] == "subscribed"
    assert service.open_tickets_for(reporter.citizen_id) == [t1]
    assert service.open_tickets_for(follower.citizen_id) == [t2]
    service.change_status(t2, "resolved", actor="staff:ana")
    assert service.open_tickets_for(follower.citizen_id) == []


def test_find_duplicates(service) -> None:
    lat, lon = CENTRO
    near = _new(service, lat=lat + 0.0001, lon=lon)  # ~11 m north
    nearer = _new(service, lat=lat, lon=lon + 0.0001)  # ~10 m east
    _new(service, lat=lat + 0.001, lon=lon)  # ~111 m: outside pothole's 25 m
    _new(service, "streetlight", lat=lat, lon=lon)  # other category
    closed = _new(service, lat=lat, lon=lon)
    service.change_status(closed, "resolved", actor="staff:ana")
    _new(service, lat=None, lon=None, address="sin coordenadas")
    found = service.find_duplicates("pothole", lat, lon)
    assert [t for t, _ in found] == [nearer, near]
    assert 9 < found[0][1] < 11 and 10 < found[1][1] < 12
    assert len(service.find_duplicates("pothole", lat, lon, radius_m=200)) == 3
    assert len(service.find_duplicates("pothole", lat, lon, radius_m=200, limit=1)) == 1
    assert service.find_duplicates("pothole", -lat, lon) == []
    with pytest.raises(UnknownCategory):
        service.find_duplicates("volcano", lat, lon)


def test_listeners_run_in_the_same_transaction(make_service, session) -> None:
    seen = []

    def listener(s, ticket, event) -> None:
        assert s is session and event.id is not None and event.ticket_id == ticket.id
        seen.append((ticket.folio, event.kind))

    svc = make_service(listeners=[listener])
    t = _new(svc)
    svc.change_status(t, "in_progress", actor="staff:ana")
    assert seen == [(t.folio, "created"), (t.folio, "status")]

    def failing(s, ticket, event) -> None:
        raise RuntimeError("outbox down")

    svc2 = make_service(listeners=[failing])
    with pytest.raises(RuntimeError):
        svc2.change_status(t, "resolved", actor="staff:ana")
    session.rollback()  # the caller's unit of work is rolled back: the ticket is unchanged in the database
    session.expire_all()
    assert session.get(Ticket, t.id) is None  # never committed at all


def test_folio_collision_is_retried(service, session, monkeypatch) -> None:
    first = _new(service)
    session.commit()
    fresh = iter([first.folio, first.folio, "1234-5670"])
    monkeypatch.setattr(service_module, "new_folio", lambda: next(fresh))
    second = _new(service)
    session.commit()
    assert second.folio == "1234-5670"
    assert session.scalar(select(func.count()).select_from(Ticket)) == 2
    monkeypatch.setattr(service_module, "new_folio", lambda: first.folio)
    with pytest.raises(TicketError, match="could not find a free folio"):
        _new(service)


def test_list_tickets_filters(service) -> None:
    a = _new(service)
    b = _new(service, "streetlight")
    c = _new(service)
    service.change_status(c, "resolved", actor="staff:ana")
    assert {t.id for t in service.list_tickets(status="open")} == {a.id, b.id}
    assert [t.id for t in service.list_tickets(status="open", category="pothole")] == [a.id]
    assert [t.id for t in service.list_tickets(status="resolved")] == [c.id]
    with pytest.raises(TicketError, match="unknown status"):
        service.list_tickets(status="bogus")


def test_list_open_is_newest_first_across_statuses(make_service) -> None:
    clock = Clock(MONDAY)
    svc = make_service(now=clock)
    made = []
    for i, status in enumerate(["received", "assigned", "in_progress", "assigned", "received", "resolved"]):
        clock.moment = MONDAY + timedelta(minutes=i)
        t = _new(svc)
        if status != "received":
            svc.change_status(t, status, actor="staff:ana")
        made.append(t)
    newest_open = [made[4], made[3], made[2]]
    assert svc.list_tickets(status="open", category="pothole", limit=3) == newest_open
    assert svc.list_tickets(status="assigned", category="pothole", limit=1) == [made[3]]
    assert svc.list_tickets(status="open", limit=2) == newest_open[:2]
    assert svc.list_tickets(category="pothole", limit=1) == [made[5]]
