"""Every indicator on a hand-built history whose expected figures are worked out here, on both databases.

The calendar: business hours Monday–Friday 09:00–17:00 in Monterrey (UTC-6, no DST). ``streetlight`` commits
5 business days, ``pothole`` 10. Everything is reported Monday 2 March 2026 at 10:00, so a streetlight is due
Monday 9 March 10:00 and a pothole Tuesday 17 March 10:00 (Monday 16 March is a federal holiday). "Now" is
Thursday 12 March 12:00.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.ticketing.conftest import Clock
from ticketing.indicators import MIN_CASES, BusinessClock, Indicators, Rate, percentile
from ticketing.models import ChannelKind, Conversation, TicketEvent

MTY = ZoneInfo("America/Monterrey")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=MTY).astimezone(UTC)


NOW = local(12, 12)
WEEK = (local(1, 0), local(8, 0))  # the cohort: everything reported in the first week of March


@pytest.fixture
def history(session, catalog, make_service, make_identity):
    """Eight reports (A–H) and two escalations; see each comment for what it contributes."""
    clock = Clock(local(2, 10))
    svc = make_service(now=clock)
    t: dict[str, object] = {}

    def create(name, category="streetlight", identity=None):
        clock.moment = local(2, 10)
        t[name] = svc.create(category=category, description=f"reporte {name}", lat=25.67, lon=-100.31,
                             channel="whatsapp" if identity else "phone", actor="staff:ana",
                             reporter_identity=identity)
        return t[name]

    def at(day, hour, minute=0):
        clock.moment = local(day, hour, minute)

    def surveyed(ticket):
        ticket.survey_sent_at = clock.moment

    # A: resolved Tue 10:00, citizen says "no" Wed 10:00 (reopened after resolution: a false positive),
    #    resolved again Thu 12:00 (before the due Mon 9 10:00: on time), confirmed, rated 4.
    #    Business hours: Mon 10-17 (7) + Tue, Wed (16) + Thu 9-12 (3) = 26.
    a = create("A", identity=make_identity(ChannelKind.WHATSAPP))
    at(3, 10)
    svc.change_status(a, "resolved", actor="staff:ana")
    surveyed(a)
    at(4, 10)
    svc.reopen(a, actor="citizen:1")
    at(5, 12)
    svc.change_status(a, "resolved", actor="staff:ana")
    surveyed(a)
    svc.close(a, actor="citizen:1", confirmation="confirmed")
    svc.set_satisfaction(a, 4, actor="citizen:1")

    # B: resolved Thu 5 (on time) but reopened Fri 6 10:00 — a fresh commitment (revised_due_at Fri 13 10:00) —
    #    and resolved again Tue 10 11:00: after the ORIGINAL due date, so late even though before the revised one.
    #    Confirmed, rated 2. Business hours: Mon 7 + Tue-Fri 32 + Mon 9 8 + Tue 10 9-11 2 = 49.
    b = create("B", identity=make_identity(ChannelKind.WHATSAPP))
    at(5, 10)
    svc.change_status(b, "resolved", actor="staff:ana")
    surveyed(b)
    at(6, 10)
    svc.reopen(b, actor="citizen:2")
    assert b.revised_due_at == local(13, 10) and b.due_at == local(9, 10)
    at(10, 11)
    svc.change_status(b, "resolved", actor="staff:ana")
    surveyed(b)
    svc.close(b, actor="citizen:2", confirmation="confirmed")
    svc.set_satisfaction(b, 2, actor="citizen:2")

    # C: a pothole routed to Obras Públicas that staff moved to Servicios Públicos (reassigned): still open,
    #    not yet due (Tue 17): neither on time nor late yet.
    c = create("C", category="pothole")
    at(2, 11)
    svc.assign(c, actor="staff:ana", department="servicios_publicos")

    # D: resolved Wed 4 10:00 (16 business hours), asked "¿ya quedó?", never answered: closed not confirmed.
    d = create("D", identity=make_identity(ChannelKind.WHATSAPP))
    at(4, 10)
    svc.change_status(d, "resolved", actor="staff:ana")
    surveyed(d)
    at(6, 10)
    svc.close(d, actor="system", confirmation="not_confirmed")

    # E: still open on Thursday 12, three days past its due date: judged, and late.
    create("E")

    # F: closed without a fix on Tue 3 11:00: needs budget (a reason for non-completion, not judged on time).
    f = create("F")
    at(3, 11)
    svc.change_status(f, "not_resolved", reason="needs_budget", actor="staff:ana")

    # G: resolved Mon 2 15:00 (5 business hours), confirmed, not rated.
    g = create("G", identity=make_identity(ChannelKind.WHATSAPP))
    at(2, 15)
    svc.change_status(g, "resolved", actor="staff:ana")
    surveyed(g)
    svc.close(g, actor="citizen:4", confirmation="confirmed")

    # H: a pothole whose category the console corrected (its ``rerouted`` event); open, due Tue 17.
    h = create("H", category="pothole")
    session.add(TicketEvent(ticket=h, kind="rerouted", actor="staff:ana", created_at=local(2, 12),
                            data={"from_category": "pothole", "to_category": "sidewalk",
                                  "from_department": "obras_publicas", "to_department": "obras_publicas"}))

    # Escalations (the durable log, written by the real handoff functions): one answered 12 minutes after the
    # request and then handed back to the bot by staff (its conversation no longer says it was escalated), one
    # not answered yet.
    for requested, answered in [(local(3, 9), local(3, 9, 12)), (local(4, 9), None)]:
        escalate(session, make_identity(ChannelKind.TELEGRAM), requested, answered)
    session.flush()
    return t


def escalate(session, identity, requested, answered, *, hand_back=True):
    """A conversation handed to staff at ``requested``; staff answer at ``answered`` (twice: the first counts)
    and hand it back half an hour later."""
    from dialogue import handoff, handoff_log
    from dialogue.render import Renderer
    from reporta.settings import REPO_ROOT

    conv = Conversation(identity_id=identity.id, citizen_id=identity.citizen_id, mode="handoff",
                        handoff_reason="requested", handoff_requested_at=requested, identity=identity)
    session.add(conv)
    session.flush()
    handoff_log.requested(session, conv, "requested", requested)
    if answered is not None:
        renderer = Renderer(REPO_ROOT / "data" / "templates")
        handoff.reply(session, conv.id, "hola", "ana", renderer=renderer, now=answered)
        handoff.reply(session, conv.id, "otra", "ana", renderer=renderer, now=answered + timedelta(minutes=20))
        if hand_back:
            handoff.close(session, conv.id, "ana", renderer=renderer, now=answered + timedelta(minutes=30))
    session.flush()
    return conv


@pytest.fixture
def indicators(session, catalog) -> Indicators:
    return Indicators(session, catalog, now=lambda: NOW)


def test_on_time_uses_the_original_due_date(history, indicators) -> None:
    total = indicators.report(*WEEK).total()
    # judged: A, B, D, G resolved + E open past due = 5; on time: A, D, G (B's fix came after Mon 9 10:00).
    assert (total.judged, total.on_time, total.open_overdue) == (5, 3, 1)
    assert total.on_time_rate == Rate(3, 5) and total.on_time_rate.percent == pytest.approx(60.0)


def test_reopen_rate_counts_reopens_after_a_resolution(history, indicators) -> None:
    total = indicators.report(*WEEK).total()
    # ever resolved: A, B, D, G; reopened after being resolved: A and B.
    assert total.reopen_rate == Rate(2, 4)


def test_confirmed_fix_and_satisfaction(history, indicators) -> None:
    total = indicators.report(*WEEK).total()
    # asked "¿ya quedó?": A, B, D, G (the phone reports C, E, F, H could not be asked); yes: A, B, G.
    assert total.confirmed_rate == Rate(3, 4)
    # ratings 4 (A) and 2 (B): mean 3.0; asked to rate: the 3 who said yes, 2 answered.
    assert total.satisfaction_mean == pytest.approx(3.0)
    assert total.ratings == [0, 1, 0, 1, 0]
    assert total.response_rate == Rate(2, 3)
    assert not total.satisfaction_enough


def test_routing_corrections(history, indicators) -> None:
    report = indicators.report(*WEEK)
    # C's department change (reassigned) and H's category change (the console's rerouted): 2 of 8 reports.
    assert report.total().routing_rate == Rate(2, 8)
    assert report.by_category()["pothole"].routing_rate == Rate(2, 2)


def test_time_to_resolve_in_business_hours(history, indicators) -> None:
    durations = indicators.report(*WEEK).time_to_resolve()
    # G 5, D 16, A 26, B 49 business hours: median (16 + 26) / 2 = 21; p90 by nearest rank: the 4th = 49.
    assert sorted(durations.hours) == pytest.approx([5, 16, 26, 49])
    assert durations.median == pytest.approx(21) and durations.p90 == pytest.approx(49)


def test_reasons_for_non_completion_and_groups(history, indicators) -> None:
    report = indicators.report(*WEEK)
    assert report.reasons_total() == {"needs_budget": 1}
    assert report.total().not_completed == 1
    channels = report.by_channel()
    assert channels["whatsapp"].reports == 4 and channels["phone"].reports == 4
    assert report.by_category()["streetlight"].reports == 6


def test_department_scope(history, indicators) -> None:
    obras = indicators.department_id("obras_publicas")
    report = indicators.report(*WEEK, department_id=obras)
    # only H is still Obras Públicas' (C moved to Servicios Públicos)
    assert report.total().reports == 1 and report.department == "obras_publicas"
    servicios = indicators.report(*WEEK, department_id=indicators.department_id("servicios_publicos"))
    assert servicios.total().reports == 7


def test_an_empty_period(history, indicators) -> None:
    total = indicators.report(local(9, 0), local(12, 0)).total()
    assert total.reports == 0 and total.on_time_rate.value is None and total.satisfaction_mean is None


def test_backlog_and_overdue_over_time(history, indicators) -> None:
    points = indicators.backlog([local(3, 12), NOW])
    # Tue 3 12:00: out are G (fixed Mon 15:00) and F (closed Tue 11:00); A's false fix of Tue 10:00 does not
    # count: A is pending until its real fix. Nothing is past due yet.
    assert (points[0].backlog, points[0].overdue) == (6, 0)
    # Thu 12: C, E, H pending; E past its due date (Mon 9).
    assert (points[1].backlog, points[1].overdue) == (3, 1)


def test_escalations_first_response(history, indicators, session) -> None:
    esc = indicators.escalations(*WEEK)
    # The answered one was handed back (its conversation's handoff_requested_at is cleared) and still counts:
    # requested Tue 3 09:00, first staff message 09:12 (the second one, 09:32, does not count): 12 minutes.
    assert session.scalar(select(func.count()).select_from(Conversation)
                          .where(Conversation.handoff_requested_at.is_not(None))) == 1
    assert (esc.requested, esc.answered) == (2, 1)
    assert esc.median_minutes == pytest.approx(12) and esc.answered_rate == Rate(1, 2)


def test_percentile_nearest_rank_and_min_cases() -> None:
    assert percentile([], 90) is None
    assert percentile([3, 1, 2], 50) == 2 and percentile(list(range(1, 11)), 90) == 9
    assert not Rate(9, 9).enough and Rate(0, MIN_CASES).enough and Rate(0, 0).value is None


def test_business_clock_skips_nights_weekends_and_holidays(catalog) -> None:
    from ticketing.business_time import BusinessCalendar

    clock = BusinessClock(BusinessCalendar(catalog.business_hours, "America/Monterrey"))
    # Fri 13 16:00 -> Tue 17 10:00: 1 h on Friday, Monday 16 is a holiday, 1 h on Tuesday.
    # Sat 7 -> Sun 8: nothing. An end before the start: 0.
    assert clock.hours_between([(local(13, 16), local(17, 10)), (local(7, 10), local(8, 10)),
                                (local(5, 10), local(4, 10))]) == pytest.approx([2, 0, 0])


def test_several_periods_from_one_scan_match_separate_reports(history, indicators) -> None:
    end = local(8, 0)
    short, week = indicators.reports(end, [local(2, 10, 30), local(1, 0)])
    # nothing was reported after Mon 10:30 (everything at 10:00): the short period is empty, the week is whole
    assert short.total().reports == 0 and short.time_to_resolve().n == 0
    alone = indicators.report(local(1, 0), end)
    assert week.total() == alone.total() and week.reasons == alone.reasons
    assert sorted(week.time_to_resolve().hours) == sorted(alone.time_to_resolve().hours)
    from_nine, from_eleven = indicators.reports(end, [local(2, 9), local(2, 11)])
    assert from_nine.total().reports == 8 and from_eleven.total().reports == 0


def test_forgetting_a_citizen_leaves_the_escalation_without_personal_data(session, catalog, make_identity) -> None:
    from ticketing.models import HandoffLog
    from ticketing.privacy import forget_citizen

    identity = make_identity(ChannelKind.TELEGRAM)
    conv = escalate(session, identity, local(3, 9), local(3, 9, 12))
    forget_citizen(session, identity.citizen_id, actor="staff:privacidad")
    session.flush()
    assert session.get(Conversation, conv.id) is None
    rows = session.execute(select(HandoffLog.__table__)).mappings().all()
    # Only the anonymous timing stays: no conversation link, no text, no identity.
    assert [(r["conversation_id"], r["channel"], r["reason"], r["closed_how"]) for r in rows] == [
        (None, "telegram", "requested", "staff")]
    esc = Indicators(session, catalog, now=lambda: NOW).escalations(*WEEK)
    assert (esc.requested, esc.answered, esc.minutes) == (1, 1, (12.0,))
