"""Issue 13 item 11 (and 8 from the CLI): the simulator shows what a citizen would see — a proactive update is
printed when it is sent, without a keystroke, and only in that citizen's terminal; `reporta jobs run` runs the due
jobs now (the "¿ya quedó?" survey can be tried at once); a past `--scheduled-for` is refused with a clear error.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from bot.simulator import Simulator
from reporta.cli import app
from reporta.settings import Settings, get_settings
from tests.channels.conftest import wait_until
from ticketing.models import OutboxMessage, OutboxStatus, Ticket

DATA_DIR = Path(__file__).resolve().parent.parent.parent / "data"


def _cli(settings: Settings, monkeypatch, *args: str):
    monkeypatch.setenv("REPORTA_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("REPORTA_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("REPORTA_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("REPORTA_NLU_CACHE_DIR", str(settings.nlu_cache_dir))
    monkeypatch.setenv("REPORTA_QUIET_HOURS_START", settings.quiet_hours_start)  # the test may run at night
    monkeypatch.setenv("REPORTA_QUIET_HOURS_END", settings.quiet_hours_end)
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(app, list(args))
    finally:
        get_settings.cache_clear()


def test_updates_print_when_sent_and_only_in_their_citizens_terminal(settings: Settings, nlu_cache: Path,
                                                                     monkeypatch) -> None:
    settings = settings.model_copy(update={"nlu_cache_dir": nlu_cache, "quiet_hours_start": "00:00",
                                           "quiet_hours_end": "00:00"})
    ana_lines: list[str] = []
    beto_lines: list[str] = []
    ana = Simulator(settings, mimic="whatsapp", user="ana", out=ana_lines.append)
    beto = Simulator(settings, mimic="sms", user="beto", out=beto_lines.append)
    try:
        ana.send("hay un bache enorme en Hidalgo 120 col. Centro")
        ana.send("no tengo foto")
        ana.send("1")
        with ana.runtime.session_factory() as s:
            folio = s.scalars(select(Ticket)).one().folio
        ana.start_background()
        beto.start_background()
        before_ana, before_beto = len(ana_lines), len(beto_lines)
        result = _cli(settings, monkeypatch, "tickets", "update", folio, "--status", "in_progress",
                      "--note", "La cuadrilla va en camino.")
        assert result.exit_code == 0, result.output
        # No keystroke: ana's terminal prints the update on its own; beto's never sees it.
        wait_until(lambda: any("cuadrilla va en camino" in line for line in ana_lines[before_ana:]), timeout=10)
        assert not any("cuadrilla" in line for line in beto_lines[before_beto:])
        # The terminal prints while the dispatcher sends; the outcome is recorded right after the send returns
        # (at-least-once: sent first, then recorded), so the row reaches SENT a moment after the line appears.
        def _status() -> OutboxStatus | None:
            with ana.runtime.session_factory() as s:
                row = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "status_in_progress")).one()
                return row.status if row.status in (OutboxStatus.SENT, OutboxStatus.DELIVERED) else None

        assert wait_until(_status, timeout=10)
    finally:
        ana.close()
        beto.close()


def test_jobs_run_sends_the_survey_now(settings: Settings, nlu_cache: Path, monkeypatch) -> None:
    settings = settings.model_copy(update={"nlu_cache_dir": nlu_cache, "quiet_hours_start": "00:00",
                                           "quiet_hours_end": "00:00"})
    lines: list[str] = []
    sim = Simulator(settings, mimic="telegram", user="carla", out=lines.append)
    try:
        sim.send("la lámpara de Morelos 45 col Centro no prende")
        sim.send("no tengo foto")
        sim.send("/boton 1")
        with sim.runtime.session_factory() as s:
            folio = s.scalars(select(Ticket)).one().folio
        assert _cli(settings, monkeypatch, "tickets", "update", folio, "--status", "resolved").exit_code == 0
        result = _cli(settings, monkeypatch, "jobs", "run", "--surveys-now")
        assert result.exit_code == 0, result.output
        assert "send_surveys=1" in result.output and "surveys made due now: 1" in result.output
        sim.runtime.dispatcher.drain()
        assert any("¿Ya quedó" in line or "¿ya quedó" in line for line in lines), lines[-3:]
        sim.send("/boton 1")  # "Sí": closed as confirmed, then the rating
        with sim.runtime.session_factory() as s:
            assert s.scalars(select(Ticket)).one().confirmation == "confirmed"
    finally:
        sim.close()


def test_a_past_scheduled_date_is_refused_with_a_clear_error(settings: Settings, nlu_cache: Path,
                                                             monkeypatch) -> None:
    settings = settings.model_copy(update={"nlu_cache_dir": nlu_cache})
    sim = Simulator(settings, mimic="sms", user="dani", out=lambda _: None)
    try:
        sim.send("hay un bache en Hidalgo 120 col Centro")
        sim.send("si")
        with sim.runtime.session_factory() as s:
            folio = s.scalars(select(Ticket)).one().folio
    finally:
        sim.close()
    result = _cli(settings, monkeypatch, "tickets", "update", folio, "--status", "in_progress", "--reason",
                  "scheduled", "--scheduled-for", "2026-11-01")
    assert result.exit_code == 1 and "in the past" in result.output
