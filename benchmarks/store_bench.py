"""Ticket store benchmark: fill PostgreSQL with 1,000,000 tickets, time the duplicate finder and the open list.

Usage::

    .venv/bin/python benchmarks/store_bench.py                     # fill reporta_bench, then time
    .venv/bin/python benchmarks/store_bench.py --reuse             # time again without refilling
    .venv/bin/python benchmarks/store_bench.py --tickets 200000 --runs 21

The database (``--database``, default ``reporta_bench``) is created next to the admin URL's database
(``--admin-url`` or ``REPORTA_BENCH_ADMIN_URL``, default the local ``postgres`` database) and migrated
with Alembic; tickets are loaded with COPY. Printed: fill time, then the median (and p95) of several
runs of ``TicketService.find_duplicates`` at random points and of ``reporta tickets list --status open
--category pothole`` (in-process, including engine set-up and formatting).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from reporta.settings import REPO_ROOT, get_settings
from ticketing.catalog import load_catalog, sync_departments
from ticketing.db import make_engine, make_session_factory, normalise_url
from ticketing.folio import damm_check_digit
from ticketing.migrate import upgrade
from ticketing.service import TicketService

# Monterrey metropolitan area, roughly 28 km x 30 km
LAT_RANGE = (25.55, 25.80)
LON_RANGE = (-100.45, -100.15)
WEIGHTS = {"pothole": 25, "streetlight": 15, "garbage_collection": 10}  # others share the rest evenly
OPEN_SHARE = 0.2


def _psycopg_url(url: str) -> str:
    return make_url(normalise_url(url)).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str, name: str) -> str:
    with psycopg.connect(_psycopg_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(normalise_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def fill(url: str, total: int, seed: int = 42) -> float:
    """Load ``total`` tickets with COPY; returns the seconds it took (including ANALYZE)."""
    catalog = load_catalog(REPO_ROOT / "data" / "catalog.yml")
    engine = make_engine(url)
    with make_session_factory(engine)() as s:
        sync_departments(s, catalog)
        s.commit()
        dept_ids = dict(s.execute(text("SELECT code, id FROM departments")).all())
    engine.dispose()
    rng = random.Random(seed)
    codes = list(catalog.categories)
    rest = (100 - sum(WEIGHTS.values())) / (len(codes) - len(WEIGHTS))
    weights = [WEIGHTS.get(c, rest) for c in codes]
    dept_of = {c: dept_ids[catalog.categories[c].department] for c in codes}
    open_statuses = ("received", "assigned", "in_progress")
    closed_statuses = (("closed", "resolved"), ("resolved", "resolved"), ("not_resolved", "needs_budget"),
                       ("closed", "no_problem_found"), ("not_resolved", "duplicate"))
    channels = ("whatsapp", "whatsapp", "whatsapp", "telegram", "sms", "phone", "walk_in")
    now = datetime.now(UTC)
    bodies = rng.sample(range(1_000_000, 10_000_000), total)  # distinct 7-digit bodies
    started = time.perf_counter()
    with psycopg.connect(_psycopg_url(url)) as conn, conn.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cols = ("folio, category_code, department_id, status, is_open, reason_code, description, lat, lon, "
                "channel, created_at, updated_at, due_at, resolved_at, reopen_count")
        with cur.copy(f"COPY tickets ({cols}) FROM STDIN") as copy:
            for body in bodies:
                digits = str(body)
                folio = f"{digits[:4]}-{digits[4:]}{damm_check_digit(digits)}"
                code = rng.choices(codes, weights)[0]
                created = now - timedelta(seconds=rng.randrange(3 * 365 * 86400))
                due = created + timedelta(days=7)
                if rng.random() < OPEN_SHARE:
                    status, reason, is_open, resolved = rng.choice(open_statuses), None, True, None
                else:
                    (status, reason), is_open = rng.choice(closed_statuses), False
                    resolved = created + timedelta(hours=rng.randrange(1, 400)) if reason == "resolved" else None
                copy.write_row((
                    folio, code, dept_of[code], status, is_open, reason, "reporte de prueba",
                    rng.uniform(*LAT_RANGE), rng.uniform(*LON_RANGE), rng.choice(channels),
                    created, created, due, resolved, 0,
                ))
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE tickets")
    return time.perf_counter() - started


def _stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):8.2f} ms   p95 {p95:8.2f} ms   (n={len(ms)})"


def time_duplicate_finder(url: str, runs: int, seed: int = 7) -> tuple[list[float], int, str]:
    catalog = load_catalog(REPO_ROOT / "data" / "catalog.yml")
    engine = make_engine(url)
    rng = random.Random(seed)
    samples, hits = [], 0
    try:
        with make_session_factory(engine)() as s:
            svc = TicketService(s, catalog)
            svc.find_duplicates("pothole", 25.67, -100.31)  # warm-up: connection, statement cache
            for _ in range(runs):
                lat, lon = rng.uniform(*LAT_RANGE), rng.uniform(*LON_RANGE)
                t0 = time.perf_counter()
                found = svc.find_duplicates("pothole", lat, lon, radius_m=100)
                samples.append(time.perf_counter() - t0)
                hits += len(found)
            plan = s.execute(text(
                "EXPLAIN SELECT id FROM tickets WHERE category_code = 'pothole' AND is_open "
                "AND lat BETWEEN 25.669 AND 25.671 AND lon BETWEEN -100.311 AND -100.309"
            )).scalars().all()
    finally:
        engine.dispose()
    return samples, hits, plan[0].strip()


def time_list_query(url: str, runs: int) -> list[float]:
    """The query behind ``tickets list --status open --category pothole`` alone (no start-up, no printing)."""
    catalog = load_catalog(REPO_ROOT / "data" / "catalog.yml")
    engine = make_engine(url)
    samples = []
    try:
        with make_session_factory(engine)() as s:
            svc = TicketService(s, catalog)
            svc.list_tickets(status="open", category="pothole")
            for _ in range(runs):
                s.expunge_all()
                t0 = time.perf_counter()
                svc.list_tickets(status="open", category="pothole")
                samples.append(time.perf_counter() - t0)
    finally:
        engine.dispose()
    return samples


def time_cli_list(url: str, runs: int) -> tuple[list[float], int]:
    import typer
    from typer.testing import CliRunner

    from ticketing.cli import register

    os.environ["REPORTA_DATABASE_URL"] = url
    get_settings.cache_clear()
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    args = ["tickets", "list", "--status", "open", "--category", "pothole"]
    result = runner.invoke(app, args)  # warm-up (imports)
    assert result.exit_code == 0, result.output
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        result = runner.invoke(app, args)
        samples.append(time.perf_counter() - t0)
        assert result.exit_code == 0, result.output
    return samples, len(result.stdout.splitlines()) - 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get(
        "REPORTA_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--database", default="reporta_bench")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=25)
    parser.add_argument("--reuse", action="store_true", help="Do not recreate and refill the database.")
    parser.add_argument("--drop", action="store_true", help="Drop the database at the end.")
    args = parser.parse_args()

    url = make_url(normalise_url(args.admin_url)).set(database=args.database).render_as_string(hide_password=False)
    if not args.reuse:
        t0 = time.perf_counter()
        url = create_database(args.admin_url, args.database)
        print(f"created and migrated {args.database} in {time.perf_counter() - t0:.1f} s")
        seconds = fill(url, args.tickets)
        print(f"filled {args.tickets:,} tickets with COPY (+ VACUUM ANALYZE) in {seconds:.1f} s")
    engine = make_engine(url)
    with engine.connect() as conn:
        n_total = conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()
        n_open_pothole = conn.execute(text(
            "SELECT count(*) FROM tickets WHERE category_code='pothole' AND is_open")).scalar_one()
    engine.dispose()
    print(f"tickets: {n_total:,} (open potholes: {n_open_pothole:,})")

    samples, hits, plan = time_duplicate_finder(url, args.runs)
    print(f"duplicate finder (pothole, 100 m, random points): {_stats(samples)}; {hits} matches in total")
    print(f"  plan: {plan}")
    print(f"list query (open potholes, newest 50):           {_stats(time_list_query(url, args.runs))}")
    samples, rows = time_cli_list(url, args.runs)
    print(f"tickets list --status open --category pothole:  {_stats(samples)}; {rows} rows shown")

    if args.drop:
        with psycopg.connect(_psycopg_url(args.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
