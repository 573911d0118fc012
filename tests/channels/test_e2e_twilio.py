"""End to end through Twilio (WhatsApp and SMS): signed form posts to /webhooks/twilio, the real pipeline,
dialogue and dispatcher, the twilio SDK talking to the fake REST API, and signed delivery receipts."""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from reporta.app import EMPTY_TWIML
from reporta.runtime import Runtime
from tests.channels.conftest import (
    JPEG,
    PDF,
    PUBLIC_URL,
    SMS_NUMBER,
    TW_SID,
    WA_NUMBER,
    AppServer,
    fixture,
    settle,
    sign,
    wait_until,
)
from tests.fakes.twilio_api import FakeTwilio
from ticketing.models import Attachment, ChannelIdentity, Direction, InboundState, Message, OutboxMessage, OutboxStatus

WA_CITIZEN = "+528112345679"  # the fixtures' whatsapp:+5218112345679, legacy 521 prefix dropped
SMS_CITIZEN = "+528112345678"


def form(name: str, **fields: str) -> dict[str, str]:
    data = fixture("twilio", name)
    data["AccountSid"] = TW_SID
    data.update(fields)
    return data


def inbound_rows(rt: Runtime) -> list[Message]:
    with rt.session_factory() as s:
        return list(s.scalars(select(Message).where(Message.direction == Direction.INBOUND).order_by(Message.id)))


def test_sms_is_answered_through_the_rest_api_once(app: AppServer, runtime: Runtime, fake_twilio: FakeTwilio) -> None:
    post = form("sms_text")
    response = app.twilio(post)
    assert response.status_code == 200 and response.text == EMPTY_TWIML
    assert response.headers["content-type"].startswith("text/xml")
    first = fake_twilio.wait_for("Messages.json", where=lambda r: r.params.get("To") == SMS_CITIZEN)[0]
    assert first.params["From"] == SMS_NUMBER
    assert first.params["StatusCallback"] == PUBLIC_URL + "/webhooks/twilio/status"
    assert first.headers["Authorization"].startswith("Basic ")
    [row] = wait_until(lambda: [m for m in inbound_rows(runtime) if m.state == InboundState.PROCESSED])
    assert row.channel == "sms" and row.provider_message_id == post["MessageSid"]
    with runtime.session_factory() as s:
        identity = s.get(ChannelIdentity, row.identity_id)
        assert identity.external_id == SMS_CITIZEN and identity.last_inbound_at is not None
    wait_until(lambda: all(o.status == OutboxStatus.SENT for o in _outbox(runtime)))
    n = len(fake_twilio.sent())
    assert app.twilio(post).status_code == 200  # Twilio retried: same MessageSid
    settle(runtime)
    assert len(inbound_rows(runtime)) == 1 and len(fake_twilio.sent()) == n


def _outbox(rt: Runtime) -> list[OutboxMessage]:
    with rt.session_factory() as s:
        return list(s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_whatsapp_location_and_numbered_options(app: AppServer, runtime: Runtime, fake_twilio: FakeTwilio) -> None:
    assert app.twilio(form("whatsapp_text")).status_code == 200
    assert app.twilio(form("whatsapp_location")).status_code == 200
    rows = wait_until(lambda: len(inbound_rows(runtime)) == 2 and inbound_rows(runtime))
    assert rows[0].channel == "whatsapp" and rows[0].payload["display_name"] == "Juan Pérez"
    assert rows[1].payload["location"] == {"lat": 25.6866142, "lon": -100.3161126,
                                           "address": "Av. Benito Juárez 1000, Centro, Monterrey"}
    sent = fake_twilio.wait_for("Messages.json", count=2)
    assert all(r.params["To"] == f"whatsapp:{WA_CITIZEN}" and r.params["From"] == f"whatsapp:{WA_NUMBER}"
               for r in sent)
    wait_until(lambda: all(m.state == InboundState.PROCESSED for m in inbound_rows(runtime)))
    settle(runtime)
    with runtime.session_factory() as s:
        with_buttons = [o for o in s.scalars(select(OutboxMessage)) if o.payload.get("buttons")]
    bodies = [p["Body"] for p in fake_twilio.sent()]
    for row in with_buttons:  # buttons became "1. …" lines in the text
        assert any(f"1. {row.payload['buttons'][0]['title']}" in b for b in bodies), (
            [(o.status, o.body[:50], o.last_error) for o in _outbox(runtime)])


def test_whatsapp_image_downloaded_with_basic_auth(app: AppServer, runtime: Runtime, fake_twilio: FakeTwilio) -> None:
    url = fake_twilio.add_media(JPEG, "image/jpeg")
    assert app.twilio(form("whatsapp_image", MediaUrl0=url)).status_code == 200
    [media_get] = fake_twilio.wait_for("media")
    assert media_get.headers["Authorization"].startswith("Basic ")
    wait_until(lambda: [m for m in inbound_rows(runtime) if m.state == InboundState.PROCESSED])
    with runtime.session_factory() as s:
        [att] = s.scalars(select(Attachment)).all()
    assert att.sha256 == hashlib.sha256(JPEG).hexdigest() and att.content_type == "image/jpeg"


def test_fake_image_and_audio_are_refused_but_answered(app: AppServer, runtime: Runtime,
                                                       fake_twilio: FakeTwilio) -> None:
    url = fake_twilio.add_media(PDF, "image/jpeg")  # the header lies
    assert app.twilio(form("whatsapp_image", MediaUrl0=url)).status_code == 200
    assert app.twilio(form("whatsapp_audio")).status_code == 200
    rows = wait_until(lambda: len([m for m in inbound_rows(runtime) if m.state == InboundState.PROCESSED]) == 2
                      and inbound_rows(runtime))
    assert "not_an_image" in rows[0].error and rows[1].kind == "voice"
    with runtime.session_factory() as s:
        assert s.scalars(select(Attachment)).all() == []
    fake_twilio.wait_for("Messages.json", count=2)


def test_bad_signature_and_malformed_posts(app: AppServer, runtime: Runtime) -> None:
    post = form("sms_text")
    assert app.twilio(post, signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    assert app.client.post("/webhooks/twilio", data=post).status_code == 403  # no signature at all
    tampered = dict(post, Body="otra cosa")
    assert app.twilio(tampered, signature=sign(PUBLIC_URL + "/webhooks/twilio", post)).status_code == 403
    # Signed against the app's own host instead of the public URL: a proxy-unaware check would pass this.
    assert app.twilio(post, signature=sign(app.base_url + "/webhooks/twilio", post)).status_code == 403
    no_sid = {k: v for k, v in post.items() if k not in ("MessageSid", "SmsMessageSid", "SmsSid")}
    assert app.twilio(no_sid).status_code == 400
    assert app.twilio(form("whatsapp_location", Latitude="norte")).status_code == 400
    assert inbound_rows(runtime) == []


def test_status_callbacks_move_the_outbox_row_forward_only(app: AppServer, runtime: Runtime,
                                                           fake_twilio: FakeTwilio) -> None:
    assert app.twilio(form("sms_text")).status_code == 200
    fake_twilio.wait_for("Messages.json")
    row = wait_until(lambda: next((o for o in _outbox(runtime) if o.provider_message_id), None))
    path = "/webhooks/twilio/status"
    delivered = form("status_delivered", MessageSid=row.provider_message_id, SmsSid=row.provider_message_id)
    assert app.twilio(delivered, path=path, signature="AAAA").status_code == 403
    assert app.twilio(delivered, path=path).status_code == 200
    late_sent = dict(delivered, MessageStatus="sent", SmsStatus="sent")
    assert app.twilio(late_sent, path=path).status_code == 200
    with runtime.session_factory() as s:
        again = s.get(OutboxMessage, row.id)
        assert again.status == OutboxStatus.DELIVERED and again.delivered_at is not None
    assert app.twilio({"MessageSid": row.provider_message_id}, path=path).status_code == 400
    unknown = form("status_delivered", MessageSid="SM" + "9" * 32)
    assert app.twilio(unknown, path=path).status_code == 200  # nothing to update, nothing to retry
