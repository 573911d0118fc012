"""The scheduled ticket jobs, travelling in time: surveys and their timeout, SLA warnings, overdue notices."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select

from notifications.jobs import register_staff_hook, unregister_staff_hook
from tests.notifications.conftest import add_identity, new_ticket
from ticketing.models import Conversation, OutboxMessage, Ticket, TicketStatus

MTY = ZoneInfo("America/Monterrey")
T0 = datetime(2025, 3, 10, 10, 0, tzinfo=MTY)  # Monday morning


def _kinds(s, ticket_id):
    return [r.kind for r in s.scalars(select(OutboxMessage).where(OutboxMessage.ticket_id == ticket_id)
                                      .order_by(OutboxMessage.id))]


def _resolved_ticket(env):
    with env.session_factory() as s:
        tg = add_identity(s, "telegram", "7001")
        ticket = new_ticket(env, s, tg)
        env.service(s).change_status(ticket, "resolved", actor="staff:ana")
        s.commit()
        return ticket.id, tg.id


def test_survey_is_sent_after_the_delay_once_and_expires_unanswered(env) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        tid, ident = _resolved_ticket(env)
        jobs = env.jobs()
        traveller.shift(timedelta(hours=23, minutes=59))
        assert jobs.send_surveys() == 0
        traveller.shift(timedelta(minutes=2))
        assert jobs.send_surveys() == 1
        assert jobs.send_surveys() == 0
        with env.session_factory() as s:
            assert _kinds(s, tid) == ["status_resolved", "survey"]
            survey = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "survey")).one()
            assert "¿Ya quedó?" in survey.body and survey.urgent is False
            assert [b["payload"] for b in survey.payload["buttons"]][:3] == ["survey:yes", "survey:no", "survey:unsure"]
            conv = s.scalars(select(Conversation).where(Conversation.identity_id == ident)).one()
            assert conv.flow == "survey"
            assert s.get(Ticket, tid).survey_sent_at is not None
        traveller.shift(timedelta(hours=71))
        assert jobs.expire_surveys() == 0
        traveller.shift(timedelta(hours=1, minutes=1))
        assert jobs.expire_surveys() == 1
        assert jobs.expire_surveys() == 0
        with env.session_factory() as s:
            t = s.get(Ticket, tid)
            assert t.status == TicketStatus.CLOSED and t.confirmation == "not_confirmed"
            assert t.reason_code == "resolved"


def test_sla_warning_goes_to_staff_hooks_once_before_the_due_date(env) -> None:
    seen: list[tuple[str, str, bool]] = []
    hook = register_staff_hook(lambda kind, ticket, info: seen.append((kind, ticket.folio, info["overdue"])))
    try:
        with time_machine.travel(T0, tick=False) as traveller:
            with env.session_factory() as s:
                ticket = new_ticket(env, s, add_identity(s))
                due = ticket.due_at
                s.commit()
            jobs = env.jobs()
            traveller.move_to(due - timedelta(hours=env.settings.sla_warning_hours, minutes=1))
            assert jobs.warn_sla() == 0
            traveller.shift(timedelta(minutes=2))
            assert jobs.warn_sla() == 1
            assert jobs.warn_sla() == 0
            assert seen == [("sla_warning", ticket.folio, False)]
    finally:
        unregister_staff_hook(hook)


def test_overdue_citizen_gets_an_honest_message_with_the_new_estimate(env) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        with env.session_factory() as s:
            tg, wa = add_identity(s, "telegram", "7101"), add_identity(s, "whatsapp", "+528170000001")
            late = new_ticket(env, s, tg, followers=(wa,))
            late_plain = new_ticket(env, s, add_identity(s, "telegram", "7102"))
            on_time = new_ticket(env, s, add_identity(s, "telegram", "7103"))
            env.service(s).change_status(on_time, "resolved", actor="staff:ana")
            revised = late.due_at + timedelta(days=3)
            env.service(s).change_status(late, "in_progress", actor="staff:ana", revised_due_at=revised)
            due = late.due_at
            s.commit()
        jobs = env.jobs()
        traveller.move_to(due - timedelta(minutes=1))
        assert jobs.notify_overdue() == 0
        traveller.move_to(due + timedelta(minutes=1))
        assert jobs.notify_overdue() == 2
        assert jobs.notify_overdue() == 0
        with env.session_factory() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "sla_overdue")
                             .order_by(OutboxMessage.id)).all()
            late_rows = [r for r in rows if r.ticket_id == late.id]
            assert {r.identity_id for r in late_rows} == {tg.id, wa.id}
            assert "ya pasó la fecha" in late_rows[0].body and "Una disculpa" in late_rows[0].body
            assert "nueva fecha estimada" in late_rows[0].body.lower()
            plain = next(r for r in rows if r.ticket_id == late_plain.id)
            assert "Te avisaremos en cuanto haya avance" in plain.body
            assert all(r.ticket_id != on_time.id for r in rows)


def test_a_reopened_ticket_gets_a_new_commitment_and_a_new_apology(env) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        with env.session_factory() as s:
            t = new_ticket(env, s, add_identity(s))
            s.commit()
        jobs = env.jobs()
        traveller.move_to(t.due_at + timedelta(minutes=1))
        assert jobs.notify_overdue() == 1
        with env.session_factory() as s:
            t = s.get(Ticket, t.id)
            env.service(s).change_status(t, "resolved", actor="staff:ana")
            env.service(s).reopen(t, actor="staff:ana")
            new_due = t.revised_due_at
            s.commit()
        assert jobs.notify_overdue() == 0
        traveller.move_to(new_due + timedelta(minutes=1))
        assert jobs.notify_overdue() == 1


@pytest.mark.postgres
def test_two_schedulers_survey_each_ticket_exactly_once(pg_url, tmp_path, catalog, renderer) -> None:
    from notifications.updates import ticket_listeners
    from reporta.settings import Settings
    from tests.notifications.conftest import Env
    from ticketing.db import make_engine, make_session_factory

    settings = Settings(_env_file=None, database_url=pg_url, var_dir=tmp_path / "var")
    engine = make_engine(pg_url)
    env = Env(settings, make_session_factory(engine), catalog, renderer, ticket_listeners(settings, renderer, catalog))
    with time_machine.travel(T0, tick=False) as traveller:
        with env.session_factory() as s:
            for i in range(60):
                t = new_ticket(env, s, add_identity(s, "telegram", str(80_000 + i)))
                env.service(s).change_status(t, "resolved", actor="staff:ana")
            s.commit()
        traveller.shift(timedelta(hours=25))
        a, b = env.jobs(batch_size=7), env.jobs(batch_size=7)
        done: list[int] = []

        def run(jobs):
            while (n := jobs.send_surveys()) > 0:
                done.append(n)

        threads = [threading.Thread(target=run, args=(j,)) for j in (a, b)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with env.session_factory() as s:
            assert s.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "survey")) == 60
        assert sum(done) == 60
    engine.dispose()
