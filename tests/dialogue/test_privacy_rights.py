"""Privacy rights from the chat (PRIVACIDAD, MIS DATOS, deletion requests) on WhatsApp, Telegram and SMS, on
SQLite and PostgreSQL, through the real dialogue engine, NLU parser and store."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dialogue.flows.privacy import is_erasure
from dialogue.render import Renderer, is_gsm7, sms_segments
from dialogue.text import fold
from tests.dialogue.conftest import Chat, World
from ticketing.citizens import get_identity
from ticketing.db import session_scope
from ticketing.models import ChannelIdentity, PrivacyRequest, Ticket

CHANNELS = ["whatsapp", "telegram", "sms"]
ERASURE_PHRASES = [
    "borra mis datos", "Borren mis datos por favor", "eliminen mis datos", "Quiero que eliminen todos mis datos",
    "BORRAR MIS DATOS", "cancelar mis datos", "quiero que borren toda mi información", "supriman mis datos",
    "Olvídame", "ejerzo mi derecho al olvido", "no quiero que guarden mis datos",
    "solicito la cancelación de mis datos", "quiten mi número",
]
NOT_ERASURE = [
    "borraron la pintura del paso peatonal", "cancelar", "mis datos son correctos?", "hay un bache en mis calles",
    "se borró el letrero de la calle Hidalgo", "olvidé mi folio", "cancela mi número de folio 1234-5678",
    "elimina mi reporte", "quita los datos del reporte",
]


def _report(world: World, chat: Chat, description: str = "Bache enorme frente a la primaria") -> Ticket:
    """A ticket of this citizen, recorded through the ticket service (as the report flow does)."""
    with session_scope(world.factory) as session:
        identity = get_identity(session, chat.channel, chat.external_id)
        ticket = world.service(session).create(category="pothole", description=description, channel=chat.channel,
                                               actor=f"citizen:{identity.citizen_id}", lat=25.6866, lon=-100.3161,
                                               reporter_identity=identity)
        session.flush()
        session.expunge(ticket)
        return ticket


def _requests(world: World, kind: str | None = None) -> list[PrivacyRequest]:
    with world.factory() as session:
        stmt = select(PrivacyRequest).order_by(PrivacyRequest.id)
        if kind:
            stmt = stmt.where(PrivacyRequest.kind == kind)
        return list(session.scalars(stmt))


def _sms_ok(chat: Chat, segments: int) -> None:
    for reply in chat.replies:
        if chat.channel == "sms":
            assert is_gsm7(reply.text), reply.text
            assert sms_segments(reply.text) <= segments, (sms_segments(reply.text), reply.text)


@pytest.mark.parametrize("channel", CHANNELS)
def test_privacidad_resends_the_simplified_notice_with_the_full_notice_link(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("PRIVACIDAD")
    assert len(chat.replies) == 1
    text = chat.text
    assert world.settings.privacy_notice_url in text
    assert "MIS DATOS" in text and "BORRAR MIS DATOS" in text
    if channel != "sms":
        assert world.settings.municipality_name in text and "BAJA" in text
    _sms_ok(chat, 1)
    chat.send("aviso de privacidad")
    assert world.settings.privacy_notice_url in chat.text


@pytest.mark.parametrize("channel", CHANNELS)
def test_privacidad_in_the_middle_of_a_report_keeps_the_report(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hay un bache enorme")
    before = chat.conversation()
    assert before.flow == "report"
    chat.send("privacidad")
    assert world.settings.privacy_notice_url in chat.replies[0].text
    assert len(chat.replies) >= 2  # the pending question again
    after = chat.conversation()
    assert (after.flow, after.step) == (before.flow, before.step)


@pytest.mark.parametrize("channel", CHANNELS)
def test_mis_datos_sends_their_reports_and_status_and_the_transparency_contact(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hola")
    mine = [_report(world, chat), _report(world, chat, "Otro bache en la esquina")]
    with session_scope(world.factory) as session:
        world.service(session).change_status(session.get(Ticket, mine[0].id), "in_progress", actor="staff:ana")
    other = world.chat(channel)
    other.send("hola")
    theirs = _report(world, other)

    chat.send("MIS DATOS")
    text = chat.text
    for ticket in mine:
        assert ticket.folio in text
    assert theirs.folio not in text
    assert world.renderer.label("status_in_progress", channel) in text
    assert world.renderer.label("status_received", channel) in text
    assert "Unidad de Transparencia" in text and world.settings.transparency_contact in text
    if channel in ("whatsapp", "sms"):
        assert chat.external_id[-4:] in text and chat.external_id not in text  # only the last four digits
        assert chat.external_id[-10:] not in text
    assert "BORRAR MIS DATOS" in text
    _sms_ok(chat, 2)
    [audit] = _requests(world, "access")
    assert audit.status == "answered" and audit.channel == channel
    assert not _requests(world, "erasure")


@pytest.mark.parametrize("channel", CHANNELS)
def test_mis_datos_without_reports(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("¿qué datos tienen de mí?")
    assert "Unidad de Transparencia" in chat.text and world.settings.transparency_contact in chat.text
    if channel != "sms":
        assert "No tienes reportes" in chat.text
    _sms_ok(chat, 2)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_deletion_request_is_recorded_for_staff_once(world: World, channel: str) -> None:
    chat = world.chat(channel)
    chat.send("hola")
    _report(world, chat)
    chat.send("borra mis datos")
    [request] = _requests(world, "erasure")
    assert request.status == "pending" and request.channel == channel
    assert f"{request.id}" in chat.text and "solicitud" in chat.text
    assert "Unidad de Transparencia" in chat.text and world.settings.transparency_contact in chat.text
    _sms_ok(chat, 2)

    chat.send("Eliminen mis datos por favor")  # asked again: the same request, said so
    assert [r.id for r in _requests(world, "erasure")] == [request.id]
    assert f"{request.id}" in chat.text and ("Ya tenemos" in chat.text)
    chat.send("mis datos")  # the access answer says the request is under review
    assert f"{request.id}" in chat.text
    with world.factory() as session:  # nothing is deleted until staff approve
        assert session.scalar(select(func.count()).select_from(ChannelIdentity)) == 1
        assert session.scalar(select(func.count()).select_from(Ticket)) == 1


@pytest.mark.parametrize("phrase", ERASURE_PHRASES)
def test_erasure_phrasings(phrase: str) -> None:
    assert is_erasure(fold(phrase)), phrase


@pytest.mark.parametrize("phrase", NOT_ERASURE)
def test_not_erasure(phrase: str) -> None:
    assert not is_erasure(fold(phrase)), phrase


def test_a_report_that_mentions_deleting_is_still_a_report(world: World) -> None:
    chat = world.chat("whatsapp")
    chat.send("borraron la pintura del paso peatonal frente a la escuela")
    assert not _requests(world)
    assert chat.conversation().flow == "report"


def test_opted_out_citizens_are_not_answered(world: World) -> None:
    chat = world.chat("sms")
    chat.send("BAJA")
    chat.send("MIS DATOS")
    assert chat.replies == [] and not _requests(world)


LINE = {"folio": "4821-7730", "category": "Recolección de basura", "status": "asignado al área responsable",
        "date": "1 de diciembre de 2026"}
SMS_CASES = [
    ("privacy_notice", {}, 1),
    ("privacy_access", {"profile_name": None, "phone_hint": "5678", "channels": ["SMS"],
                        "since": "1 de diciembre de 2026", "tickets": [LINE] * 5,
                        "ticket_count": 12, "open_count": 3, "messages": 148, "photos": 0, "pending_id": None}, 2),
    ("privacy_access", {"profile_name": None, "phone_hint": "5678", "channels": ["SMS"], "since": "hoy", "tickets": [],
                        "ticket_count": 0, "open_count": 0, "messages": 1, "photos": 0, "pending_id": 123456}, 2),
    ("privacy_erasure", {"request_id": 123456, "created": True, "ticket_count": 3, "open_count": 2}, 2),
    ("privacy_erasure", {"request_id": 123456, "created": False, "ticket_count": 0, "open_count": 0}, 2),
]


@pytest.mark.parametrize(("name", "context", "segments"), SMS_CASES)
def test_privacy_templates_fit_sms_with_long_values(name: str, context: dict, segments: int) -> None:
    from reporta.settings import Settings

    settings = Settings(_env_file=None)
    renderer = Renderer(settings.templates_dir)
    base = {"municipality": "Municipio de San Pedro Garza García", "privacy_url": "https://sanpedro.gob.mx/privacidad",
            "contact": settings.transparency_contact}
    text = renderer.render(name, "sms", **{**base, **context})
    assert is_gsm7(text) and sms_segments(text) <= segments, (sms_segments(text), len(text), text)
    for channel in ("whatsapp", "telegram"):  # the other channels render too (no missing variable)
        assert renderer.render(name, channel, **{**base, **context})


def test_mis_datos_as_a_first_message_gets_the_welcome_notice_first(world: World) -> None:
    chat = world.chat("telegram", consented=False)
    chat.send("mis datos")
    assert len(chat.replies) == 2
    assert world.settings.privacy_notice_url in chat.replies[0].text  # the welcome, with the notice
    assert "No tienes reportes" in chat.replies[1].text
