"""`reporta telegram set-webhook` registers the webhook with the secret, through the real Bot API client."""

from __future__ import annotations

from typer.testing import CliRunner

from reporta.cli import app
from reporta.settings import get_settings
from tests.channels.conftest import TG_SECRET, TG_TOKEN
from tests.fakes.telegram_api import FakeTelegram


def test_set_webhook(fake_telegram: FakeTelegram, monkeypatch) -> None:
    monkeypatch.setenv("REPORTA_TELEGRAM_TOKEN", TG_TOKEN)
    monkeypatch.setenv("REPORTA_TELEGRAM_WEBHOOK_SECRET", TG_SECRET)
    monkeypatch.setenv("REPORTA_TELEGRAM_API_BASE_URL", fake_telegram.base_url)
    monkeypatch.setenv("REPORTA_PUBLIC_URL", "https://reporta.example.gob.mx/")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["telegram", "set-webhook"])
        assert result.exit_code == 0, result.output
        assert fake_telegram.webhook["url"] == "https://reporta.example.gob.mx/webhooks/telegram"
        assert fake_telegram.webhook["secret_token"] == TG_SECRET
        monkeypatch.setenv("REPORTA_PUBLIC_URL", "http://localhost:8000")
        get_settings.cache_clear()
        refused = CliRunner().invoke(app, ["telegram", "set-webhook"])
        assert refused.exit_code == 2 and "https" in refused.output
    finally:
        get_settings.cache_clear()
