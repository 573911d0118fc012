"""``reporta staff add | list | disable | reset-password`` and the console's small pure helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from reporta.cli import app
from reporta.settings import get_settings
from ticketing.db import make_engine, make_session_factory
from ticketing.models import StaffSession, StaffUser
from web.console import passwords, sessions, throttle
from web.console.masking import mask_identifier, mask_phone

DATA_DIR = Path(__file__).resolve().parents[3] / "data"


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REPORTA_DATABASE_URL", database_url)
    monkeypatch.setenv("REPORTA_DATA_DIR", str(DATA_DIR))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args, stdin=None: runner.invoke(app, ["staff", *args], input=stdin)
    get_settings.cache_clear()


def test_staff_commands(cli, database_url: str) -> None:
    added = cli("add", "Ana@Municipio.gob.mx", "--name", "Ana López", "--department", "obras_publicas",
                "--password-stdin", stdin="una-clave-larga-1\n")
    assert added.exit_code == 0, added.output
    generated = cli("add", "admin@municipio.gob.mx", "--name", "Admin", "--role", "admin", "--generate")
    assert generated.exit_code == 0 and "password (shown once): " in generated.output
    shown = generated.output.split("password (shown once): ")[1].strip()
    assert len(shown) >= passwords.MIN_LENGTH
    assert cli("add", "ana@municipio.gob.mx", "--name", "Otra", "--department", "obras_publicas",
               "--generate").exit_code == 1  # the e-mail is taken (case-insensitive)
    assert cli("add", "x@municipio.gob.mx", "--name", "X", "--department", "no_existe", "--generate").exit_code == 1
    assert cli("add", "y@municipio.gob.mx", "--name", "Y", "--generate").exit_code == 2  # agent without department
    assert cli("add", "z@municipio.gob.mx", "--name", "Z", "--role", "jefe", "--generate").exit_code == 2
    assert cli("add", "w@municipio.gob.mx", "--name", "W", "--department", "obras_publicas", "--password-stdin",
               stdin="corta\n").exit_code == 1
    listed = cli("list")
    assert listed.exit_code == 0 and "ana@municipio.gob.mx\tAna López\tagent\tobras_publicas\tactive" in listed.output
    assert "\tadmin\t-\tactive" in listed.output

    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    try:
        with factory() as s:
            user = s.scalars(select(StaffUser).where(StaffUser.username == "ana@municipio.gob.mx")).one()
            assert passwords.verify(user.password_hash, "una-clave-larga-1")[0]
            raw = sessions.create(s, user, datetime.now(UTC), address="127.0.0.1", user_agent="test")
            s.commit()
        reset = cli("reset-password", "ana@municipio.gob.mx", "--generate")
        assert reset.exit_code == 0 and "1 session(s) ended" in reset.output
        with factory() as s:
            assert sessions.load(s, raw, datetime.now(UTC)) is None
            user = s.scalars(select(StaffUser).where(StaffUser.username == "ana@municipio.gob.mx")).one()
            raw = sessions.create(s, user, datetime.now(UTC), address=None, user_agent=None)
            s.commit()
        disabled = cli("disable", "ana@municipio.gob.mx")
        assert disabled.exit_code == 0 and "1 session(s) ended" in disabled.output
        with factory() as s:
            assert sessions.load(s, raw, datetime.now(UTC)) is None
            assert s.get(StaffSession, sessions.digest(raw)).revoked_at is not None
        assert "\tdisabled" in cli("list").output
        assert cli("disable", "nadie@municipio.gob.mx").exit_code == 1
    finally:
        engine.dispose()


def test_masking() -> None:
    assert mask_phone("+528112345678") == "+52 81 •••• 5678"
    assert mask_phone("+5218112345678") == "+52 81 •••• 5678"
    assert mask_phone("+15551234567").endswith("•••• 4567") and "555123" not in mask_phone("+15551234567")
    assert mask_phone(None) == "—" and mask_identifier("987654321") == "•••321"


def test_lock_window_arithmetic() -> None:
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    five = [now - timedelta(minutes=m) for m in (0, 2, 4, 6, 8)]
    assert throttle._locked_until(five, 5, now) == now + throttle.LOCK
    spread = [now - timedelta(minutes=m) for m in (0, 5, 10, 15, 20)]  # 5 failures over 20 minutes: no lock
    assert throttle._locked_until(spread, 5, now) is None
    assert throttle._locked_until(five, 5, now + timedelta(minutes=16)) is None
