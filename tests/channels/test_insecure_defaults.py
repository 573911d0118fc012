"""Insecure defaults and signatures (issue 14, item 8): a Telegram token without a webhook secret refuses the
webhook (and says so); Twilio webhooks are checked exactly as the SDK's ``RequestValidator`` checks them:
every value of a repeated field, the SHA-256 signature of SharedKey webhooks, and ``bodySHA256``."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from reporta.app import create_app
from reporta.cli import app as cli
from reporta.runtime import Runtime
from reporta.settings import Settings, get_settings
from tests.channels.conftest import PUBLIC_URL, TG_TOKEN, TW_SID, TW_TOKEN, AppServer, channel_settings_for
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio


class Multi(dict):
    """What Twilio signs: a form with repeated keys (the validator asks ``getall``)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        super().__init__()
        self.pairs = pairs
        for k, _ in pairs:
            self[k] = None

    def getall(self, key: str) -> list[str]:
        return [v for k, v in self.pairs if k == key]


@pytest.fixture
def unsigned_telegram(settings: Settings, fake_telegram: FakeTelegram, nlu_cache, caplog) -> Iterator[AppServer]:
    s = channel_settings_for(settings, fake_telegram, None, nlu_cache).model_copy(
        update={"telegram_webhook_secret": None})
    with caplog.at_level(logging.WARNING):
        rt = Runtime.from_settings(s, migrate=False)
    try:
        with AppServer(create_app(rt)) as server:
            yield server
    finally:
        rt.close()


def test_telegram_without_a_secret_refuses_the_webhook_loudly(unsigned_telegram: AppServer, caplog) -> None:
    assert any("REPORTA_TELEGRAM_WEBHOOK_SECRET is not set" in r.getMessage() for r in caplog.get_records("setup"))
    update = {"update_id": 1, "message": {"message_id": 1, "date": 1764547200, "text": "hola",
                                          "chat": {"id": 5, "type": "private"}}}
    response = unsigned_telegram.telegram(update, secret=None)
    assert response.status_code == 403 and "secret" in response.text


def test_set_webhook_without_a_secret_is_an_error(fake_telegram: FakeTelegram, monkeypatch) -> None:
    monkeypatch.setenv("REPORTA_TELEGRAM_TOKEN", TG_TOKEN)
    monkeypatch.delenv("REPORTA_TELEGRAM_WEBHOOK_SECRET", raising=False)
    monkeypatch.setenv("REPORTA_TELEGRAM_API_BASE_URL", fake_telegram.base_url)
    monkeypatch.setenv("REPORTA_PUBLIC_URL", "https://reporta.example.gob.mx")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["telegram", "set-webhook"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "WEBHOOK_SECRET" in result.output
    assert fake_telegram.webhook == {}


@pytest.fixture
def twilio_app(settings: Settings, fake_twilio: FakeTwilio, nlu_cache) -> Iterator[AppServer]:
    s = channel_settings_for(settings, None, fake_twilio, nlu_cache, twilio_webhook_signing_key="shared-key-secret")
    rt = Runtime.from_settings(s, migrate=False)
    try:
        with AppServer(create_app(rt)) as server:
            yield server
    finally:
        rt.close()


BASE = [("MessageSid", "SM" + "c" * 32), ("AccountSid", TW_SID), ("From", "+528112345678"),
        ("To", "+528100000000"), ("Body", "hola"), ("NumMedia", "0")]


def _post(app: AppServer, pairs: list[tuple[str, str]], headers: dict[str, str], query: str = "") -> int:
    path = "/webhooks/twilio" + (f"?{query}" if query else "")
    return app.client.post(path, content=urlencode(pairs).encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded", **headers}).status_code


def test_a_form_signed_over_repeated_keys_is_accepted(twilio_app: AppServer) -> None:
    pairs = [*BASE, ("Tag", "b"), ("Tag", "a")]
    sig = RequestValidator(TW_TOKEN).compute_signature(PUBLIC_URL + "/webhooks/twilio", Multi(pairs))
    assert _post(twilio_app, pairs, {"X-Twilio-Signature": sig}) == 200
    # the same signature over a form where one repeated value changed is refused
    assert _post(twilio_app, [*BASE, ("Tag", "b"), ("Tag", "z")], {"X-Twilio-Signature": sig}) == 403


def test_sha256_shared_key_signatures(twilio_app: AppServer) -> None:
    pairs = [(k, v.replace("c" * 32, "d" * 32)) for k, v in BASE]
    settings_header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    sig = RequestValidator("shared-key-secret").compute_signature(PUBLIC_URL + "/webhooks/twilio", dict(pairs),
                                                                   algorithm="HMAC_SHA256")
    ok = {"X-Twilio-Signature": sig, "X-Twilio-Webhooks-Signature-Settings": settings_header}
    assert _post(twilio_app, pairs, ok) == 200
    # signed with SHA-1 but claiming SHA-256, or with the wrong key: refused
    sha1 = RequestValidator("shared-key-secret").compute_signature(PUBLIC_URL + "/webhooks/twilio", dict(pairs))
    assert _post(twilio_app, pairs, {**ok, "X-Twilio-Signature": sha1}) == 403
    wrong = RequestValidator(TW_TOKEN).compute_signature(PUBLIC_URL + "/webhooks/twilio", dict(pairs),
                                                         algorithm="HMAC_SHA256")
    assert _post(twilio_app, pairs, {**ok, "X-Twilio-Signature": wrong}) == 403
    unknown = {**ok, "X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"}
    assert _post(twilio_app, pairs, unknown) == 403


def test_body_sha256_is_checked_against_the_raw_body(twilio_app: AppServer) -> None:
    body = '{"MessageSid": "SMx"}'
    digest = hashlib.sha256(body.encode()).hexdigest()
    query = f"bodySHA256={digest}"
    url = f"{PUBLIC_URL}/webhooks/twilio?{query}"
    sig = RequestValidator(TW_TOKEN).compute_signature(url, {})
    path = f"/webhooks/twilio?{query}"
    signed = twilio_app.client.post(path, content=body.encode(), headers={
        "Content-Type": "application/json", "X-Twilio-Signature": sig})
    assert signed.status_code == 400  # the signature holds; a JSON body is not a message we take
    tampered = twilio_app.client.post(path, content=body.replace("x", "y").encode(), headers={
        "Content-Type": "application/json", "X-Twilio-Signature": sig})
    assert tampered.status_code == 403
