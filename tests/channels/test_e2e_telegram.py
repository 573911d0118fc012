"""End to end through Telegram: the app on 127.0.0.1, real Update JSON posted to /webhooks/telegram, the real
pipeline, dialogue engine and outbox dispatcher, and PTB talking to the fake Bot API."""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import JPEG, PDF, AppServer, fixture, settle, wait_until
from tests.fakes.telegram_api import FakeTelegram, reply_markup
from ticketing.models import Attachment, Direction, InboundState, Message, OutboxMessage, OutboxStatus, Ticket

CHAT = 987654321


def inbound_rows(rt: Runtime) -> list[Message]:
    with rt.session_factory() as s:
        return list(s.scalars(select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)))


def outbox_rows(rt: Runtime) -> list[OutboxMessage]:
    with rt.session_factory() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def update(name: str, update_id: int | None = None, **message_fields) -> dict:
    data = copy.deepcopy(fixture("telegram", name))
    if update_id is not None:
        data["update_id"] = update_id
    if "message" in data:
        data["message"]["date"] = int(time.time())  # the dialogue reads the message's time
    if message_fields:
        data["message"].update(message_fields)
    return data


def test_text_is_stored_answered_once_and_redelivery_ignored(app: AppServer, runtime: Runtime,
                                                              fake_telegram: FakeTelegram) -> None:
    first = update("text")
    assert app.telegram(first).status_code == 200
    replies = fake_telegram.wait_for("sendMessage", where=lambda r: r.params.get("chat_id") == str(CHAT))
    assert replies[0].params["text"].strip()
    [msg] = wait_until(lambda: [m for m in inbound_rows(runtime) if m.state == InboundState.PROCESSED])
    assert msg.provider_message_id == str(first["update_id"]) and msg.channel == "telegram"
    assert msg.payload["external_id"] == str(CHAT)
    settle(runtime)
    sent = outbox_rows(runtime)
    assert sent and all(o.status == OutboxStatus.SENT and o.in_reply_to_id == msg.id and o.provider_message_id
                        for o in sent)
    n_sent = len(fake_telegram.sent_texts(CHAT))

    # Telegram redelivers the same update (e.g. our 200 was lost): no second message, no second reply.
    assert app.telegram(first).status_code == 200
    assert len(inbound_rows(runtime)) == 1
    settle(runtime)
    assert len(fake_telegram.sent_texts(CHAT)) == n_sent
    assert len(outbox_rows(runtime)) == len(sent)


def test_concurrent_redeliveries_store_one_message(app: AppServer, runtime: Runtime,
                                                   fake_telegram: FakeTelegram) -> None:
    data = update("text", update_id=815009999)
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(app.telegram(data).status_code)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 8
    assert len(inbound_rows(runtime)) == 1
    fake_telegram.wait_for("sendMessage")
    wait_until(lambda: all(m.state == InboundState.PROCESSED for m in inbound_rows(runtime)))
    settle(runtime)
    with runtime.session_factory() as s:
        per_reply = s.execute(select(OutboxMessage.dedupe_key, func.count()).group_by(OutboxMessage.dedupe_key)).all()
    assert per_reply and all(n == 1 for _, n in per_reply)


def test_location_and_venue_are_stored(app: AppServer, runtime: Runtime, fake_telegram: FakeTelegram) -> None:
    assert app.telegram(update("location")).status_code == 200
    assert app.telegram(update("venue")).status_code == 200
    rows = wait_until(lambda: len(inbound_rows(runtime)) == 2 and inbound_rows(runtime))
    assert rows[0].kind == "location"
    assert rows[0].payload["location"] == {"lat": 25.669167, "lon": -100.309722, "address": None}
    assert rows[1].payload["location"]["address"] == "Macroplaza, Zaragoza s/n, Centro, Monterrey, N.L."


def test_photo_is_downloaded_with_get_file_and_stored(app: AppServer, runtime: Runtime, fake_telegram: FakeTelegram,
                                                      channel_settings: Settings) -> None:
    data = update("photo")
    large = data["message"]["photo"][-1]
    fake_telegram.add_file(JPEG, file_path="photos/file_7.jpg", file_id=large["file_id"])
    large["file_size"] = len(JPEG)
    assert app.telegram(data).status_code == 200
    [get_file] = fake_telegram.wait_for("getFile")
    assert get_file.params["file_id"] == large["file_id"]  # the largest size that fits the limit
    assert fake_telegram.wait_for("file")[0].path.endswith("/photos/file_7.jpg")
    msg = wait_until(lambda: [m for m in inbound_rows(runtime) if m.state == InboundState.PROCESSED])[0]
    with runtime.session_factory() as s:
        [att] = s.scalars(select(Attachment)).all()
    assert att.message_id == msg.id and att.sha256 == hashlib.sha256(JPEG).hexdigest()
    assert att.content_type == "image/jpeg" and att.size_bytes == len(JPEG)
    assert Path(att.storage_path).read_bytes() == JPEG
    assert Path(att.storage_path).is_relative_to(channel_settings.media_path)


def test_non_image_document_and_oversized_photo_are_refused_but_answered(
        app: AppServer, runtime: Runtime, fake_telegram: FakeTelegram, channel_settings: Settings) -> None:
    fake = update("document_image")  # says image/jpeg, is a PDF
    fake_telegram.add_file(PDF, file_path="documents/file_1.jpg", file_id=fake["message"]["document"]["file_id"])
    fake["message"]["document"]["file_size"] = len(PDF)
    big = update("photo", update_id=815000200)
    for size in big["message"]["photo"]:
        size["file_size"] = channel_settings.max_media_bytes + 1
    assert app.telegram(fake).status_code == 200
    assert app.telegram(big).status_code == 200
    rows = wait_until(lambda: [m for m in inbound_rows(runtime) if m.state == InboundState.PROCESSED]
                      if len([m for m in inbound_rows(runtime) if m.state == InboundState.PROCESSED]) == 2 else None)
    assert "not_an_image" in (rows[0].error or "") and "too_large" in (rows[1].error or "")
    with runtime.session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Attachment)) == 0
    assert not fake_telegram.calls("getFile") or all(
        c.params["file_id"] != big["message"]["photo"][-1]["file_id"] for c in fake_telegram.calls("getFile"))
    fake_telegram.wait_for("sendMessage", count=2)


def test_long_message_voice_and_unknown_updates(app: AppServer, runtime: Runtime, fake_telegram: FakeTelegram) -> None:
    assert app.telegram(update("text", update_id=815000300, text="bache " * 1000)).status_code == 200
    assert app.telegram(update("voice")).status_code == 200
    assert app.telegram(update("edited_message")).status_code == 200
    assert app.telegram(update("my_chat_member")).status_code == 200
    rows = wait_until(lambda: len(inbound_rows(runtime)) == 2 and inbound_rows(runtime))
    assert len(rows[0].text) == 4096 and rows[1].kind == "voice"
    wait_until(lambda: all(m.state == InboundState.PROCESSED for m in inbound_rows(runtime)))
    fake_telegram.wait_for("sendMessage", count=2)


def test_wrong_secret_and_malformed_updates(app: AppServer, runtime: Runtime) -> None:
    assert app.telegram(update("text"), secret="nope").status_code == 403
    assert app.telegram(update("text"), secret=None).status_code == 403
    assert app.client.post("/webhooks/telegram", content=b"{not json",
                           headers={"X-Telegram-Bot-Api-Secret-Token": "s3cr3t-webhook-token"}).status_code == 400
    assert app.telegram({"message": {"text": "sin update_id"}}).status_code == 400
    # An Update we cannot use is answered 200 (Telegram would redeliver anything else for hours) and dropped.
    assert app.telegram({"update_id": 5, "message": {"text": "sin chat"}}).status_code == 200
    assert inbound_rows(runtime) == []


def test_button_press_is_acknowledged_in_the_webhook_response(app: AppServer, runtime: Runtime) -> None:
    response = app.telegram(fixture("telegram", "callback_query"))
    assert response.status_code == 200
    assert response.json() == {"method": "answerCallbackQuery", "callback_query_id": "4382bfdwdsb323b2d9"}
    [row] = wait_until(lambda: inbound_rows(runtime))
    assert row.payload["button_payload"] == "yes" and row.payload["external_id"] == str(CHAT)


def test_healthz(app: AppServer) -> None:
    body = app.client.get("/healthz").json()
    assert body["ok"] is True and {"telegram", "whatsapp", "sms", "simulator"} <= set(body["channels"])


def _last_reply(fake: FakeTelegram, seen: int, timeout: float = 5.0):
    wait_until(lambda: len(fake.calls("sendMessage")) > seen, timeout)
    time.sleep(0.15)  # a turn may send more than one message; take the last
    return fake.calls("sendMessage")


def test_a_whole_report_over_telegram_creates_a_ticket(app: AppServer, runtime: Runtime,
                                                        fake_telegram: FakeTelegram) -> None:
    """Text → the bot asks what is missing → buttons pressed / location shared → a ticket with a folio."""
    prefer = ["Sí, enviar", "No tengo foto", "No, es otro", "Omitir", "Sí"]
    next_id = 815100000
    assert app.telegram(update("text", update_id=next_id)).status_code == 200
    seen = 0
    for _ in range(8):
        calls = _last_reply(fake_telegram, seen)
        seen = len(calls)
        with runtime.session_factory() as s:
            ticket = s.scalars(select(Ticket)).first()
        if ticket is not None:
            break
        next_id += 1
        markup = reply_markup(calls[-1]) or {}
        if "inline_keyboard" in markup:
            buttons = {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}
            choice = next((buttons[t] for t in prefer if t in buttons), next(iter(buttons.values())))
            cq = copy.deepcopy(fixture("telegram", "callback_query"))
            cq["update_id"], cq["callback_query"]["id"], cq["callback_query"]["data"] = next_id, f"cq{next_id}", choice
            assert app.telegram(cq).status_code == 200
        elif "keyboard" in markup:
            assert app.telegram(update("location", update_id=next_id)).status_code == 200
        else:
            assert app.telegram(update("text", update_id=next_id, text="Sí")).status_code == 200
    with runtime.session_factory() as s:
        ticket = wait_until(lambda: s.scalars(select(Ticket)).first())
        assert ticket.category_code == "pothole" and ticket.channel == "telegram"
        folio = ticket.folio
    wait_until(lambda: any(folio in t for t in fake_telegram.sent_texts(CHAT)))
