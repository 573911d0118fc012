"""Shared fixtures: every store test runs on SQLite and on PostgreSQL, each in its own database.

A module marked ``sqlite_only`` (phrasing tables and browser flows: they exercise the NLU, the dialogue or the page,
and the store under them is tested on both databases by the other modules) runs on SQLite alone; a test in it marked
``both_backends`` still runs on both, and ``REPORTA_TEST_ALL_BACKENDS=1`` runs everything on both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from reporta.settings import Settings
from tests import dbutil
from ticketing.db import make_engine, make_session_factory

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def pytest_collection_modifyitems(config, items) -> None:
    """Deselect the PostgreSQL variant of ``sqlite_only`` tests (see the module docstring)."""
    if os.environ.get("REPORTA_TEST_ALL_BACKENDS", "").lower() in ("1", "true", "yes"):
        return
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_pg = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if on_pg and item.get_closest_marker("sqlite_only") and not item.get_closest_marker("both_backends"):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_sessionfinish(session, exitstatus) -> None:
    dbutil.drop_pg_template()


def pytest_report_header(config) -> str:
    return dbutil.pg_status()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    terminalreporter.write_line(dbutil.pg_status())


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database URL: SQLite file, then PostgreSQL (from REPORTA_TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        yield dbutil.sqlite_database(tmp_path)
        return
    url, admin = dbutil.pg_database()
    try:
        yield url
    finally:
        dbutil.reset_pg_database(url, admin)


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database only (for concurrency tests that need row locks)."""
    url, admin = dbutil.pg_database()
    try:
        yield url
    finally:
        dbutil.reset_pg_database(url, admin)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for one test: its own database and var dir, no provider credentials."""
    return Settings(
        _env_file=None,
        database_url=database_url,
        var_dir=tmp_path / "var",
        nlu_cache_dir=tmp_path / "nlu-cache",
    )
