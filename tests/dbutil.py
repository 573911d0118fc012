"""Throw-away databases for tests: a fresh, migrated SQLite file or PostgreSQL database per test.

The schema is migrated once per run: a SQLite template file is copied per test; PostgreSQL gets one
throw-away database per run, emptied after each test.
PostgreSQL comes from ``REPORTA_TEST_DATABASE_URL`` (an admin URL, e.g. the ``postgres`` database); when it is
unset and a server answers at the default local address (``DEFAULT_PG_URL``), that one is used, so the plain
``./dev test`` runs the whole suite; ``REPORTA_TEST_DATABASE_URL=none`` turns PostgreSQL off. With ``CI=true`` a
missing or unreachable PostgreSQL is a failure, not a skip. ``pg_status()`` is the line the summary prints.
"""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ticketing.db import normalise_url
from ticketing.migrate import upgrade

_lock = threading.Lock()
_sqlite_template: Path | None = None
_pg_template: str | None = None
RUN_ID = uuid.uuid4().hex[:8]
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
_detected: list[str | None] = []  # [url or None] once the default address was tried
_why_not = ""


def _answers(url: str) -> bool:
    global _why_not
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 2})
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        return True
    except Exception as exc:  # no server, or it refuses us: PostgreSQL tests are skipped, and the summary says why
        _why_not = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
        return False


def pg_admin_url() -> str | None:
    url = os.environ.get("REPORTA_TEST_DATABASE_URL")
    if url is not None:
        return None if url.strip().lower() in ("", "none", "off") else normalise_url(url)
    with _lock:
        if not _detected:
            _detected.append(DEFAULT_PG_URL if _answers(DEFAULT_PG_URL) else None)
    return _detected[0]


def pg_status() -> str:
    """One line for the test summary: which PostgreSQL the run used, or why its tests were skipped."""
    url = pg_admin_url()
    if url:
        env = os.environ.get("REPORTA_TEST_DATABASE_URL")
        how = "REPORTA_TEST_DATABASE_URL" if env else "found at the default address"
        return f"PostgreSQL tests ran on {make_url(url).render_as_string(hide_password=True)} ({how})"
    if os.environ.get("REPORTA_TEST_DATABASE_URL") is not None:
        return "PostgreSQL tests skipped: REPORTA_TEST_DATABASE_URL=none"
    return (f"PostgreSQL tests skipped: no server answered at {DEFAULT_PG_URL} ({_why_not}); "
            "set REPORTA_TEST_DATABASE_URL to an admin URL to run them")


def require_pg() -> str:
    url = pg_admin_url()
    if not url:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("CI=true but REPORTA_TEST_DATABASE_URL is not set: PostgreSQL tests must run in CI")
        pytest.skip("PostgreSQL not available (see the summary line; set REPORTA_TEST_DATABASE_URL)")
    return url


def _admin_exec(admin_url: str, sql: str) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def sqlite_database(tmp_dir: Path) -> str:
    global _sqlite_template
    with _lock:
        if _sqlite_template is None:
            tpl_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"reporta-test-{RUN_ID}"
            tpl_dir.mkdir(parents=True, exist_ok=True)
            tpl = tpl_dir / "template.db"
            upgrade(f"sqlite:///{tpl}")
            _sqlite_template = tpl
    target = tmp_dir / "reporta.db"
    shutil.copyfile(_sqlite_template, target)
    return f"sqlite:///{target}"


def pg_database() -> tuple[str, str]:
    """The run's migrated PostgreSQL database (created once per test run); return (url, admin_url).

    Tests share it one after another; ``reset_pg_database`` empties it after each test, which is
    far cheaper than creating a database per test.
    """
    global _pg_template
    admin = require_pg()
    with _lock:
        if _pg_template is None:
            name = f"reporta_run_{RUN_ID}"
            try:
                _admin_exec(admin, f'DROP DATABASE IF EXISTS "{name}"')
                _admin_exec(admin, f'CREATE DATABASE "{name}"')
            except Exception as exc:
                if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
                    pytest.fail(f"CI=true but PostgreSQL is unreachable at {admin}: {exc}")
                pytest.skip(f"PostgreSQL unreachable: {exc}")
            url = make_url(admin).set(database=name).render_as_string(hide_password=False)
            upgrade(url)
            _pg_template = name
    return make_url(admin).set(database=_pg_template).render_as_string(hide_password=False), admin


def _delete_order(tables: list[str]) -> list[str] | None:
    """The tables children first (foreign keys), or None when the database has a table the models do not know."""
    from ticketing.models import Base

    ordered = [t.name for t in reversed(Base.metadata.sorted_tables)]
    return ordered if set(tables) <= set(ordered) else None


def reset_pg_database(url: str, admin: str) -> None:
    """Empty every table of the run's database (schema kept, sequences restarted); end stray sessions a test left
    behind. A DELETE per table, children first, in one transaction: on a test's few rows it is several times
    faster than TRUNCATE (which rewrites every table's files); TRUNCATE stays the fallback."""
    name = make_url(url).database
    engine = create_engine(url)
    try:
        try:
            with engine.begin() as tx:
                tx.execute(text("SET LOCAL lock_timeout = '3s'"))
                tables = [r[0] for r in tx.execute(text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                ))]
                order = _delete_order(tables)
                if order is None:
                    raise LookupError("a table the models do not know: TRUNCATE")
                tx.exec_driver_sql("; ".join(f'DELETE FROM "{t}"' for t in order if t in tables))
                tx.execute(text(  # RESTART IDENTITY: every sequence back to its start
                    "SELECT setval(c.oid, s.seqstart, false) FROM pg_sequence s "
                    "JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public'"))
            return
        except Exception:
            pass  # a lock held by a stray session, or a table the models do not know: TRUNCATE below
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            tables = [r[0] for r in conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            ))]
            if not tables:
                return
            sql = "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
            for attempt in range(3):
                try:
                    conn.execute(text("SET lock_timeout = '3s'"))
                    conn.execute(text(sql))
                    return
                except Exception:
                    if attempt == 2:
                        raise
                    conn.execute(text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"), {"db": name})
    finally:
        engine.dispose()


def drop_pg_database(url: str, admin: str) -> None:
    name = make_url(url).database
    _admin_exec(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def drop_pg_template() -> None:
    admin = pg_admin_url()
    if admin and _pg_template:
        _admin_exec(admin, f'DROP DATABASE IF EXISTS "{_pg_template}" WITH (FORCE)')
