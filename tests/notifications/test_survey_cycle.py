"""The whole "¿ya quedó?" cycle, end to end through the real runtime (dialogue engine, NLU, inbound pipeline,
outbox dispatcher) with time travel: resolved → 24 h → question → Sí (closed, rated) / No (reopened with
the citizen's words) / silence (closed "resolved, not confirmed" after 72 h)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from notifications.jobs import Jobs
from reporta.messages import InboundMessage
from reporta.runtime import Runtime
from tests.notifications.conftest import RecordingSender
from ticketing.citizens import get_or_create_identity, record_consent
from ticketing.models import Ticket, TicketEvent, TicketStatus

MTY = ZoneInfo("America/Monterrey")
T0 = datetime(2025, 3, 10, 10, 0, tzinfo=MTY)
_ids = itertools.count(1)


@pytest.fixture(scope="module")
def nlu_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture
def runtime(settings, nlu_cache):
    sender = RecordingSender("telegram")
    rt = Runtime.from_settings(settings.model_copy(update={"nlu_cache_dir": nlu_cache}), migrate=False,
                               channels=False, senders={"telegram": sender},
                               dispatcher_options={"rate_limits": False, "worker_id": "cycle"})
    rt.test_sender = sender
    yield rt
    rt.close()


def say(rt: Runtime, chat: str, text: str) -> None:
    inbound = InboundMessage(channel="telegram", external_id=chat, provider_message_id=f"u{next(_ids)}", text=text,
                             received_at=datetime.now(UTC))
    message_id = rt.pipeline.accept(inbound)
    assert message_id is not None
    assert rt.pipeline.process(message_id) == 1


def resolved_ticket(rt: Runtime, chat: str) -> str:
    with rt.session_factory() as s:
        identity = get_or_create_identity(s, "telegram", chat, seen_at=datetime.now(UTC))
        record_consent(identity.citizen)
        svc = rt.ticket_service(s)
        ticket = svc.create(category="pothole", description="Bache frente al número 100", channel="telegram",
                            actor=f"citizen:{identity.citizen_id}", lat=25.6866, lon=-100.3161,
                            address="Av. Juárez 100", reporter_identity=identity)
        svc.change_status(ticket, "resolved", actor="staff:ana", public_note="Se rellenó el bache.")
        s.commit()
        return ticket.folio


def ticket(rt: Runtime, folio: str) -> Ticket:
    with rt.session_factory() as s:
        return s.scalars(select(Ticket).where(Ticket.folio == folio)).one()


def test_yes_closes_confirmed_and_stores_satisfaction_no_reopens_silence_expires(runtime) -> None:
    rt = runtime
    sent = rt.test_sender
    jobs = Jobs(rt.session_factory, rt.settings, rt.renderer, rt.catalog, rt.ticket_service)
    with time_machine.travel(T0, tick=False) as traveller:
        yes, no, silent = resolved_ticket(rt, "501"), resolved_ticket(rt, "502"), resolved_ticket(rt, "503")
        rt.dispatcher.drain()
        assert len([m for m in sent.sent if "quedó atendido" in m.text]) == 3
        traveller.shift(timedelta(hours=24, minutes=1))
        assert jobs.send_surveys() == 3
        rt.dispatcher.drain()
        questions = {m.external_id: m for m in sent.sent if m.kind == "survey"}
        assert set(questions) == {"501", "502", "503"}
        assert yes in questions["501"].text and "¿Ya quedó?" in questions["501"].text

        # Sí → closed as confirmed, then one 1–5 question.
        traveller.shift(timedelta(minutes=5))
        say(rt, "501", "1")
        t = ticket(rt, yes)
        assert (t.status, t.confirmation) == (TicketStatus.CLOSED, "confirmed")
        say(rt, "501", "5")
        assert ticket(rt, yes).satisfaction == 5

        # No → reopened with the citizen's words; it counts as a reopen and goes back to the department.
        say(rt, "502", "No, el bache sigue igual de grande")
        t = ticket(rt, no)
        assert t.status == TicketStatus.ASSIGNED and t.is_open and t.reopen_count == 1
        assert t.confirmation is None
        with rt.session_factory() as s:
            event = s.scalars(select(TicketEvent).where(TicketEvent.ticket_id == t.id, TicketEvent.kind == "reopened")
                              ).one()
            assert "sigue igual" in (event.public_note or "")
            assert event.actor.startswith("citizen:")
        rt.dispatcher.drain()
        # The reporter got the dialogue's answer, not a second "we reopened your report" update.
        assert not any(m.kind == "status_reopened" and m.external_id == "502" for m in sent.sent)

        # Silence → after 72 h, closed as "resolved, not confirmed"; the answered ones are untouched.
        traveller.shift(timedelta(hours=71))
        assert jobs.expire_surveys() == 0
        traveller.shift(timedelta(hours=1, minutes=1))
        assert jobs.expire_surveys() == 1
        t = ticket(rt, silent)
        assert (t.status, t.confirmation) == (TicketStatus.CLOSED, "not_confirmed")
        assert ticket(rt, yes).confirmation == "confirmed" and ticket(rt, no).is_open
