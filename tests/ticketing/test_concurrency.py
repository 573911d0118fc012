"""Folios stay unique when several writers create tickets at once on PostgreSQL."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from ticketing import service as service_module
from ticketing.db import make_engine, make_session_factory, session_scope
from ticketing.folio import damm_check_digit, is_valid_folio
from ticketing.models import Ticket, TicketEvent
from ticketing.service import TicketService

pytestmark = pytest.mark.postgres

WRITERS = 8


def _create_many(pg_url: str, catalog, total: int) -> list[str]:
    engine = make_engine(pg_url, pool_size=WRITERS, max_overflow=0)
    factory = make_session_factory(engine)
    categories = ["pothole", "streetlight", "garbage_collection", "water_leak"]

    def writer(n: int) -> list[str]:
        made = []
        for i in range(total // WRITERS):
            with session_scope(factory) as session:
                t = TicketService(session, catalog).create(
                    category=categories[i % 4], description=f"writer {n} #{i}", channel="phone", actor=f"staff:{n}",
                    lat=25.6 + random.random() / 10, lon=-100.3 - random.random() / 10)
                made.append(t.folio)
        return made

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            results = list(pool.map(writer, range(WRITERS)))
        with factory() as s:
            assert s.scalar(select(func.count()).select_from(Ticket)) == total
            assert s.scalar(select(func.count()).select_from(TicketEvent)) == total
            assert s.scalar(select(func.count(func.distinct(Ticket.folio)))) == total
    finally:
        engine.dispose()
    return [f for r in results for f in r]


def test_eight_writers_create_1000_tickets_without_duplicate_folios(pg_url: str, catalog) -> None:
    folios = _create_many(pg_url, catalog, 1000)
    assert len(folios) == len(set(folios)) == 1000
    assert all(is_valid_folio(f) for f in folios)


def test_collisions_under_concurrency_are_retried(pg_url: str, catalog, monkeypatch) -> None:
    # Draw folios from a pool of only 1,000 so that concurrent writers really collide.
    pool = []
    for n in random.sample(range(1_000_000, 9_999_999), 1000):
        body = str(n)
        pool.append(f"{body[:4]}-{body[4:]}{damm_check_digit(body)}")
    calls = 0
    lock = threading.Lock()

    def small_space() -> str:
        nonlocal calls
        with lock:
            calls += 1
        return random.choice(pool)

    monkeypatch.setattr(service_module, "new_folio", small_space)
    folios = _create_many(pg_url, catalog, 400)
    assert len(set(folios)) == 400
    assert calls > 400  # some inserts collided and were retried inside their SAVEPOINT
