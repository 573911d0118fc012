"""Malformed input at the edge (issue 14, item 1): every reproduction of the outside attack, on both databases.

Each case is posted through the real webhook; the answer is never a 5xx (Telegram: 200 for an Update we cannot
use, so it is not redelivered for hours; 400 for what is not an Update at all), whatever is stored fits its
columns and is clean, and nothing stays unprocessed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from reporta.runtime import Runtime
from tests.channels.conftest import TG_SECRET, TW_SID, AppServer, settle
from ticketing.models import Citizen, Direction, InboundState, Message

CHAT = 700100


def tg(update_id: int, **message: Any) -> dict[str, Any]:
    msg = {"message_id": 1, "date": 1764547200, "chat": {"id": CHAT, "type": "private"},
           "from": {"id": CHAT, "is_bot": False, "first_name": "Ana"}, **message}
    return {"update_id": update_id, "message": msg}


def post_raw(app: AppServer, body: bytes) -> int:
    return app.client.post("/webhooks/telegram", content=body, headers={
        "X-Telegram-Bot-Api-Secret-Token": TG_SECRET, "Content-Type": "application/json"}).status_code


def inbound(rt: Runtime) -> list[Message]:
    with rt.session_factory() as s:
        return list(s.scalars(select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)))


def _no_bad_chars(value: Any) -> bool:
    text = json.dumps(value, ensure_ascii=False)
    return "\\u0000" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


# (name, update, expected status, stored?)
TELEGRAM_CASES: list[tuple[str, Any, int, bool]] = [
    ("text is a number", tg(1, text=123), 200, True),
    ("text is a list", tg(2, text=["a"]), 200, True),
    ("NUL in text", tg(3, text="hola\u0000mundo"), 200, True),
    ("NUL in first_name", tg(4, text="hola", **{"from": {"id": CHAT, "is_bot": False, "first_name": "A\u0000na"}}),
     200, True),
    ("chat id of 71 digits", tg(5, text="hola", chat={"id": 10**70, "type": "private"}), 200, False),
    ("update_id of 101 digits", {"update_id": 10**100, "message": tg(6, text="x")["message"]}, 400, False),
    ("201-character first_name", tg(7, text="hola", **{"from": {"id": CHAT, "is_bot": False, "first_name": "N" * 201}}),
     200, True),
    ("message without chat", {"update_id": 8, "message": {"message_id": 1, "date": 1764547200, "text": "hola"}},
     200, False),
    ("callback_query without from", {"update_id": 9, "callback_query": {
        "id": "cb1", "data": "yes", "chat_instance": "1", "message": tg(0)["message"]}}, 200, False),
    ("venue without location", tg(10, venue={"title": "Plaza", "address": "Centro"}), 200, False),
    ("photo width is a string", tg(11, photo=[{"file_id": "AgAC1", "file_unique_id": "u1", "width": "9",
                                               "height": 9, "file_size": 10}]), 200, True),
    ("document mime_type is a number", tg(12, document={"file_id": "BQAC1", "file_unique_id": "u2", "mime_type": 5}),
     200, True),
    ("document file_size is a string", tg(13, document={"file_id": "BQAC2", "file_unique_id": "u3",
                                                        "mime_type": "image/jpeg", "file_size": "1"}), 200, True),
    ("location is a string", tg(14, location="norte"), 200, False),
    ("latitude out of range", tg(15, location={"latitude": 500.0, "longitude": 1.0}), 200, True),
    ("date is text", tg(16, text="hola", date="ayer"), 200, False),
    ("chat type is a number", tg(17, text="hola", chat={"id": CHAT, "type": 5}), 200, False),
    ("update is a list", [1, 2, 3], 400, False),
    ("update_id is a string", {"update_id": "1", "message": {}}, 400, False),
    ("negative update_id", {"update_id": -1}, 400, False),
    ("unknown update kind", {"update_id": 18, "x" * 300: {}}, 200, False),
]


@pytest.mark.parametrize(("name", "update", "status", "stored"), TELEGRAM_CASES, ids=[c[0] for c in TELEGRAM_CASES])
def test_malformed_telegram_updates(app: AppServer, runtime: Runtime, name: str, update: Any, status: int,
                                    stored: bool) -> None:
    assert app.telegram(update).status_code == status
    rows = inbound(runtime)
    assert len(rows) == (1 if stored else 0)
    settle(runtime, timeout=10)
    for row in inbound(runtime):
        assert row.state == InboundState.PROCESSED
        assert _no_bad_chars(row.payload) and (row.text is None or "\x00" not in row.text)
    with runtime.session_factory() as s:
        for citizen in s.scalars(select(Citizen)):
            assert citizen.display_name is None or (len(citizen.display_name) <= 200
                                                    and "\x00" not in citizen.display_name)


RAW_TELEGRAM: list[tuple[str, bytes, int]] = [
    ("nested 10,000 deep", b'{"update_id": 1, "message": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400),
    ("lone surrogate in text", b'{"update_id": 2, "message": {"message_id": 1, "date": 1764547200, "chat": {"id": 1,'
                               b' "type": "private"}, "text": "a\\ud800b"}}', 200),
    ("lone surrogate in a key", b'{"update_id": 3, "\\udc00": 1}', 200),
    ("NaN latitude", b'{"update_id": 4, "message": {"message_id": 1, "date": 1764547200, "chat": {"id": 1, "type":'
                     b' "private"}, "location": {"latitude": NaN, "longitude": 1}}}', 400),
    ("Infinity", b'{"update_id": Infinity}', 400),
    ("not UTF-8", b'{"update_id": 5, "message": {"text": "\xff\xfe"}}', 400),
    ("empty body", b"", 400),
    ("not JSON", b"{not json", 400),
]


@pytest.mark.parametrize(("name", "body", "status"), RAW_TELEGRAM, ids=[c[0] for c in RAW_TELEGRAM])
def test_malformed_telegram_bodies(app: AppServer, runtime: Runtime, name: str, body: bytes, status: int) -> None:
    assert post_raw(app, body) == status
    settle(runtime, timeout=10)
    for row in inbound(runtime):
        assert row.state == InboundState.PROCESSED and _no_bad_chars(row.payload)
        assert row.text == "ab"


def test_cleaned_fields_are_what_was_sent_minus_the_bad_parts(app: AppServer, runtime: Runtime) -> None:
    assert app.telegram(tg(40, text="hola\u0000 mundo" + "x" * 5000,
                           **{"from": {"id": CHAT, "is_bot": False, "first_name": "Ñ" * 150,
                                       "last_name": "Z" * 150}})).status_code == 200
    [row] = inbound(runtime)
    assert row.text.startswith("hola mundo") and len(row.text) == 4096
    assert len(row.payload["display_name"]) == 200


def signed_form(**fields: str) -> dict[str, str]:
    base = {"MessageSid": "SM" + "a" * 32, "AccountSid": TW_SID, "From": "+528112345678", "To": "+528100000000",
            "Body": "hola", "NumMedia": "0"}
    base.update(fields)
    return base


TWILIO_CASES: list[tuple[str, dict[str, str], int, bool]] = [
    ("NUL in Body", signed_form(Body="hay\u0000 un bache"), 200, True),
    ("81-character MessageSid", signed_form(MessageSid="SM" + "b" * 79), 400, False),
    ("201-character ProfileName", signed_form(ProfileName="P" * 201, From="whatsapp:+528112345679"), 200, True),
    ("NUL in ProfileName", signed_form(ProfileName="Jua\u0000n", From="whatsapp:+528112345679"), 200, True),
    ("NaN Latitude", signed_form(Latitude="NaN", Longitude="1", From="whatsapp:+528112345679"), 400, False),
    ("infinite Longitude", signed_form(Latitude="1", Longitude="inf", From="whatsapp:+528112345679"), 400, False),
    ("NumMedia of 5000 digits", signed_form(NumMedia="9" * 5000), 400, False),
    ("From is not a number", signed_form(From="hola"), 400, False),
    ("NUL in MediaUrl", signed_form(NumMedia="1", MediaUrl0="https://api.twilio.com/\u0000x",
                                    MediaContentType0="image/jpeg"), 200, True),
]


@pytest.mark.parametrize(("name", "form", "status", "stored"), TWILIO_CASES, ids=[c[0] for c in TWILIO_CASES])
def test_malformed_signed_twilio_forms(app: AppServer, runtime: Runtime, name: str, form: dict[str, str], status: int,
                                       stored: bool) -> None:
    assert app.twilio(form).status_code == status
    assert len(inbound(runtime)) == (1 if stored else 0)
    settle(runtime, timeout=10)
    for row in inbound(runtime):
        assert row.state == InboundState.PROCESSED and _no_bad_chars(row.payload)
        name_ = row.payload["display_name"]
        assert name_ is None or len(name_) <= 200


STATUS_CASES: list[tuple[str, dict[str, str], int]] = [
    ("NUL in MessageSid", {"MessageSid": "SM\u0000x", "MessageStatus": "delivered"}, 200),
    ("81-character MessageSid", {"MessageSid": "SM" + "x" * 79, "MessageStatus": "delivered"}, 400),
    ("ErrorCode of 100 characters", {"MessageSid": "SM" + "y" * 32, "MessageStatus": "failed", "ErrorCode": "9" * 100},
     200),
    ("status of 500 characters", {"MessageSid": "SM" + "z" * 32, "MessageStatus": "d" * 500}, 200),
    ("NUL in MessageStatus", {"MessageSid": "SM" + "w" * 32, "MessageStatus": "deli\u0000vered"}, 200),
]


@pytest.mark.parametrize(("name", "form", "status"), STATUS_CASES, ids=[c[0] for c in STATUS_CASES])
def test_malformed_signed_status_callbacks(app: AppServer, runtime: Runtime, name: str, form: dict[str, str],
                                           status: int) -> None:
    assert app.twilio({**form, "AccountSid": TW_SID}, path="/webhooks/twilio/status").status_code == status
