"""The ``reporta catalog`` and ``reporta tickets`` commands, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
import typer
import yaml
from typer.testing import CliRunner

from reporta.settings import get_settings
from tests.ticketing.conftest import CATALOG_PATH
from ticketing.cli import register

MTY = ZoneInfo("America/Monterrey")
app = typer.Typer()
register(app)
runner = CliRunner()


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("REPORTA_DATABASE_URL", database_url)
    monkeypatch.setenv("REPORTA_DATA_DIR", str(CATALOG_PATH.parent))
    monkeypatch.setenv("REPORTA_TIMEZONE", "America/Monterrey")
    get_settings.cache_clear()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    yield invoke
    get_settings.cache_clear()


def _json(result) -> dict:
    return json.loads(result.stdout)


@time_machine.travel(datetime(2025, 9, 15, 10, 0, tzinfo=MTY), tick=False)
def test_create_show_list_update(cli) -> None:
    created = _json(cli("tickets", "create", "--category", "pothole", "--description", "Bache frente al OXXO",
                        "--lat", "25.6714", "--lon", "-100.3093", "--json"))
    folio = created["folio"]
    for key in ("folio", "category", "department", "status", "reason", "address", "lat", "lon", "created_at",
                "due_at", "channel", "events"):
        assert key in created
    assert created["department"] == "obras_publicas" and created["channel"] == "phone"
    assert created["created_at"] == "2025-09-15T10:00:00-06:00"
    assert created["due_at"] == "2025-09-30T10:00:00-06:00"  # 10 business days, skipping 16 September
    assert [e["kind"] for e in created["events"]] == ["created"]

    walk_in = cli("tickets", "create", "--category", "streetlight", "--description", "Luminaria apagada",
                  "--address", "Calle Hidalgo 200, Centro", "--channel", "walk_in")
    assert "Folio " in walk_in.stdout and "5 días hábiles" in walk_in.stdout

    listed = _json(cli("tickets", "list", "--status", "open", "--category", "pothole", "--json"))
    assert [t["folio"] for t in listed] == [folio] and listed[0]["events"][0]["kind"] == "created"
    table = cli("tickets", "list").stdout
    assert folio in table and "streetlight" in table

    cli("tickets", "update", folio, "--status", "in_progress", "--actor", "staff:ana")
    shown = _json(cli("tickets", "update", folio.replace("-", ""), "--status", "not_resolved", "--reason",
                      "needs_budget", "--note", "Se requiere repavimentar la calle completa.",
                      "--internal-note", "Obra para 2026", "--json"))
    assert shown["status"] == "not_resolved" and shown["reason"] == "needs_budget"
    last = shown["events"][-1]
    assert last["public_note"] == "Se requiere repavimentar la calle completa."
    assert last["internal_note"] == "Obra para 2026" and last["actor"] == "cli"
    assert _json(cli("tickets", "list", "--status", "open", "--category", "pothole", "--json")) == []

    text = cli("tickets", "show", folio).stdout
    assert "needs_budget" in text and "Se requiere repavimentar" in text and "by staff:ana" in text


def test_invalid_transition_is_refused_without_change(cli) -> None:
    folio = _json(cli("tickets", "create", "--category", "tree", "--description", "Rama caída",
                      "--address", "Parque Fundidora", "--json"))["folio"]
    cli("tickets", "update", folio, "--status", "resolved", "--note", "Se retiró la rama.")
    result = cli("tickets", "update", folio, "--status", "in_progress", code=1)
    assert "cannot change status from resolved to in_progress (use reopen)" in result.stderr
    result = cli("tickets", "update", folio, "--status", "not_resolved", code=1)
    shown = _json(cli("tickets", "show", folio, "--json"))
    assert shown["status"] == "resolved" and len(shown["events"]) == 2
    cli("tickets", "reopen", folio, "--note", "La rama sigue ahí")
    shown = _json(cli("tickets", "show", folio, "--json"))
    assert shown["status"] == "assigned" and shown["reopen_count"] == 1 and shown["events"][-1]["kind"] == "reopened"


def test_duplicate_scheduled_and_referral_options(cli) -> None:
    make = ("tickets", "create", "--category", "water_leak", "--description", "Fuga", "--address", "Av. Madero 1")
    a = _json(cli(*make, "--json"))["folio"]
    b = _json(cli(*make, "--json"))["folio"]
    cli("tickets", "update", b, "--status", "not_resolved", "--reason", "duplicate", code=2)
    dup = _json(cli("tickets", "update", b, "--status", "not_resolved", "--reason", "duplicate", "--duplicate-of", a,
                    "--json"))
    assert dup["reason"] == "duplicate" and dup["events"][-1]["data"] == {"duplicate_of": a}
    ref = _json(cli("tickets", "update", a, "--status", "not_resolved", "--reason", "out_of_jurisdiction", "--json"))
    assert ref["referred_to"].startswith("Servicios de Agua y Drenaje")
    c = _json(cli("tickets", "create", "--category", "park", "--description", "Juegos rotos", "--address",
                  "Plaza Zaragoza", "--json"))["folio"]
    cli("tickets", "update", c, "--status", "in_progress", "--reason", "scheduled", "--scheduled-for", "mañana",
        code=2)
    sched = _json(cli("tickets", "update", c, "--status", "in_progress", "--reason", "scheduled", "--scheduled-for",
                      "2030-01-15", "--json"))
    assert sched["scheduled_for"] == "2030-01-15T00:00:00-06:00" and sched["status"] == "in_progress"


@pytest.mark.parametrize(
    "args",
    [
        ("--category", "pothole", "--description", "x"),  # no location
        ("--category", "pothole", "--description", "x", "--lat", "25.6"),  # lat without lon
        ("--category", "pothole", "--description", "x", "--address", "A", "--channel", "telegram"),
    ],
)
def test_create_usage_errors(cli, args) -> None:
    cli("tickets", "create", *args, code=2)


def test_unknown_things_exit_1(cli) -> None:
    assert "not a valid folio" in cli("tickets", "show", "12", code=1).stderr
    assert "no ticket with folio" in cli("tickets", "show", "5724-0000", code=1).stderr
    assert "unknown category 'volcano'" in cli("tickets", "create", "--category", "volcano", "--description", "x",
                                               "--address", "A", code=1).stderr
    assert "unknown status" in cli("tickets", "list", "--status", "bogus", code=1).stderr


def _broken_catalog(tmp_path: Path) -> Path:
    raw = yaml.safe_load(CATALOG_PATH.read_text(encoding="utf-8"))
    raw["categories"]["pothole"]["department"] = "bacheo"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "catalog.yml").write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return data_dir


def test_invalid_catalog_exits_2_naming_the_entry(cli, tmp_path: Path, monkeypatch) -> None:
    assert "catalog OK" in cli("catalog", "check").stdout
    data_dir = _broken_catalog(tmp_path)
    result = cli("catalog", "check", "--path", str(data_dir / "catalog.yml"), code=2)
    assert f"{data_dir / 'catalog.yml'}: categories.pothole: department 'bacheo' is not defined" in result.stderr
    monkeypatch.setenv("REPORTA_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    for command in (("catalog", "check"), ("tickets", "list"), ("tickets", "show", "5724-0000")):
        assert "categories.pothole" in cli(*command, code=2).stderr


def test_real_entry_point_exit_code(tmp_path: Path) -> None:
    env = {**os.environ, "REPORTA_DATA_DIR": str(_broken_catalog(tmp_path)),
           "REPORTA_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    proc = subprocess.run([sys.executable, "-c", "from reporta.cli import main; main()", "catalog", "check"],
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "catalog.yml: categories.pothole: department 'bacheo'" in proc.stderr
