"""``ticketing.privacy`` and ``reporta citizens``: forgetting by citizen id or request, rejecting a request, photo
files shared by two citizens, a citizen's notes on someone else's ticket. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from sqlalchemy import select
from typer.testing import CliRunner

from reporta.settings import get_settings
from tests.ticketing.conftest import CATALOG_PATH
from ticketing import citizens_cli
from ticketing.catalog import load_catalog, sync_departments
from ticketing.citizens import get_or_create_identity
from ticketing.db import make_engine, make_session_factory, session_scope
from ticketing.models import Attachment, Citizen, PrivacyRequest, Ticket, TicketEvent
from ticketing.privacy import REDACTED, forget_citizen, remove_files, request_erasure
from ticketing.service import TicketService

app = typer.Typer()
citizens_cli.register(app)
runner = CliRunner()


@pytest.fixture
def db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REPORTA_DATABASE_URL", database_url)
    monkeypatch.setenv("REPORTA_VAR_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    catalog = load_catalog(CATALOG_PATH)
    with session_scope(factory) as s:
        sync_departments(s, catalog)
    yield factory, catalog
    engine.dispose()
    get_settings.cache_clear()


def invoke(*args: str, code: int = 0, input: str | None = None):
    result = runner.invoke(app, ["citizens", *args], input=input)
    assert result.exit_code == code, (result.output, result.exception)
    return result


def _citizen_with_ticket(factory, catalog, external_id: str, photo: Path) -> tuple[int, str]:
    with session_scope(factory) as s:
        identity = get_or_create_identity(s, "whatsapp", external_id, display_name="Ana Sofía Garza")
        s.flush()
        att = Attachment(kind="photo", sha256="f" * 64, content_type="image/jpeg", size_bytes=4,
                         storage_path=str(photo))
        s.add(att)
        s.flush()
        ticket = TicketService(s, catalog).create(category="pothole", description="Frente a mi casa, soy Ana",
                                                  channel="whatsapp", actor=f"citizen:{identity.citizen_id}",
                                                  lat=25.0, lon=-100.0, reporter_identity=identity,
                                                  attachment_ids=[att.id])
        return identity.citizen_id, ticket.folio


def test_forget_by_citizen_id_keeps_a_photo_file_another_citizen_still_uses(db, tmp_path: Path) -> None:
    factory, catalog = db
    photo = tmp_path / "var" / "media" / "ff" / "same.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    ana, _ = _citizen_with_ticket(factory, catalog, "+528110000001", photo)
    bea, folio_b = _citizen_with_ticket(factory, catalog, "+528110000002", photo)  # the same picture (same hash)
    with session_scope(factory) as s:  # Ana's survey answer on Bea's ticket
        s.add(TicketEvent(ticket_id=s.scalars(select(Ticket.id).where(Ticket.folio == folio_b)).one(),
                          kind="reopened", actor=f"citizen:{ana}", public_note="Sigue igual, soy Ana de la casa 5"))

    out = invoke("forget", str(ana), "--staff", "ana.lopez", "--yes").output
    assert f"citizen {ana} forgotten" in out
    assert photo.exists()  # Bea's attachment still points at it
    with factory() as s:
        assert s.get(Citizen, ana) is None and s.get(Citizen, bea) is not None
        notes = [e.public_note for e in s.scalars(select(TicketEvent).where(TicketEvent.actor == "citizen"))]
        assert [n for n in notes if n] == [REDACTED] and len(notes) == 2  # her created event, her answer
        [audit] = s.scalars(select(PrivacyRequest)).all()  # forgotten without a chat request: still audited
        assert (audit.kind, audit.status, audit.decided_by, audit.citizen_id) == ("erasure", "done",
                                                                                 "staff:ana.lopez", None)
    invoke("forget", str(bea), "--staff", "ana.lopez", "--yes")
    assert not photo.exists()  # nobody uses it any more


def test_reject_and_listing(db, tmp_path: Path) -> None:
    factory, catalog = db
    ana, _ = _citizen_with_ticket(factory, catalog, "+528110000003", tmp_path / "x.jpg")
    with session_scope(factory) as s:
        request, created = request_erasure(s, s.get(Citizen, ana), "whatsapp")
        assert created
        rid = request.id
    out = invoke("requests").output
    assert f"R{rid}" in out and f"citizen {ana}" in out and "+528110000003" not in out and "Ana" not in out
    assert '"citizen_id"' in invoke("requests", "--json").output
    invoke("reject", f"R{rid}", "--staff", "ana", "--reason", "   ", code=2)
    invoke("reject", str(rid), "--staff", "ana", "--reason", "Obligación legal de conservar el expediente")
    assert "no pending deletion requests" in invoke("requests").output
    assert "rejected" in invoke("requests", "--all").output
    invoke("forget", f"R{rid}", "--staff", "ana", "--yes", code=1)  # already decided
    invoke("forget", "R999", "--staff", "ana", "--yes", code=1)
    invoke("forget", "999", "--staff", "ana", "--yes", code=1)
    invoke("forget", "abc", "--staff", "ana", "--yes", code=2)
    invoke("forget", str(ana), "--staff", " ", "--yes", code=2)
    with factory() as s:
        assert s.get(Citizen, ana) is not None


def test_forget_needs_an_actor_and_remove_files_ignores_missing(db, tmp_path: Path) -> None:
    factory, catalog = db
    ana, _ = _citizen_with_ticket(factory, catalog, "+528110000004", tmp_path / "missing.jpg")
    with session_scope(factory) as s, pytest.raises(Exception, match="staff"):
        forget_citizen(s, ana, actor=" ")
    with session_scope(factory) as s:
        result = forget_citizen(s, ana, actor="staff:ana")
    with factory() as s:
        assert remove_files(s, result.files) == 0  # the file never existed: nothing to do, no error


def test_forget_a_citizen_the_console_touched(db, tmp_path: Path) -> None:
    """A conversation made into a report in the console and a logged view of the full number: forgetting the
    citizen removes the link and the person from the access log, and keeps the log row (who looked, when, why)."""
    from ticketing.models import (
        ChannelIdentity,
        Conversation,
        ConversationTicket,
        PersonalDataAccess,
        StaffUser,
    )

    factory, catalog = db
    photo = tmp_path / "var" / "media" / "aa" / "one.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8\xff\xd9")
    ana, folio = _citizen_with_ticket(factory, catalog, "+528110000003", photo)
    with session_scope(factory) as s:
        identity = s.scalars(select(ChannelIdentity).where(ChannelIdentity.citizen_id == ana)).one()
        staff = StaffUser(username="beto@municipio.gob.mx", display_name="Beto", role="agent")
        conversation = Conversation(identity_id=identity.id, citizen_id=ana, slots={})
        s.add_all([staff, conversation])
        s.flush()
        ticket_id = s.scalars(select(Ticket.id).where(Ticket.folio == folio)).one()
        s.add(ConversationTicket(conversation_id=conversation.id, ticket_id=ticket_id))
        s.add(PersonalDataAccess(staff_id=staff.id, citizen_id=ana, identity_id=identity.id, what="phone",
                                 reason="Llamar por la emergencia", path="/console/inbox/1"))
    invoke("forget", str(ana), "--staff", "ana.lopez", "--yes")
    with factory() as s:
        assert s.get(Citizen, ana) is None and s.scalars(select(ConversationTicket)).all() == []
        [access] = s.scalars(select(PersonalDataAccess)).all()
        assert (access.citizen_id, access.identity_id, access.reason) == (None, None, "Llamar por la emergencia")
        assert s.scalars(select(Ticket).where(Ticket.folio == folio)).one().reporter_id is None
