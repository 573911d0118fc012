"""Fault tests on the real HTTP path: the dispatcher with the real Telegram (python-telegram-bot) and Twilio
senders against the fake provider servers answering 500, 429 + Retry-After, 403, provider error codes, or
hanging. Each message ends delivered exactly once or recorded as a permanent failure; none is lost.
The dispatcher's clock is a settable one, so backoff waits are travelled, not slept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.telegram import TelegramChannel
from bot.twilio import TwilioChannel
from notifications.dispatcher import Dispatcher
from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.twilio_api import FakeTwilio
from tests.notifications.conftest import add_identity, queue
from ticketing.models import ChannelIdentity, OutboxMessage, OutboxStatus

TOKEN = "123456:TEST-TOKEN"
SID, AUTH = "AC" + "0" * 32, "test-auth-token"


class Clock:
    def __init__(self) -> None:
        self.t = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.t

    def shift(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


@pytest.fixture
def telegram(settings):
    with FakeTelegram(token=TOKEN) as fake:
        s = settings.model_copy(update={"telegram_token": TOKEN, "telegram_api_base_url": fake.base_url,
                                        "telegram_messages_per_second": 0.0})
        channel = TelegramChannel(s, send_timeout=1.5)
        yield fake, channel, s
        channel.close()


@pytest.fixture
def twilio(settings):
    with FakeTwilio(account_sid=SID, auth_token=AUTH) as fake:
        s = settings.model_copy(update={"twilio_account_sid": SID, "twilio_auth_token": AUTH,
                                        "twilio_api_base_url": fake.base_url,
                                        "twilio_whatsapp_number": "+5215550000000",
                                        "twilio_sms_number": "+5215550000001"})
        channel = TwilioChannel(s, timeout=1.0)
        yield fake, channel, s
        channel.close()


def _rows(session_factory):
    with session_factory() as s:
        return {r.body: r for r in s.scalars(select(OutboxMessage)).all()}


def _drain(d: Dispatcher, clock: Clock, rounds: int = 8, step: float = 40.0) -> None:
    for _ in range(rounds):
        d.run_once()
        clock.shift(step)


@pytest.mark.parametrize("fault", ["500", "429", "hang"])
def test_telegram_transient_faults_end_in_exactly_one_delivery(session_factory, telegram, fault) -> None:
    fake, channel, settings = telegram
    with session_factory() as s:
        ident = add_identity(s, "telegram", "4242")
        for i in range(3):
            queue(s, ident, f"t-{i}")
        s.commit()
    fake.fail(fault, times=2, match="sendMessage", retry_after=7, hang_seconds=3)
    clock = Clock()
    d = Dispatcher(session_factory, {"telegram": channel.sender}, settings, now=clock, rate_limits=False)
    d.run_once()
    first = _rows(session_factory)["t-0"]
    assert first.status == OutboxStatus.PENDING and first.attempts == 1
    if fault == "429":
        assert 7 <= (first.next_attempt_at - clock.t).total_seconds() <= 8  # Retry-After honoured
    _drain(d, clock)
    assert fake.sent_texts("4242") == ["t-0", "t-1", "t-2"]  # each once, in order
    rows = _rows(session_factory)
    assert all(r.status == OutboxStatus.SENT and r.provider_message_id for r in rows.values())
    assert rows["t-0"].attempts == 3
    d.close()


def test_telegram_bot_blocked_is_recorded_and_the_chat_marked_unreachable(session_factory, telegram) -> None:
    fake, channel, settings = telegram
    with session_factory() as s:
        blocked, fine = add_identity(s, "telegram", "1"), add_identity(s, "telegram", "2")
        queue(s, blocked, "b-0"), queue(s, blocked, "b-1"), queue(s, fine, "f-0")
        s.commit()
    fake.fail("403", match="sendMessage")
    clock = Clock()
    d = Dispatcher(session_factory, {"telegram": channel.sender}, settings, now=clock, rate_limits=False,
                   max_threads=1)
    _drain(d, clock, rounds=3)
    rows = _rows(session_factory)
    sent = fake.sent_texts()
    assert sent.count("f-0") == 1
    failed = [b for b in ("b-0", "b-1") if rows[b].status == OutboxStatus.FAILED]
    assert failed  # the chat that got the 403 is recorded, nothing retried forever
    with session_factory() as s:
        unreachable = [i for i in s.scalars(select(ChannelIdentity)).all() if i.unreachable_at is not None]
    assert len(unreachable) == 1 and "blocked" in unreachable[0].unreachable_reason
    assert all(r.status in (OutboxStatus.SENT, OutboxStatus.FAILED) for r in rows.values())
    assert sum(sent.count(b) for b in rows) == sum(r.status == OutboxStatus.SENT for r in rows.values())
    d.close()


@pytest.mark.parametrize("fault", ["500", "429", "hang"])
def test_twilio_transient_faults_end_in_exactly_one_delivery(session_factory, twilio, fault) -> None:
    fake, channel, settings = twilio
    with session_factory() as s:
        queue(s, add_identity(s, "sms", "+528112345678"), "s-0")
        queue(s, add_identity(s, "whatsapp", "+528187654321"), "w-0")
        s.commit()
    fake.fail(fault, times=3, retry_after=2, hang_seconds=2)
    clock = Clock()
    d = Dispatcher(session_factory, {"sms": channel.senders["sms"], "whatsapp": channel.senders["whatsapp"]},
                   settings, now=clock, rate_limits=False)
    _drain(d, clock)
    bodies = [p.get("Body") for p in fake.sent()]
    assert sorted(bodies) == ["s-0", "w-0"]
    rows = _rows(session_factory)
    assert all(r.status == OutboxStatus.SENT and r.provider_message_id.startswith("SM") for r in rows.values())
    assert sum(r.attempts for r in rows.values()) == 2 + 3
    d.close()


def test_twilio_invalid_number_and_window_closed(session_factory, twilio) -> None:
    fake, channel, settings = twilio
    with session_factory() as s:
        queue(s, add_identity(s, "sms", "+528100000001"), "invalid")
        s.commit()
    clock = Clock()
    senders = {"sms": channel.senders["sms"], "whatsapp": channel.senders["whatsapp"]}
    d = Dispatcher(session_factory, senders, settings, now=clock, rate_limits=False)
    fake.fail("error", code=21211, status=400, message="Invalid 'To' Phone Number")
    _drain(d, clock, rounds=2)
    row = _rows(session_factory)["invalid"]
    assert row.status == OutboxStatus.FAILED and "21211" in row.last_error
    with session_factory() as s:
        assert s.get(ChannelIdentity, row.identity_id).unreachable_at is not None
    # WhatsApp answers 63016 (window closed): the same words go by SMS, once.
    with session_factory() as s:
        queue(s, add_identity(s, "whatsapp", "+528100000002"), "aviso", kind="status_resolved",
              payload={"sms_body": "aviso por SMS"})
        s.commit()
    fake.fail("error", code=63016, status=400, message="outside the allowed window")
    _drain(d, clock, rounds=3)
    sms = [p for p in fake.sent() if not p["To"].startswith("whatsapp:")]
    assert [(p["To"], p["Body"]) for p in sms] == [("+528100000002", "aviso por SMS")]
    d.close()
