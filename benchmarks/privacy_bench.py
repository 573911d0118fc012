"""Privacy operations at municipal scale: "MIS DATOS", forgetting one citizen, and the retention job.

Fills a throw-away database with ``--citizens`` citizens (one WhatsApp identity each, ``--messages`` messages and
``--tickets`` tickets each, most tickets closed two years ago), then times ``access_summary`` for one citizen,
``forget_citizen`` for one citizen, and ``apply_retention`` batches (200 tickets each) until nothing is left.
Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.privacy_bench                       # SQLite file in a temp folder
    .venv/bin/python -m benchmarks.privacy_bench --pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import timedelta

from sqlalchemy import func, insert, select

from benchmarks import throwaway_db
from reporta.settings import REPO_ROOT
from ticketing.catalog import load_catalog, sync_departments
from ticketing.db import make_engine, make_session_factory, session_scope
from ticketing.migrate import upgrade
from ticketing.models import (
    ChannelIdentity,
    Citizen,
    Department,
    Direction,
    InboundState,
    Message,
    Ticket,
    TicketStatus,
    utcnow,
)
from ticketing.privacy import access_summary, apply_retention, forget_citizen, retention_cutoff


def fill(factory, citizens: int, messages: int, tickets: int) -> None:
    catalog = load_catalog(REPO_ROOT / "data" / "catalog.yml")
    now = utcnow()
    old = now - timedelta(days=800)
    with session_scope(factory) as s:
        sync_departments(s, catalog)
        dept = s.scalars(select(Department.id)).first()
        s.execute(insert(Citizen), [{"id": i, "phone_e164": f"+5281{i:08d}", "display_name": f"Persona {i}",
                                     "created_at": old} for i in range(1, citizens + 1)])
        s.execute(insert(ChannelIdentity), [{"id": i, "citizen_id": i, "channel": "whatsapp",
                                             "external_id": f"+5281{i:08d}", "created_at": old,
                                             "last_inbound_at": old} for i in range(1, citizens + 1)])
        rows = [{"direction": Direction.INBOUND, "channel": "whatsapp", "identity_id": i,
                 "provider_message_id": f"SM{i}-{j}", "kind": "text", "text": f"mensaje {j} de la persona {i}",
                 "payload": {"external_id": f"+5281{i:08d}"}, "state": InboundState.PROCESSED, "created_at": old}
                for i in range(1, citizens + 1) for j in range(messages)]
        for k in range(0, len(rows), 5000):
            s.execute(insert(Message), rows[k:k + 5000])
        rnd = random.Random(7)
        trows = []
        for i in range(1, citizens + 1):
            for j in range(tickets):
                closed = rnd.random() < 0.9
                trows.append({"folio": f"{i:05d}-{j:03d}", "category_code": "pothole", "department_id": dept,
                              "status": TicketStatus.CLOSED if closed else TicketStatus.IN_PROGRESS,
                              "is_open": not closed, "description": f"bache {j}", "channel": "whatsapp",
                              "reporter_id": i, "reporter_identity_id": i, "created_at": old, "updated_at": old,
                              "due_at": old, "closed_at": old if closed else None, "reopen_count": 0})
        for k in range(0, len(trows), 5000):
            s.execute(insert(Ticket), trows[k:k + 5000])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg", help="PostgreSQL admin URL (a throw-away database is created and dropped)")
    ap.add_argument("--citizens", type=int, default=2000)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--tickets", type=int, default=5)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    url = throwaway_db.create(args.pg) if args.pg else f"sqlite:///{tmp.name}/bench.db"
    if not args.pg:
        upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    try:
        t0 = time.perf_counter()
        fill(factory, args.citizens, args.messages, args.tickets)
        print(f"{engine.dialect.name}: {args.citizens} citizens, {args.citizens * args.messages} messages, "
              f"{args.citizens * args.tickets} tickets (filled in {time.perf_counter() - t0:.1f} s)")

        access = []
        for cid in range(1, 21):
            with factory() as s:
                t = time.perf_counter()
                access_summary(s, s.get(Citizen, cid))
                access.append((time.perf_counter() - t) * 1000)
        print(f"MIS DATOS (access_summary): median {statistics.median(access):.1f} ms, max {max(access):.1f} ms")

        forget = []
        for cid in range(21, 31):
            t = time.perf_counter()
            with session_scope(factory) as s:
                forget_citizen(s, cid, actor="staff:bench")
            forget.append((time.perf_counter() - t) * 1000)
        print(f"forget one citizen ({args.messages} messages, {args.tickets} tickets), committed: "
              f"median {statistics.median(forget):.1f} ms, max {max(forget):.1f} ms")

        now = utcnow()
        cutoff = retention_cutoff(now, 24)
        batches, total = [], {"tickets": 0, "messages": 0, "outbox": 0, "citizens": 0}
        t_all = time.perf_counter()
        while True:
            t = time.perf_counter()
            with session_scope(factory) as s:
                counts, _files = apply_retention(s, cutoff=cutoff, now=now, skip_locked=engine.dialect.name != "sqlite")
            batches.append(time.perf_counter() - t)
            for k, v in counts.items():
                total[k] += v
            if not any(counts.values()):
                break
        elapsed = time.perf_counter() - t_all
        print(f"retention (24 months): {len(batches)} batches in {elapsed:.1f} s (median batch "
              f"{statistics.median(batches) * 1000:.0f} ms, max {max(batches) * 1000:.0f} ms): "
              + ", ".join(f"{k}={v}" for k, v in total.items()))
        with factory() as s:
            left = s.scalar(select(func.count()).select_from(Ticket).where(Ticket.reporter_id.is_not(None),
                                                                           Ticket.is_open.is_(False)))
            print(f"closed tickets still linked to a citizen: {left}")
    finally:
        engine.dispose()
        if args.pg:
            throwaway_db.drop(args.pg, url)
        tmp.cleanup()


if __name__ == "__main__":
    main()
