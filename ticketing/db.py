"""Engines and sessions: one place that knows how to connect to SQLite (default) or PostgreSQL.

PostgreSQL connections are checked before use only when they sat idle in the pool for a while
(``IDLE_PING_SECONDS``): a busy loop (the inbox writer, a processor, the dispatcher) takes the same connection
hundreds of times a second, and a ping on every checkout (SQLAlchemy's ``pool_pre_ping``) was one extra round
trip per transaction. A connection that broke while in use (the server restarted under load) is caught by
SQLAlchemy's disconnect handling instead, which throws the whole pool away; ``retry_on_disconnect`` runs a unit
of work again once in that case.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

#: A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out.
IDLE_PING_SECONDS = 5.0

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Accept ``postgres://`` and ``postgresql://`` and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout so several threads can share it."""
    url = normalise_url(url)
    # Errors and logs name the statement, never its parameters (citizens' texts, names and phones).
    kwargs.setdefault("hide_parameters", True)
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30, "check_same_thread": False})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - trivial
            # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # pragma: no cover - trivial
            # IMMEDIATE takes the write lock up front: no deadlock when a reader later writes.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: Engine) -> None:
    """Ping a pooled connection on checkout only when it was idle for ``IDLE_PING_SECONDS`` (see the docstring);
    a dead one is replaced (the pool retries the checkout with a new connection)."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record) -> None:  # pragma: no cover - trivial
        record.info["reporta_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy) -> None:
        since = record.info.get("reporta_idle_since")
        if since is None or time.monotonic() - since < IDLE_PING_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as error:
            raise exc.DisconnectionError("idle connection no longer usable") from error
        if not alive:
            raise exc.DisconnectionError("idle connection no longer usable")


def retry_on_disconnect(work: Callable[[], T]) -> T:
    """Run ``work`` (a whole unit of work: it opens and commits its own transaction); when the connection it got
    turned out to be dead, run it once more on a fresh one. Any other error propagates."""
    try:
        return work()
    except exc.DBAPIError as error:
        if not error.connection_invalidated:  # SQLAlchemy saw a lost connection and reset the pool
            raise
    return work()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    import ticketing.rollup  # noqa: F401  (registers the rollup's dirty-day marking on every session's flush)

    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def one_off_session(url: str) -> Iterator[Session]:
    """A unit of work on an engine of its own (one CLI command): committed on success, the engine disposed."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()
