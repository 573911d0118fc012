"""Dashboard benchmark: 1,000,000 tickets and their events on PostgreSQL, then the median time of the pages that
read ``ticketing.indicators``: the overall dashboard, one department's dashboard and a department's public page.

Usage::

    .venv/bin/python benchmarks/dashboard_bench.py                 # create + fill reporta_dashboard_bench, time
    .venv/bin/python benchmarks/dashboard_bench.py --reuse         # time again without refilling
    .venv/bin/python benchmarks/dashboard_bench.py --tickets 200000 --runs 11 --drop
    nice -n 10 .venv/bin/python benchmarks/dashboard_bench.py --fill-only       # fill only (outside the lock)
    nice -n 10 .venv/bin/python benchmarks/dashboard_bench.py --reuse --rollup --fill-only   # (re)build the rollup

Tickets are loaded with ``benchmarks/store_bench.py``'s COPY fill (3 years, 20 % open, due 7 days after the
report); this script then adds, in SQL, what the indicators read: one ``created`` event per ticket, the outcome
events (resolved / not resolved / closed), a reopen after resolution on 1 in 12 resolved tickets (with its first
resolution event), a department correction (``reassigned``) on 1 in 20 tickets, and on resolved chat reports the
"¿ya quedó?" survey (60 % confirmed, 25 % not confirmed) with a 1–5 rating on 70 % of the confirmed ones.

``--rollup`` migrates to head and builds the daily rollup (``ticketing.rollup.rebuild_all``) from nothing,
printing its time, rows and size and the cost of refreshing one dirty day.

Timed through real HTTP requests of the real routes (Starlette's in-process client: routing, the handler, the
indicator queries, the templates), signed in by a bench-only middleware. Printed: median and p95 of ``--runs``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from benchmarks.store_bench import create_database, fill
from reporta.settings import REPO_ROOT, Settings
from ticketing.catalog import load_catalog
from ticketing.db import make_engine, make_session_factory, normalise_url

EVENT_SQL = [
    # one reachable citizen for every chat report (the survey needs a reporter identity)
    "INSERT INTO citizens (display_name, created_at) VALUES ('bench', now())",
    "INSERT INTO channel_identities (citizen_id, channel, external_id, created_at) "
    "SELECT id, 'whatsapp', 'bench', now() FROM citizens LIMIT 1",
    "UPDATE tickets SET reporter_identity_id = (SELECT id FROM channel_identities LIMIT 1) "
    "WHERE channel NOT IN ('phone', 'walk_in')",
    # every ticket was created
    "INSERT INTO ticket_events (ticket_id, kind, to_status, actor, data, created_at) "
    "SELECT id, 'created', 'received', 'system', '{}'::json, created_at FROM tickets",
    # 1 in 12 resolved tickets were marked resolved once before, reopened, then resolved for good
    "INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, reason_code, actor, data, created_at) "
    "SELECT id, 'status', 'assigned', 'resolved', 'resolved', 'staff:bench', '{}'::json, "
    "created_at + (resolved_at - created_at) / 3 FROM tickets WHERE resolved_at IS NOT NULL AND id % 12 = 0",
    "INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, actor, data, created_at) "
    "SELECT id, 'reopened', 'resolved', 'assigned', 'citizen:1', "
    "'{\"reopen_count\": 1, \"previous_reason\": \"resolved\"}'::json, "
    "created_at + (resolved_at - created_at) / 2 FROM tickets WHERE resolved_at IS NOT NULL AND id % 12 = 0",
    "UPDATE tickets SET reopen_count = 1, revised_due_at = created_at + (resolved_at - created_at) / 2 "
    "+ interval '7 days' WHERE resolved_at IS NOT NULL AND id % 12 = 0",
    # the outcome of every closed ticket
    "INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, reason_code, actor, data, created_at) "
    "SELECT id, 'status', 'in_progress', CASE WHEN resolved_at IS NOT NULL THEN 'resolved' ELSE 'not_resolved' END, "
    "reason_code, 'staff:bench', '{}'::json, COALESCE(resolved_at, created_at + interval '30 hours') "
    "FROM tickets WHERE NOT is_open",
    "UPDATE tickets SET updated_at = created_at + interval '30 hours' WHERE NOT is_open AND resolved_at IS NULL",
    "UPDATE tickets SET closed_at = COALESCE(resolved_at, created_at + interval '30 hours') + interval '3 days', "
    "updated_at = COALESCE(resolved_at, created_at + interval '30 hours') + interval '3 days' "
    "WHERE status = 'closed'",
    "INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, reason_code, actor, data, created_at) "
    "SELECT id, 'closed', CASE WHEN resolved_at IS NOT NULL THEN 'resolved' ELSE 'not_resolved' END, 'closed', "
    "reason_code, 'system', '{}'::json, closed_at FROM tickets WHERE status = 'closed'",
    # 1 in 20 tickets were moved to another department by staff
    "INSERT INTO ticket_events (ticket_id, kind, from_status, to_status, actor, data, created_at) "
    "SELECT id, 'reassigned', 'assigned', 'assigned', 'staff:bench', '{\"department\": \"x\"}'::json, "
    "created_at + interval '2 hours' FROM tickets WHERE id % 20 = 3",
    # "¿ya quedó?" on resolved chat reports: 60 % yes, 25 % no answer; 70 % of the yes rate 1-5
    "UPDATE tickets SET survey_sent_at = resolved_at + interval '1 hour', confirmation = CASE "
    "WHEN id % 20 < 12 THEN 'confirmed' WHEN id % 20 < 17 THEN 'not_confirmed' END, "
    "satisfaction = CASE WHEN id % 20 < 12 AND id % 10 < 7 THEN 1 + (id / 7) % 5 END "
    "WHERE resolved_at IS NOT NULL AND reporter_identity_id IS NOT NULL",
    "INSERT INTO ticket_events (ticket_id, kind, actor, data, created_at) "
    "SELECT id, 'satisfaction', 'citizen:1', json_build_object('score', satisfaction), "
    "resolved_at + interval '2 hours' FROM tickets WHERE satisfaction IS NOT NULL",
]


def build_rollup(url: str) -> None:
    """Migrate to head and build the daily rollup from nothing (``ticketing.rollup.rebuild_all``); print its
    size and the cost of refreshing one dirty day (what a change to an old report costs the next job run)."""
    from datetime import timedelta

    from ticketing.migrate import upgrade
    from ticketing.models import Ticket
    from ticketing.rollup import mark_dirty, rebuild_all, refresh

    upgrade(url)
    catalog = load_catalog(REPO_ROOT / "data" / "catalog.yml")
    engine = make_engine(url)
    factory = make_session_factory(engine)
    t0 = time.perf_counter()
    # settle=0: nothing else writes to the bench database while it is built
    days = rebuild_all(factory, catalog, timezone="America/Monterrey", everything=True, settle=timedelta(0))
    seconds = time.perf_counter() - t0
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("indicator_day_state", "indicator_days", "indicator_day_hours"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))
        rows = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("indicator_days", "indicator_day_hours")}
        size = conn.execute(text("SELECT pg_total_relation_size('indicator_days') + "
                                 "pg_total_relation_size('indicator_day_hours') + "
                                 "pg_total_relation_size('indicator_day_state')")).scalar_one()
        tickets = conn.execute(text("SELECT count(*) FROM tickets")).scalar_one()
    print(f"rollup built from {tickets:,} tickets: {days:,} days in {seconds:.1f} s "
          f"({1000 * seconds / max(days, 1):.1f} ms a day); rows: {rows['indicator_days']:,} indicator_days, "
          f"{rows['indicator_day_hours']:,} indicator_day_hours; {size / 1e6:.1f} MB with indexes")
    samples = []
    with factory() as session:
        moments = session.scalars(select(Ticket.created_at).where(Ticket.id % 50_000 == 7)).all()
    for moment in moments:
        with factory() as session, session.begin():
            mark_dirty(session, {moment})
        t0 = time.perf_counter()
        with factory() as session, session.begin():
            assert refresh(session, catalog, timezone="America/Monterrey", settle=timedelta(0)) == 1
        samples.append(time.perf_counter() - t0)
    print(f"refresh of one dirty day: {_stats(samples)}")
    engine.dispose()


def add_events(url: str) -> tuple[float, int]:
    """Run ``EVENT_SQL``; returns (seconds, number of events)."""
    engine = make_engine(url)
    t0 = time.perf_counter()
    with engine.begin() as conn:
        for sql in EVENT_SQL:
            conn.execute(text(sql))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # In production reports are inserted as they arrive, so the table is in creation order; the COPY fill
        # draws random dates, so put the rows back in that order (a period is then a run of pages, not a
        # page per row).
        conn.execute(text("CLUSTER tickets USING ix_tickets_created"))
        conn.execute(text("VACUUM ANALYZE tickets"))
        conn.execute(text("VACUUM ANALYZE ticket_events"))
        events = conn.execute(text("SELECT count(*) FROM ticket_events")).scalar_one()
    engine.dispose()
    return time.perf_counter() - t0, events


class _Staff:
    """Bench-only: signs a fixed staff member in (the console's session middleware does this in production)."""

    def __init__(self, app: Any, principal: Any) -> None:
        self.app, self.principal = app, principal

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from web.staff import SCOPE_KEY

        if scope["type"] == "http" and self.principal is not None:
            scope = {**scope, SCOPE_KEY: self.principal}
        await self.app(scope, receive, send)


def client(url: str, principal: Any, *, cached: bool) -> Any:
    """The real routes over ``url``; ``cached=False`` computes every request (``FigureCache(fresh_for=0)``)."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from web import dashboards, public
    from web.context import WebContext
    from web.public.cache import FigureCache
    from web.templating import Pages

    engine = make_engine(url)
    runtime = SimpleNamespace(settings=Settings(_env_file=None, database_url=url),
                              catalog=load_catalog(REPO_ROOT / "data" / "catalog.yml"),
                              session_factory=make_session_factory(engine))
    ctx = WebContext(runtime=lambda: runtime, pages=Pages())
    cache = FigureCache() if cached else FigureCache(fresh_for=0)
    app = Starlette(routes=[*dashboards.routes(ctx, cache=cache), *public.routes(ctx, cache=cache)])
    return TestClient(_Staff(app, principal))


def principal(url: str, role: str, department: str | None) -> Any:
    from web.staff import StaffPrincipal

    dept_id = None
    if department:
        engine = make_engine(url)
        with engine.connect() as conn:
            dept_id = conn.execute(text("SELECT id FROM departments WHERE code = :c"), {"c": department}).scalar_one()
        engine.dispose()
    return StaffPrincipal(id=1, email="bench@example.gob.mx", name="bench", role=role, department_id=dept_id,
                          department_code=department, session_id="bench")


def timed(http: Any, path: str, runs: int) -> list[float]:
    resp = http.get(path)  # warm-up: connection pool, templates, statement cache
    assert resp.status_code == 200, (path, resp.status_code, resp.text[:300])
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        resp = http.get(path)
        samples.append(time.perf_counter() - t0)
        assert resp.status_code == 200
    return samples


def _stats(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"median {statistics.median(ms):8.1f} ms   p95 {p95:8.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default=os.environ.get(
        "REPORTA_BENCH_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--database", default="reporta_dashboard_bench")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--reuse", action="store_true", help="Do not recreate and refill the database.")
    parser.add_argument("--drop", action="store_true", help="Drop the database at the end.")
    parser.add_argument("--rollup", action="store_true",
                        help="Migrate to head and (re)build the daily rollup, timed, before timing the pages.")
    parser.add_argument("--fill-only", action="store_true",
                        help="Create and fill, then stop (fill niced outside the timing lock, time with --reuse).")
    args = parser.parse_args()

    url = make_url(normalise_url(args.admin_url)).set(database=args.database).render_as_string(hide_password=False)
    if not args.reuse:
        t0 = time.perf_counter()
        url = create_database(args.admin_url, args.database)
        print(f"created and migrated {args.database} in {time.perf_counter() - t0:.1f} s")
        seconds = fill(url, args.tickets)
        print(f"filled {args.tickets:,} tickets with COPY (+ VACUUM ANALYZE) in {seconds:.1f} s")
        seconds, events = add_events(url)
        print(f"added {events:,} events and survey answers in SQL (+ VACUUM ANALYZE) in {seconds:.1f} s")
    if args.rollup:
        build_rollup(url)
    if args.fill_only:
        return

    people = {"admin": principal(url, "admin", None), "agent": principal(url, "agent", "servicios_publicos"),
              "anonymous": None}
    cold = {who: client(url, p, cached=False) for who, p in people.items()}
    warm = {who: client(url, p, cached=True) for who, p in people.items()}
    admin, agent, anonymous = "admin", "agent", "anonymous"
    cases = [
        ("overall dashboard, last 90 days (default)", admin, "/console/tableros"),
        ("one department's dashboard, last 90 days", agent, "/console/tableros"),
        ("a department's public page (30 + 90 days)", anonymous, "/dependencias/servicios_publicos"),
        ("overall dashboard, last 30 days", admin, "/console/tableros?desde={d30}"),
        ("one department's dashboard, last 365 days", agent, "/console/tableros?desde={y1}"),
        ("overall dashboard, last 365 days", admin, "/console/tableros?desde={y1}"),
        ("overall dashboard, all 3 years", admin, "/console/tableros?desde={y3}"),
        ("public home (90 days, every department)", anonymous, "/"),
        ("public map (500 newest open reports)", anonymous, "/mapa"),
        ("CSV of one table, overall, 90 days", admin, "/console/tableros/servicios.csv"),
    ]
    from datetime import date, timedelta

    today = date.today()
    fill_in = {"d30": (today - timedelta(days=29)).isoformat(),
               "y1": (today - timedelta(days=364)).isoformat(), "y3": (today - timedelta(days=3 * 365)).isoformat()}
    print(f"load average before timing: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} cores)")
    print("computed on every request (cache off):")
    for label, who, path in cases:
        print(f"  {label:<45} {_stats(timed(cold[who], path.format(**fill_in), args.runs))}")
    print("served by the figure cache (a view recomputed in the background once it is a minute old):")
    for label, who, path in cases[:3]:
        print(f"  {label:<45} {_stats(timed(warm[who], path.format(**fill_in), args.runs))}")
    print(f"load average after timing:  {' '.join(f'{x:.1f}' for x in os.getloadavg())}")

    if args.drop:
        from benchmarks.throwaway_db import drop

        drop(args.admin_url, url)


if __name__ == "__main__":
    main()
