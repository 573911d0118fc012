"""Channel senders against the fake provider servers: real SDKs (PTB, twilio), real HTTP, error mapping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.telegram import TelegramChannel
from bot.twilio import TwilioChannel
from reporta.messages import Button, OutboundMessage, PermanentSendError, TransientSendError
from reporta.settings import Settings
from tests.channels.conftest import PUBLIC_URL, SMS_NUMBER, TG_TOKEN, TW_SID, TW_TOKEN, WA_NUMBER
from tests.fakes.telegram_api import FakeTelegram, reply_markup
from tests.fakes.twilio_api import FakeTwilio


def _settings(tmp_path: Path, **kw) -> Settings:
    return Settings(_env_file=None, var_dir=tmp_path / "var", public_url=PUBLIC_URL, **kw)


@pytest.fixture
def telegram(tmp_path: Path, fake_telegram: FakeTelegram) -> Iterator[TelegramChannel]:
    ch = TelegramChannel(_settings(tmp_path, telegram_token=TG_TOKEN, telegram_api_base_url=fake_telegram.base_url),
                         location_button_label="📍 Enviar mi ubicación", send_timeout=2.0)
    yield ch
    ch.close()


@pytest.fixture
def twilio(tmp_path: Path, fake_twilio: FakeTwilio) -> Iterator[TwilioChannel]:
    ch = TwilioChannel(_settings(tmp_path, twilio_account_sid=TW_SID, twilio_auth_token=TW_TOKEN,
                                 twilio_api_base_url=fake_twilio.base_url, twilio_whatsapp_number=WA_NUMBER,
                                 twilio_sms_number=SMS_NUMBER), timeout=1.0)
    yield ch
    ch.close()


def out(channel: str, external_id: str, text: str = "Hola", **kw) -> OutboundMessage:
    return OutboundMessage(channel=channel, external_id=external_id, text=text, **kw)


# --- Telegram -----------------------------------------------------------------------------------------

def test_telegram_send_text_with_inline_buttons(telegram: TelegramChannel, fake_telegram: FakeTelegram) -> None:
    receipt = telegram.sender.send(out("telegram", "42", "¿Es correcto?",
                                       buttons=(Button("Sí", "yes"), Button("No", "no"))))
    [call] = fake_telegram.calls("sendMessage")
    assert call.path == f"/bot{TG_TOKEN}/sendMessage"
    assert call.params["chat_id"] == "42" and call.params["text"] == "¿Es correcto?"
    markup = reply_markup(call)
    assert [[b["text"], b["callback_data"]] for row in markup["inline_keyboard"] for b in row] == [
        ["Sí", "yes"], ["No", "no"]]
    assert receipt.provider_message_id and receipt.provider_message_id.isdigit()


def test_telegram_location_request_is_a_reply_keyboard(telegram: TelegramChannel, fake_telegram: FakeTelegram) -> None:
    telegram.sender.send(out("telegram", "42", "¿Dónde está?", request_location=True))
    markup = reply_markup(fake_telegram.calls("sendMessage")[0])
    button = markup["keyboard"][0][0]
    assert button["request_location"] is True and button["text"] == "📍 Enviar mi ubicación"
    assert markup["one_time_keyboard"] is True


def test_telegram_long_text_is_split(telegram: TelegramChannel, fake_telegram: FakeTelegram) -> None:
    text = ("palabra " * 1000).strip()  # ~8,000 characters
    telegram.sender.send(out("telegram", "42", text))
    pieces = fake_telegram.sent_texts(42)
    assert len(pieces) == 2 and all(len(p) <= 4096 for p in pieces)
    assert " ".join(pieces) == text


def test_telegram_send_photo_from_file(telegram: TelegramChannel, fake_telegram: FakeTelegram, tmp_path: Path) -> None:
    photo = tmp_path / "evidencia.jpg"
    photo.write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    telegram.sender.send(out("telegram", "42", "Así quedó", media_path=str(photo)))
    [call] = fake_telegram.calls("sendPhoto")
    assert call.params["caption"] == "Así quedó" and call.files["photo"] == b"\xff\xd8\xff\xe0fake-jpeg"


def test_telegram_429_is_transient_with_retry_after(telegram: TelegramChannel, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail("429", retry_after=3, match="sendMessage")
    with pytest.raises(TransientSendError) as err:
        telegram.sender.send(out("telegram", "42"))
    assert err.value.retry_after == 3


def test_telegram_500_is_transient(telegram: TelegramChannel, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail("500")
    with pytest.raises(TransientSendError):
        telegram.sender.send(out("telegram", "42"))
    telegram.sender.send(out("telegram", "42"))  # the next one goes through
    assert fake_telegram.sent_texts(42) == ["Hola"]


def test_telegram_blocked_is_permanent_and_unreachable(telegram: TelegramChannel, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail("403")
    with pytest.raises(PermanentSendError) as err:
        telegram.sender.send(out("telegram", "42"))
    assert err.value.code == 403 and err.value.unreachable is True


def test_telegram_hang_is_transient(telegram: TelegramChannel, fake_telegram: FakeTelegram) -> None:
    fake_telegram.fail("hang", hang_seconds=5)
    started = time.monotonic()
    with pytest.raises(TransientSendError):
        telegram.sender.send(out("telegram", "42"))
    assert time.monotonic() - started < 4


# --- Twilio -------------------------------------------------------------------------------------------

def test_twilio_whatsapp_send_numbered_options(twilio: TwilioChannel, fake_twilio: FakeTwilio) -> None:
    receipt = twilio.senders["whatsapp"].send(out("whatsapp", "+528112345679", "¿Es correcto?",
                                                  buttons=(Button("Sí", "yes"), Button("No", "no"))))
    [call] = fake_twilio.calls("Messages.json")
    assert call.path == f"/2010-04-01/Accounts/{TW_SID}/Messages.json"
    assert call.params["To"] == "whatsapp:+528112345679" and call.params["From"] == f"whatsapp:{WA_NUMBER}"
    assert call.params["Body"] == "¿Es correcto?\n\n1. Sí\n2. No"
    assert call.params["StatusCallback"] == PUBLIC_URL + "/webhooks/twilio/status"
    assert receipt.provider_message_id and receipt.provider_message_id.startswith("SM")


def test_twilio_sms_send_and_media_url(twilio: TwilioChannel, fake_twilio: FakeTwilio) -> None:
    twilio.senders["sms"].send(out("sms", "+528112345678", "Folio 1234-5678", media_url="https://x.example/a.jpg"))
    [params] = fake_twilio.sent()
    assert params["To"] == "+528112345678" and params["From"] == SMS_NUMBER
    assert params["MediaUrl"] == "https://x.example/a.jpg"


def test_twilio_content_template(twilio: TwilioChannel, fake_twilio: FakeTwilio) -> None:
    twilio.senders["whatsapp"].send(out("whatsapp", "+528112345679", "fallback", content_sid="HX123",
                                        content_variables={"1": "1234-5678"}))
    [params] = fake_twilio.sent()
    assert params["ContentSid"] == "HX123" and params["ContentVariables"] == '{"1": "1234-5678"}'
    assert "Body" not in params


@pytest.mark.parametrize(("kind", "kw", "expected", "code", "unreachable"), [
    ("500", {}, TransientSendError, None, None),
    ("429", {}, TransientSendError, None, None),
    ("error", {"code": 21211, "status": 400}, PermanentSendError, 21211, True),
    ("error", {"code": 63016, "status": 400}, PermanentSendError, 63016, False),
    ("error", {"code": 21602, "status": 400}, PermanentSendError, 21602, False),
])
def test_twilio_error_mapping(twilio: TwilioChannel, fake_twilio: FakeTwilio, kind, kw, expected, code,
                              unreachable) -> None:
    fake_twilio.fail(kind, **kw)
    with pytest.raises(expected) as err:
        twilio.senders["whatsapp"].send(out("whatsapp", "+528112345679"))
    if code is not None:
        assert err.value.code == code and err.value.unreachable is unreachable


def test_twilio_hang_is_transient(twilio: TwilioChannel, fake_twilio: FakeTwilio) -> None:
    fake_twilio.fail("hang", hang_seconds=5)
    with pytest.raises(TransientSendError):
        twilio.senders["sms"].send(out("sms", "+528112345678"))


def test_twilio_wrong_credentials_are_permanent(tmp_path: Path, fake_twilio: FakeTwilio) -> None:
    ch = TwilioChannel(_settings(tmp_path, twilio_account_sid=TW_SID, twilio_auth_token="wrong",
                                 twilio_api_base_url=fake_twilio.base_url, twilio_sms_number=SMS_NUMBER))
    with pytest.raises(PermanentSendError) as err:
        ch.senders["sms"].send(out("sms", "+528112345678"))
    assert err.value.unreachable is False
    assert fake_twilio.calls("Messages.json")[0].status == 401
