"""Poison messages (issue 14, item 2): every failure of one message counts toward its attempts, including reading
its payload and downloading its media; after the limit it is marked failed with the error, the citizen gets the
generic error, and the citizen's later messages are processed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select, update

from reporta.messages import InboundMessage, Media
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import settle
from ticketing.models import InboundState, Message, OutboxMessage


@pytest.fixture
def runtime(channel_settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.from_settings(channel_settings, migrate=False, dispatcher_options={"rate_limits": False})
    yield rt
    rt.close()


def text(pid: str, body: str, chat: str = "880") -> InboundMessage:
    return InboundMessage(channel="telegram", external_id=chat, provider_message_id=pid, text=body)


def _state(rt: Runtime, mid: int) -> Message:
    with rt.session_factory() as s:
        return s.get(Message, mid)


def _replies_to(rt: Runtime, mid: int) -> list[OutboxMessage]:
    with rt.session_factory() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.in_reply_to_id == mid)))


def test_a_payload_that_cannot_be_read_is_failed_answered_and_releases_the_queue(runtime: Runtime) -> None:
    pipeline = runtime.pipeline
    poison = pipeline.accept(text("p1", "foto"))
    later = pipeline.accept(text("p2", "hola"))
    # A row stored by an older version (or by hand): its media cannot be read back.
    with runtime.session_factory() as s, s.begin():
        payload = dict(s.get(Message, poison).payload)
        payload["media"] = [{"kind": "photo", "file_size": "1"}]
        s.execute(update(Message).where(Message.id == poison).values(payload=payload))
    for attempt in range(1, pipeline.max_attempts):
        assert pipeline.process(poison) == 0, f"attempt {attempt}"
        assert _state(runtime, poison).state == InboundState.RECEIVED
        assert _state(runtime, later).state == InboundState.RECEIVED  # waits behind it, in order
    pipeline.process(poison)
    failed = _state(runtime, poison)
    assert failed.state == InboundState.FAILED and failed.error.startswith("TypeError")
    [answer] = _replies_to(runtime, poison)
    assert answer.body  # error_generic
    assert _state(runtime, later).state == InboundState.PROCESSED  # the queue moved on
    assert _replies_to(runtime, later)


class Exploding:
    """A media source whose every download raises something unexpected."""

    def __init__(self) -> None:
        self.calls = 0

    @contextmanager
    def fetch_media(self, media: Media):
        self.calls += 1
        raise RuntimeError("the provider SDK blew up")
        yield  # pragma: no cover


def test_a_download_that_raises_refuses_the_file_not_the_message(runtime: Runtime) -> None:
    source = Exploding()
    runtime.pipeline.media_sources["telegram"] = source
    mid = runtime.pipeline.accept(InboundMessage(channel="telegram", external_id="881", provider_message_id="d1",
                                                 raw_kind="photo", media=(Media(kind="photo", file_id="F1"),)))
    assert runtime.pipeline.process(mid) == 1
    row = _state(runtime, mid)
    assert row.state == InboundState.PROCESSED and row.error == "media refused: download_failed"
    assert source.calls == 1 and _replies_to(runtime, mid)


def test_poison_in_the_background_is_failed_and_the_citizen_answered(runtime: Runtime) -> None:
    """The same through the background threads and the recovery loop (no direct ``process`` calls)."""
    pipeline = runtime.pipeline
    pipeline.recover_age, pipeline.recover_interval = 0.1, 0.2
    poison = pipeline.accept(text("b1", "foto", chat="882"))
    with runtime.session_factory() as s, s.begin():
        payload = dict(s.get(Message, poison).payload)
        payload["media"] = [{"kind": "photo", "nope": True}]
        s.execute(update(Message).where(Message.id == poison).values(payload=payload))
    later = pipeline.accept(text("b2", "hola", chat="882"))
    runtime.start_background(scheduler=True)
    pipeline.submit(poison)
    settle(runtime, timeout=15)
    assert _state(runtime, poison).state == InboundState.FAILED
    assert _state(runtime, later).state == InboundState.PROCESSED
    assert _replies_to(runtime, poison) and _replies_to(runtime, later)
