"""A throw-away PostgreSQL database for one benchmark run: created and migrated, then dropped."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from ticketing.db import normalise_url
from ticketing.migrate import upgrade


def _admin_exec(admin_url: str, sql: str) -> None:
    engine = create_engine(normalise_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def create(admin_url: str) -> str:
    """A new database ``reporta_bench_<random>`` on the server of ``admin_url``, migrated; its URL."""
    name = f"reporta_bench_{uuid.uuid4().hex[:8]}"
    _admin_exec(admin_url, f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop(admin_url: str, url: str) -> None:
    _admin_exec(admin_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
