"""A status change made by staff from the ``reporta`` CLI reaches the citizen who reported it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from reporta.cli import app
from reporta.settings import get_settings
from ticketing.catalog import load_catalog
from ticketing.citizens import get_or_create_identity
from ticketing.db import make_engine, make_session_factory, session_scope
from ticketing.models import OutboxMessage
from ticketing.service import TicketService

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def test_cli_update_enqueues_an_update_for_the_reporter(database_url: str, monkeypatch) -> None:
    monkeypatch.setenv("REPORTA_DATABASE_URL", database_url)
    monkeypatch.setenv("REPORTA_DATA_DIR", str(DATA_DIR))
    get_settings.cache_clear()
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        with session_scope(factory) as s:
            identity = get_or_create_identity(s, "telegram", "777001")
            ticket = TicketService(s, load_catalog(DATA_DIR / "catalog.yml")).create(
                category="pothole", description="Bache enorme", channel="telegram", actor="citizen:1",
                lat=25.67, lon=-100.31, reporter_identity=identity)
            folio, identity_id = ticket.folio, identity.id
        result = CliRunner().invoke(app, ["tickets", "update", folio, "--status", "resolved",
                                          "--note", "Se rellenó el bache con asfalto."])
        assert result.exit_code == 0, result.output
        with factory() as s:
            rows = s.scalars(select(OutboxMessage).where(OutboxMessage.identity_id == identity_id)).all()
        assert len(rows) == 1
        assert folio in rows[0].body and "asfalto" in rows[0].body
    finally:
        engine.dispose()
        get_settings.cache_clear()
