"""The durable inbound pipeline: stored before processed, in order per citizen, a crash never loses or doubles."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from reporta.app import create_app
from reporta.messages import InboundMessage
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import AppServer, fixture, settle, wait_until
from tests.fakes.telegram_api import FakeTelegram
from ticketing.models import InboundState, Message, OutboxMessage, Ticket


def text(n: int, body: str, chat: str = "555") -> InboundMessage:
    return InboundMessage(channel="telegram", external_id=chat, provider_message_id=f"u{n}", text=body)


@pytest.fixture
def runtime(channel_settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.from_settings(channel_settings, migrate=False, dispatcher_options={"rate_limits": False})
    yield rt
    rt.close()


class Crashing:
    """Wraps the real dialogue engine and raises after it ran, ``times`` times: a crash before commit."""

    def __init__(self, engine, times: int) -> None:
        self.engine, self.times, self.calls = engine, times, 0

    def handle(self, session, message, inbound, identity):
        replies = self.engine.handle(session, message, inbound, identity)
        self.calls += 1
        if self.calls <= self.times:
            raise RuntimeError("simulated crash after the dialogue ran")
        return replies


def count(rt: Runtime, model) -> int:
    with rt.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_a_crash_before_commit_is_retried_without_doubles(runtime: Runtime) -> None:
    runtime.pipeline.handler = Crashing(runtime.dialogue, times=1)
    mid = runtime.pipeline.accept(text(1, "hay un bache enorme en Hidalgo 120 col. Centro"))
    assert runtime.pipeline.process(mid) == 0  # crashed: rolled back, still received
    with runtime.session_factory() as s:
        assert s.get(Message, mid).state == InboundState.RECEIVED
    assert count(runtime, OutboxMessage) == 0
    assert runtime.pipeline.process(mid) == 1
    replies = count(runtime, OutboxMessage)
    assert replies >= 1
    assert runtime.pipeline.process(mid) == 0  # already processed: nothing happens twice
    assert count(runtime, OutboxMessage) == replies


def test_a_message_that_always_fails_is_kept_as_failed(runtime: Runtime) -> None:
    runtime.pipeline.handler = Crashing(runtime.dialogue, times=99)
    mid = runtime.pipeline.accept(text(1, "hola"))
    for _ in range(runtime.pipeline.max_attempts):
        runtime.pipeline.process(mid)
    with runtime.session_factory() as s:
        row = s.get(Message, mid)
        assert row.state == InboundState.FAILED and "simulated crash" in row.error
        assert row.payload["text"] == "hola"  # nothing lost


def test_messages_of_one_citizen_are_processed_in_order(runtime: Runtime) -> None:
    ids = [runtime.pipeline.accept(text(i, body)) for i, body in enumerate(["hola", "quiero reportar", "gracias"])]
    other = runtime.pipeline.accept(text(9, "hola", chat="777"))
    assert runtime.pipeline.process(ids[-1]) == 3  # the last one's turn handles all three, oldest first
    with runtime.session_factory() as s:
        rows = [s.get(Message, i) for i in ids]
        assert all(r.state == InboundState.PROCESSED for r in rows)
        assert [r.processed_at for r in rows] == sorted(r.processed_at for r in rows)
        firsts = [s.scalar(select(func.min(OutboxMessage.id)).where(OutboxMessage.in_reply_to_id == i)) for i in ids]
        assert firsts == sorted(firsts)
        assert s.get(Message, other).state == InboundState.RECEIVED  # another citizen: not touched


def test_stored_but_unprocessed_messages_are_recovered_on_restart(channel_settings: Settings,
                                                                  fake_telegram: FakeTelegram) -> None:
    first = Runtime.from_settings(channel_settings, migrate=False)
    update = fixture("telegram", "text")
    [inbound] = first.channels["telegram"].parse(update)
    assert first.pipeline.accept(inbound) is not None  # stored, then the process dies before processing
    first.close()
    assert fake_telegram.calls("sendMessage") == []

    second = Runtime.from_settings(channel_settings, migrate=False, dispatcher_options={"rate_limits": False})
    try:
        with AppServer(create_app(second)) as app:  # start-up runs the recovery pass
            fake_telegram.wait_for("sendMessage", timeout=8)
            settle(second)
            n = len(fake_telegram.sent_texts())
            assert app.telegram(update).status_code == 200  # and Telegram's redelivery changes nothing
            settle(second)
            assert len(fake_telegram.sent_texts()) == n
            assert count(second, Message) == 1
    finally:
        second.close()


def test_concurrent_turns_of_one_citizen_create_one_ticket(runtime: Runtime) -> None:
    """Two workers racing for the same citizen never interleave: the identity is locked per turn."""
    import threading

    mids = [runtime.pipeline.accept(text(i, t)) for i, t in enumerate(
        ["hay un bache enorme en Hidalgo 120 col. Centro", "no tengo foto", "sí"])]
    threads = [threading.Thread(target=runtime.pipeline.process, args=(m,)) for m in mids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wait_until(lambda: count(runtime, Message) == 3)
    with runtime.session_factory() as s:
        states = {s.get(Message, m).state for m in mids}
        assert states == {InboundState.PROCESSED}
        assert s.scalar(select(func.count()).select_from(Ticket)) <= 1
        keys = s.scalars(select(OutboxMessage.dedupe_key)).all()
        assert len(keys) == len(set(keys))
