"""Status updates: every status change through the ticket service tells every follower, on their channel,
from the template for that status and reason (time-travel tests on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import select

from dialogue.render import is_gsm7, sms_segments
from notifications.dispatcher import Dispatcher
from notifications.updates import StatusUpdates, Update
from tests.notifications.conftest import RecordingSender, add_identity, new_ticket
from ticketing.models import Attachment, Conversation, OutboxMessage, OutboxStatus, Ticket

MTY = ZoneInfo("America/Monterrey")
T0 = datetime(2025, 3, 10, 10, 0, tzinfo=MTY)  # Monday morning


def _outbox(session, ticket_id: int | None = None) -> list[OutboxMessage]:
    q = select(OutboxMessage).order_by(OutboxMessage.id)
    if ticket_id is not None:
        q = q.where(OutboxMessage.ticket_id == ticket_id)
    return list(session.scalars(q).all())


@pytest.fixture
def people(env):
    with env.session_factory() as s:
        tg = add_identity(s, "telegram", "9001")
        wa = add_identity(s, "whatsapp", "+528180000001")
        sms = add_identity(s, "sms", "+528180000002")
        s.commit()
        return tg.id, wa.id, sms.id


def _identities(s, ids):
    from ticketing.models import ChannelIdentity

    return [s.get(ChannelIdentity, i) for i in ids]


@time_machine.travel(T0, tick=False)
def test_in_progress_reaches_reporter_and_every_follower_on_their_channel(env, people) -> None:
    with env.session_factory() as s:
        tg, wa, sms = _identities(s, people)
        ticket = new_ticket(env, s, tg, followers=(wa, sms))
        assert _outbox(s) == []  # creation: the dialogue already answered with the folio
        env.service(s).change_status(ticket, "in_progress", actor="staff:ana", public_note="La cuadrilla va en camino.")
        s.commit()
        rows = _outbox(s, ticket.id)
    assert [r.channel.value for r in rows] == ["telegram", "whatsapp", "sms"]
    for r in rows:
        assert r.kind == "status_in_progress" and r.urgent is False
        assert ticket.folio in r.body and "en proceso" in r.body
        assert r.dedupe_key.startswith("event:")
    assert "La cuadrilla va en camino." in rows[0].body
    sms_row = rows[2]
    assert is_gsm7(sms_row.body) and sms_segments(sms_row.body) == 1
    assert rows[1].payload["template_variables"] == {"1": ticket.folio, "2": "en proceso", "3": "Bache"}
    assert is_gsm7(rows[1].payload["sms_body"])


def _change(env, people, *, category="pothole", **change):
    with env.session_factory() as s:
        tg, wa, _ = _identities(s, people)
        ticket = new_ticket(env, s, tg, category=category, followers=(wa,))
        env.service(s).change_status(ticket, change.pop("status"), actor="staff:ana", **change)
        s.commit()
        return ticket, _outbox(s, ticket.id)


@time_machine.travel(T0, tick=False)
def test_resolved_sets_survey_due_and_sends_the_evidence_photo(env, people, tmp_path) -> None:
    photo = tmp_path / "evidencia.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    with env.session_factory() as s:
        tg, wa, _ = _identities(s, people)
        ticket = new_ticket(env, s, tg, followers=(wa,))
        att = Attachment(kind="photo", sha256="0" * 64, content_type="image/jpeg", size_bytes=12,
                         storage_path=str(photo))
        s.add(att)
        s.flush()
        env.service(s).attach(ticket, att.id, actor="staff:ana", kind="evidence")
        env.service(s).change_status(ticket, "resolved", actor="staff:ana", public_note="Se rellenó y compactó.")
        s.commit()
        rows = _outbox(s, ticket.id)
        t = s.get(Ticket, ticket.id)
        assert t.survey_due_at == (T0 + timedelta(hours=env.settings.survey_delay_hours)).astimezone(UTC)
    tg_row, wa_row = rows
    assert "quedó atendido" in tg_row.body and "Se rellenó y compactó." in tg_row.body
    assert tg_row.payload["media_path"] == str(photo)
    assert wa_row.payload["media_path"] == str(photo)  # the Twilio sender turns it into a signed public link


@time_machine.travel(T0, tick=False)
def test_out_of_jurisdiction_names_the_agency_and_how_to_reach_it(env, people) -> None:
    _, rows = _change(env, people, category="water_leak", status="not_resolved", reason="out_of_jurisdiction")
    body = rows[0].body
    assert "Servicios de Agua y Drenaje" in body and "073" in body
    assert "no lo atiende el municipio" in body
    assert "073" in rows[0].payload["sms_body"] and sms_segments(rows[0].payload["sms_body"]) == 1


@time_machine.travel(T0, tick=False)
def test_needs_budget_and_generic_reasons_explain_why(env, people) -> None:
    _, rows = _change(env, people, status="not_resolved", reason="needs_budget")
    assert "presupuesto" in rows[0].body and "planeación de obras" in rows[0].body
    _, rows = _change(env, people, status="not_resolved", reason="private_property", public_note="Es un patio.")
    assert "propiedad privada" in rows[0].body and "Es un patio." in rows[0].body
    assert rows[0].kind == "status_not_resolved"


@time_machine.travel(T0, tick=False)
def test_scheduled_gives_the_date_in_spanish(env, people) -> None:
    when = datetime(2025, 3, 14, 9, 0, tzinfo=MTY)
    _, rows = _change(env, people, status="in_progress", reason="scheduled", scheduled_for=when)
    assert "viernes 14 de marzo" in rows[0].body and rows[0].kind == "status_scheduled"


@time_machine.travel(T0, tick=False)
def test_duplicate_points_to_the_other_folio(env, people) -> None:
    with env.session_factory() as s:
        tg, wa, _ = _identities(s, people)
        original = new_ticket(env, s, wa)
        dup = new_ticket(env, s, tg)
        env.service(s).mark_duplicate(dup, original, actor="staff:ana")
        s.commit()
        rows = _outbox(s, dup.id)
    assert len(rows) == 1 and original.folio in rows[0].body and rows[0].kind == "status_duplicate"


@time_machine.travel(T0, tick=False)
def test_could_not_locate_asks_the_reporter_through_the_dialogue(env, people) -> None:
    with env.session_factory() as s:
        tg, wa, _ = _identities(s, people)
        ticket = new_ticket(env, s, tg, followers=(wa,))
        env.service(s).change_status(ticket, "not_resolved", actor="staff:ana", reason="could_not_locate")
        s.commit()
        rows = _outbox(s, ticket.id)
        conv = s.scalars(select(Conversation).where(Conversation.identity_id == tg.id)).one()
        assert (conv.flow, conv.step) == ("relocate", "location")
        assert conv.slots["folio"] == ticket.folio
    reporter_row, follower_row = rows
    assert reporter_row.kind == "location_request" and reporter_row.payload["request_location"] is True
    assert ticket.folio in reporter_row.body
    assert follower_row.kind == "status_could_not_locate"


@time_machine.travel(T0, tick=False)
def test_reassigned_and_reopened(env, people) -> None:
    with env.session_factory() as s:
        tg, wa, _ = _identities(s, people)
        ticket = new_ticket(env, s, tg, followers=(wa,))
        env.service(s).assign(ticket, actor="staff:ana", department="medio_ambiente")
        env.service(s).change_status(ticket, "resolved", actor="staff:ana")
        env.service(s).reopen(ticket, actor=f"citizen:{tg.citizen_id}", public_note="Sigue igual")
        s.commit()
        rows = _outbox(s, ticket.id)
    kinds = [(r.identity_id, r.kind) for r in rows]
    assert (tg.id, "status_reassigned") in kinds and (wa.id, "status_reassigned") in kinds
    # The reopen came from the reporter (the dialogue answered them): only the other follower hears of it.
    assert (wa.id, "status_reopened") in kinds and (tg.id, "status_reopened") not in kinds
    reopened = next(r for r in rows if r.kind == "status_reopened")
    assert "Reabrimos" in reopened.body and "Sigue igual" in reopened.body


@time_machine.travel(T0, tick=False)
def test_updates_are_idempotent_per_event_and_identity(env, people) -> None:
    with env.session_factory() as s:
        tg, _, _ = _identities(s, people)
        ticket = new_ticket(env, s, tg)
        event = env.service(s).change_status(ticket, "in_progress", actor="staff:ana")
        for listener in env.listeners:
            listener(s, ticket, event)  # a replayed event
        s.commit()
        assert len(_outbox(s, ticket.id)) == 1


def test_updates_wait_out_quiet_hours(env, people) -> None:
    night = datetime(2025, 3, 10, 23, 15, tzinfo=MTY)
    with time_machine.travel(night, tick=False) as traveller:
        with env.session_factory() as s:
            tg, _, _ = _identities(s, people)
            ticket = new_ticket(env, s, tg)
            env.service(s).change_status(ticket, "resolved", actor="staff:ana")
            s.commit()
        sender = RecordingSender()
        d = Dispatcher(env.session_factory, {"telegram": sender}, env.settings, rate_limits=False)
        d.drain()
        assert sender.sent == []
        traveller.move_to(datetime(2025, 3, 11, 9, 0, 5, tzinfo=MTY))
        d.drain()
        assert len(sender.sent) == 1 and "quedó atendido" in sender.sent[0].text
        with env.session_factory() as s:
            assert _outbox(s)[0].status == OutboxStatus.SENT
        d.close()


LONG = {"folio": "1234-5678", "category": "Vehículo abandonado en la vía pública",
        "department": "Dirección de Servicios Públicos Municipales", "municipality": "Municipio de San Reporta",
        "note": "La cuadrilla revisó el sitio y dejó el trabajo terminado con material nuevo y señalización.",
        "original": "8765-4321", "agency": "Servicios de Agua y Drenaje (organismo estatal)",
        "contact": "Teléfono 073, las 24 horas", "reason": "private_property", "reason_name": "Propiedad privada",
        "explanation": "El problema está dentro de una propiedad privada.", "referral_explanation": "Es estatal.",
        "date": "miércoles 12 de noviembre", "due": "miércoles 12 de noviembre",
        "revised": "miércoles 19 de noviembre"}
TEMPLATES = ["status_in_progress", "status_scheduled", "status_resolved", "status_not_resolved",
             "status_out_of_jurisdiction", "status_duplicate", "status_needs_budget", "status_could_not_locate",
             "status_reopened", "status_reassigned", "sla_overdue"]


@pytest.mark.parametrize("name", TEMPLATES)
def test_every_template_renders_and_its_sms_fits_one_gsm7_segment(renderer, name) -> None:
    for channel in ("telegram", "whatsapp", "simulator"):
        text = renderer.render(name, channel, **LONG)
        assert "1234-5678" in text and "{" not in text
    sms = renderer.render(name, "sms", **LONG)
    assert "1234-5678" in sms and is_gsm7(sms)
    assert sms_segments(sms) == 1, (len(sms), sms)
    bare = {**LONG, "note": None, "revised": None, "contact": None, "explanation": None}
    assert sms_segments(renderer.render(name, "sms", **bare)) == 1


def test_status_updates_skip_events_that_need_no_message(env) -> None:
    updates = StatusUpdates(env.settings, env.renderer, env.catalog)
    assert isinstance(Update("x", {}), Update)
    from ticketing.models import TicketEvent

    class _T:
        folio, category_code, department, duplicate_of_id = "1", "pothole", None, None

    for kind in ("created", "attachment", "subscribed", "satisfaction", "assigned", "closed"):
        assert updates.update_for(None, _T(), TicketEvent(kind=kind, actor="staff:x", data={})) is None


@time_machine.travel(T0, tick=False)
def test_simulator_identities_get_updates_written_for_the_channel_they_mimic(env, renderer) -> None:
    """``reporta chat --channel sms`` (identity ``sim-ana:sms``) reads the SMS wording of a status update, and
    ``sim-ana`` the WhatsApp one; the rows stay on channel ``simulator`` (only a simulator sender delivers them)."""
    from notifications.updates import render_channel

    with env.session_factory() as s:
        sim_sms = add_identity(s, "simulator", "sim-ana:sms")
        sim_wa = add_identity(s, "simulator", "sim-ana")
        ticket = new_ticket(env, s, sim_sms, followers=(sim_wa,))
        assert [render_channel(sim_sms), render_channel(sim_wa)] == ["sms", "whatsapp"]
        env.service(s).change_status(ticket, "in_progress", actor="staff:ana")
        s.commit()
        rows = _outbox(s, ticket.id)
        context = StatusUpdates(env.settings, env.renderer, env.catalog).update_for(s, ticket, ticket.events[-1])
    assert [r.channel.value for r in rows] == ["simulator", "simulator"]
    assert rows[0].body == renderer.render("status_in_progress", "sms", **context.context)
    assert is_gsm7(rows[0].body) and sms_segments(rows[0].body) == 1
    assert rows[1].body == renderer.render("status_in_progress", "whatsapp", **context.context)
    assert rows[0].body != rows[1].body
