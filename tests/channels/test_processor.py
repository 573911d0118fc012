"""Processing in separate processes (``reporta serve`` layout): the web process only stores and wakes; a
``reporta process`` child picks the messages up and replies; wake-ups cross processes on both databases;
citizens are routed to one processor each and keep their order."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from reporta.flow.interprocess import Wakeup, WriteLock
from reporta.flow.processor import Processor
from reporta.messages import InboundMessage, OutboundMessage
from reporta.runtime import Runtime
from reporta.settings import Settings
from tests.channels.conftest import wait_until
from ticketing.models import Direction, InboundState, Message, OutboxMessage

ROOT = Path(__file__).resolve().parents[2]


def text(pid: str, body: str, chat: str) -> InboundMessage:
    return InboundMessage(channel="telegram", external_id=chat, provider_message_id=pid, text=body)


def count(rt: Runtime, model, *where) -> int:
    with rt.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def child_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPORTA_")}
    env.update(REPORTA_DATABASE_URL=settings.database_url, REPORTA_VAR_DIR=str(settings.var_dir),
               REPORTA_NLU_CACHE_DIR=str(settings.nlu_cache_dir), REPORTA_DATA_DIR=str(settings.data_dir),
               REPORTA_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    return env


def test_wakeup_crosses_processes(database_url: str) -> None:
    wakeup = Wakeup(database_url)
    listener = wakeup.listener("inbox")
    other = wakeup.listener("outbox")
    try:
        assert not listener.wait(0.05)
        code = f"from reporta.flow.interprocess import Wakeup; Wakeup({database_url!r}).notify('inbox')"
        subprocess.run([sys.executable, "-c", code], check=True, cwd=str(ROOT),
                       env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=60)
        started = time.monotonic()
        assert listener.wait(10.0)
        assert time.monotonic() - started < 2.0
        assert not other.wait(0.1)  # topics are separate
        wakeup.notify("inbox")
        wakeup.notify("inbox")
        assert listener.wait(2.0)  # several signals coalesce into one or more wake-ups, never block
    finally:
        listener.close()
        other.close()
        wakeup.close()


def test_sqlite_write_lock_excludes_other_processes(tmp_path: Path) -> None:
    lock = WriteLock.for_url(f"sqlite:///{tmp_path / 'x.db'}")
    assert lock is not None and WriteLock.for_url("postgresql+psycopg://u@h/db") is None
    code = ("import time, sys; from reporta.flow.interprocess import WriteLock; "
            f"l = WriteLock({lock.path!r}); l.acquire(); print('held', flush=True); time.sleep(0.5); l.release()")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
                             env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert child.stdout.readline().strip() == "held"
        started = time.monotonic()
        with lock:
            waited = time.monotonic() - started
        assert waited > 0.2  # it waited for the other process, then got the lock at once
    finally:
        child.wait(timeout=30)


@pytest.fixture
def web(channel_settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.from_settings(channel_settings, migrate=False, store_only=True)
    rt.start_background(scheduler=False)
    yield rt
    rt.close()


@pytest.mark.slow
def test_processing_process_picks_up_stored_messages_and_replies(web: Runtime, channel_settings: Settings) -> None:
    before = [web.pipeline.receive(text(f"u{i}", "hola", str(100 + i % 3))) for i in range(6)]
    assert all(before) and count(web, Message, Message.state == InboundState.RECEIVED) == 6  # only stored here
    child = subprocess.Popen([sys.executable, "-m", "reporta.cli", "process", "--parent-pid", str(os.getpid())],
                             cwd=str(ROOT), env=child_env(channel_settings))
    try:
        wait_until(lambda: count(web, Message, Message.state == InboundState.PROCESSED) == 6, timeout=90)
        # while it runs, a new message is picked up at once (woken, not the 1 s poll)
        time.sleep(1.5)
        started = time.monotonic()
        mid = web.pipeline.receive(text("late", "hay un bache en Hidalgo 120", "100"))
        wait_until(lambda: count(web, Message, Message.id == mid, Message.state == InboundState.PROCESSED), 10)
        assert time.monotonic() - started < 0.9
        assert web.pipeline.receive(text("late", "hay un bache en Hidalgo 120", "100")) is None  # redelivery
        with web.session_factory() as s:
            replied = set(s.scalars(select(OutboxMessage.in_reply_to_id)).all())
            keys = s.scalars(select(OutboxMessage.dedupe_key)).all()
        assert replied == {*before, mid} and len(keys) == len(set(keys))
    finally:
        child.terminate()
        child.wait(timeout=30)
    assert child.returncode in (0, -15)


class Recording:
    """A handler that records which processor handled which message, in what order."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, str]] = []
        self.lock = threading.Lock()

    def handle(self, session, message, inbound, identity) -> list[OutboundMessage]:
        time.sleep(0.001)
        with self.lock:
            self.seen.append((threading.current_thread().name, identity.id, inbound.text or ""))
        return [OutboundMessage(channel=inbound.channel, external_id=inbound.external_id, text="ok")]


def test_citizen_routing_keeps_order_and_one_processor_per_citizen(channel_settings: Settings) -> None:
    handler = Recording()
    rts = [Runtime.from_settings(channel_settings, migrate=False, handler=handler) for _ in range(2)]
    try:
        n = 80
        for i in range(n):
            rts[0].pipeline.accept(text(f"m{i}", f"{i}", str(500 + i % 7)))
        procs = [Processor(rt, index, 2, poll_interval=0.05) for index, rt in enumerate(rts)]
        threads = [p.start_thread() for p in procs]
        wait_until(lambda: count(rts[0], Message, Message.direction == Direction.INBOUND,
                                 Message.state == InboundState.PROCESSED) == n, timeout=30)
        for p in procs:
            p.stop()
        for t in threads:
            t.join(timeout=10)
        assert len(handler.seen) == n  # each message once
        by_citizen: dict[int, list[tuple[str, int]]] = {}
        for thread, identity_id, body in handler.seen:
            by_citizen.setdefault(identity_id, []).append((thread, int(body)))
        for identity_id, handled in by_citizen.items():
            assert {t for t, _ in handled} == {f"processor-{identity_id % 2}"}  # one processor per citizen
            bodies = [b for _, b in handled]
            assert bodies == sorted(bodies)  # in the order they arrived
        assert {t for t, _, _ in handler.seen} == {"processor-0", "processor-1"}
    finally:
        for rt in rts:
            rt.close()
