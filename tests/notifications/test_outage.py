"""The outbox through a database outage and a slow send (issue 14, item 6), on both databases.

The outage is injected at the database driver boundary: while it lasts every statement the dispatcher's engine
runs fails with ``OperationalError``, as it does when PostgreSQL is stopped. The provider (a recording sender)
accepted the messages just before: they must be recorded once the database answers again, never re-sent.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError

from notifications.dispatcher import Dispatcher
from tests.notifications.conftest import RecordingSender, add_identity, queue
from ticketing.db import make_engine, make_session_factory
from ticketing.models import OutboxMessage, OutboxStatus


class Outage:
    """Makes every statement of ``engine`` fail while ``down`` is set."""

    def __init__(self, engine) -> None:
        self.down = threading.Event()
        self.failed = 0

        @event.listens_for(engine, "before_cursor_execute")
        def _refuse(conn, cursor, statement, parameters, context, executemany) -> None:
            if self.down.is_set():
                self.failed += 1
                raise OperationalError(statement, None, ConnectionError("server closed the connection"))


def _statuses(session_factory) -> dict[str, OutboxStatus]:
    with session_factory() as s:
        return {r.body: r.status for r in s.scalars(select(OutboxMessage))}


def test_outcomes_are_recorded_after_an_outage_not_sent_again(database_url, settings, caplog) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as s:
        for i in range(3):
            queue(s, add_identity(s, "telegram", f"70{i}"), f"hola-{i}")
        s.commit()
    outage = Outage(engine)

    def provider_accepts_then_db_dies(message, n) -> None:
        outage.down.set()  # the database goes away while we are talking to the provider

    sender = RecordingSender(script=provider_accepts_then_db_dies)
    d = Dispatcher(factory, {"telegram": sender}, settings, rate_limits=False, lease_seconds=2.0)
    threading.Timer(1.5, outage.down.clear).start()  # back after 1.5 s
    started = time.monotonic()
    assert d.run_once() == 3
    assert outage.failed > 0 and time.monotonic() - started < 4
    assert set(_statuses(factory).values()) == {OutboxStatus.SENT}
    # A second worker (and this one) finds nothing to send: no duplicate once the lease would have expired.
    other = Dispatcher(factory, {"telegram": sender}, settings, rate_limits=False, lease_seconds=2.0)
    time.sleep(2.2)
    assert other.run_once() == 0 and d.run_once() == 0
    assert sorted(sender.texts()) == ["hola-0", "hola-1", "hola-2"]
    lines = [r for r in caplog.records if "could not be recorded" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None  # one line, no traceback
    other.close()
    d.close()
    engine.dispose()


def test_a_slow_send_keeps_its_short_claim(database_url, settings) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as s:
        queue(s, add_identity(s, "telegram", "801"), "lento")
        s.commit()
    # The send lasts twice the lease; the lease leaves its renewal (every third of it) 1.3 s of slack on a busy CI
    # machine (with 1.2 s, a renewal late by 0.8 s once let the other worker take the row).
    sender = RecordingSender(script=lambda message, n: time.sleep(4.0))
    d = Dispatcher(factory, {"telegram": sender}, settings, rate_limits=False, lease_seconds=2.0, worker_id="slow")
    other = Dispatcher(factory, {"telegram": sender}, settings, rate_limits=False, lease_seconds=2.0,
                       worker_id="other")
    t = threading.Thread(target=d.run_once)
    t.start()
    while sender.calls == 0:  # "slow" holds the claim and is sending
        time.sleep(0.01)
    stolen = 0
    deadline = time.monotonic() + 3.9
    while time.monotonic() < deadline:
        stolen += other.run_once()
        time.sleep(0.1)
    t.join(10)
    assert stolen == 0  # the claim was renewed while the send was in flight
    assert sender.texts() == ["lento"] and _statuses(factory) == {"lento": OutboxStatus.SENT}
    other.close()
    d.close()
    engine.dispose()


def test_a_dead_workers_rows_come_back_after_the_short_lease(database_url, settings) -> None:
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    with factory() as s:
        queue(s, add_identity(s, "telegram", "802"), "huérfano")
        s.commit()
    dead = Dispatcher(factory, {"telegram": RecordingSender()}, settings, rate_limits=False, lease_seconds=1.0)
    jobs, _ = dead._claim(10)  # claimed, then the process died before sending
    assert len(jobs) == 1
    sender = RecordingSender()
    alive = Dispatcher(factory, {"telegram": sender}, settings, rate_limits=False, lease_seconds=1.0)
    assert alive.run_once() == 0
    time.sleep(1.1)
    assert alive.run_once() == 1 and sender.texts() == ["huérfano"]
    dead.close()
    alive.close()
    engine.dispose()
