"""PostgreSQL connections: pinged only after sitting idle, a broken one costs a retry and never a message, and
wake-ups sent inside a transaction arrive with its commit (and never for a rollback)."""

from __future__ import annotations

import select as os_select
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url

import ticketing.db as db
from reporta.flow.interprocess import Wakeup
from reporta.flow.store import accept_many
from reporta.messages import InboundMessage
from ticketing.db import make_engine, make_session_factory, retry_on_disconnect
from ticketing.models import Message

pytestmark = pytest.mark.postgres


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = make_engine(pg_url, pool_size=1, max_overflow=0)
    yield eng
    eng.dispose()


def backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def terminate(engine: Engine, pid: int) -> None:
    admin = make_engine(str(engine.url))
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
    admin.dispose()


def count_pings(engine: Engine, monkeypatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_conn) -> bool:
        pings.append(1)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return pings


def test_a_busy_connection_is_not_pinged_but_an_idle_one_is(engine: Engine, monkeypatch) -> None:
    pid = backend_pid(engine)
    pings = count_pings(engine, monkeypatch)
    for _ in range(5):
        backend_pid(engine)
    assert pings == []  # no ping round trip on a connection that was just used
    monkeypatch.setattr(db, "IDLE_PING_SECONDS", 0.0)
    terminate(engine, pid)  # the server dropped the pooled connection while it sat idle
    assert backend_pid(engine) != pid  # the checkout ping noticed and opened a new one; the caller saw nothing
    assert len(pings) >= 1


def test_a_connection_that_broke_in_use_costs_one_retry_not_the_messages(engine: Engine) -> None:
    factory = make_session_factory(engine)
    terminate(engine, backend_pid(engine))  # dropped too recently for the idle ping to look at it
    inbound = InboundMessage(channel="telegram", external_id="42", provider_message_id="r1", text="hola")
    ids = retry_on_disconnect(lambda: accept_many(factory, [inbound]))
    assert ids[0] is not None
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1
    with pytest.raises(ZeroDivisionError):  # other errors are not retried
        retry_on_disconnect(lambda: 1 / 0)


def listen(url: str, channel: str) -> psycopg.Connection:
    u = make_url(url)
    conn = psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database, autocommit=True)
    conn.execute(f"LISTEN {channel}")
    return conn


def received(conn: psycopg.Connection, timeout: float) -> list[str]:
    os_select.select([conn.fileno()], [], [], timeout)
    conn.execute("SELECT 1")  # reads whatever notifications arrived
    return [n.channel for n in conn.notifies(timeout=0.01, stop_after=10)]


def test_a_wakeup_inside_a_transaction_arrives_with_its_commit_only(pg_url: str, engine: Engine) -> None:
    wakeup = Wakeup(pg_url, engine)
    assert wakeup.transactional
    listener = listen(pg_url, "reporta_inbox")
    try:
        factory = make_session_factory(engine)
        with factory() as s, s.begin():
            wakeup.notify_in(s, "inbox")
            assert received(listener, 0.2) == []  # not before the commit
        assert received(listener, 2.0) == ["reporta_inbox"]
        with factory() as s:
            s.begin()
            wakeup.notify_in(s, "inbox")
            s.rollback()
        assert received(listener, 0.3) == []  # a rolled-back transaction wakes nobody
    finally:
        listener.close()
