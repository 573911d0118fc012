"""Webhook benchmark: inbound messages per second through the full path — Twilio signature check, durable
store, NLU, dialogue engine, outbox enqueue — on SQLite and PostgreSQL, with p50/p99 latency and a count of
lost and duplicated messages.

The app runs in its own process (uvicorn, as ``reporta serve`` does) so the load generator does not share its
interpreter; the outbox dispatcher is off (sending is the notifications benchmark's subject). Latency is from
the moment the client starts the POST to the moment the message is committed as processed with its replies
in the outbox. 5 % of the posts are redelivered (same MessageSid) to check idempotency under load.

    .venv/bin/python benchmarks/webhook_bench.py --db sqlite --messages 3000
    .venv/bin/python benchmarks/webhook_bench.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ticketing.db import make_engine, normalise_url  # noqa: E402
from ticketing.migrate import upgrade  # noqa: E402
from ticketing.models import Direction, InboundState, Message, OutboxMessage  # noqa: E402

SID = "AC" + "b" * 32
TOKEN = "bench-auth-token"
PUBLIC = "https://reporta.bench.example"
TEXTS = ["hay un bache enorme en Hidalgo 120 col. Centro", "no pasó la basura en la colonia Mitras",
         "la luminaria de la esquina de Juárez y Morelos no prende", "hola", "quiero saber de mi reporte",
         "hay una fuga de agua frente a la escuela en Zaragoza 300", "gracias"]


def fresh_database(db: str, workdir: Path) -> str:
    if db == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
    else:
        admin = normalise_url(db)
        name = f"reporta_bench_{uuid.uuid4().hex[:8]}"
        eng = create_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        eng.dispose()
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    return url


def drop_database(db: str, url: str) -> None:
    if db == "sqlite":
        return
    eng = create_engine(normalise_url(db), isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    eng.dispose()


def serve(port: int) -> None:
    """The server process: the real app over the real runtime (dispatcher off)."""
    import uvicorn

    from reporta.app import create_app
    from reporta.runtime import Runtime
    from reporta.settings import Settings

    settings = Settings()
    runtime = Runtime.from_settings(settings, migrate=False)
    uvicorn.run(create_app(runtime), host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def load(base: str, n: int, concurrency: int, citizens: int) -> tuple[dict[str, float], int, int]:
    validator = RequestValidator(TOKEN)
    url = PUBLIC + "/webhooks/twilio"
    phones = [f"+5281{1000_0000 + i:08d}" for i in range(citizens)]
    queue: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    rng = random.Random(7)
    posts = []
    for i in range(n):
        form = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": SID, "From": rng.choice(phones),
                "To": "+528100000000", "Body": rng.choice(TEXTS), "NumMedia": "0", "ApiVersion": "2010-04-01"}
        posts.append(form)
        if i % 20 == 0:
            posts.append(dict(form))  # a redelivery
    for form in posts:
        queue.put_nowait(form)
    started: dict[str, float] = {}
    errors = 0
    async with httpx.AsyncClient(base_url=base, timeout=30,
                                 limits=httpx.Limits(max_connections=concurrency)) as client:
        async def worker() -> None:
            nonlocal errors
            while not queue.empty():
                form = queue.get_nowait()
                sig = validator.compute_signature(url, form)
                started.setdefault(form["MessageSid"], time.time())
                r = await client.post("/webhooks/twilio", data=form, headers={"X-Twilio-Signature": sig})
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return started, errors, len(posts) - n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL admin URL")
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--citizens", type=int, default=1000)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve)
        return

    workdir = Path(tempfile.mkdtemp(prefix="reporta-bench-"))
    url = fresh_database(args.db, workdir)
    port = 18000 + random.randint(0, 1999)
    env = dict(os.environ, REPORTA_DATABASE_URL=url, REPORTA_VAR_DIR=str(workdir / "var"),
               REPORTA_TWILIO_ACCOUNT_SID=SID, REPORTA_TWILIO_AUTH_TOKEN=TOKEN, REPORTA_PUBLIC_URL=PUBLIC,
               REPORTA_TWILIO_SMS_NUMBER="+528100000000", REPORTA_TWILIO_API_BASE_URL="http://127.0.0.1:9",
               REPORTA_SCHEDULER_ENABLED="false", REPORTA_LOG_LEVEL="WARNING")
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)], env=env, cwd=str(ROOT))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.2)
        t0 = time.time()
        started, errors, redeliveries = asyncio.run(load(base, args.messages, args.concurrency, args.citizens))
        posted_for = time.time() - t0
        engine = make_engine(url)
        pending_deadline = time.time() + 60
        while True:
            with engine.connect() as c:
                waiting = c.execute(select(func.count()).select_from(Message.__table__).where(
                    Message.state == InboundState.RECEIVED)).scalar()
            if not waiting or time.time() > pending_deadline:
                break
            time.sleep(0.2)
        with engine.connect() as c:
            rows = c.execute(select(Message.provider_message_id, Message.state, Message.processed_at).where(
                Message.direction == Direction.INBOUND)).all()
            dup_replies = c.execute(select(func.count()).select_from(
                select(OutboxMessage.in_reply_to_id, OutboxMessage.dedupe_key).group_by(
                    OutboxMessage.in_reply_to_id, OutboxMessage.dedupe_key).having(func.count() > 1).subquery())
            ).scalar()
        engine.dispose()
    finally:
        server.terminate()
        server.wait(timeout=30)
        drop_database(args.db, url)

    by_sid: dict[str, int] = {}
    for sid, _state, _at in rows:
        by_sid[sid] = by_sid.get(sid, 0) + 1
    processed = [(sid, at) for sid, state, at in rows if state == InboundState.PROCESSED.value or
                 state == InboundState.PROCESSED]
    lost = len(set(started) - {sid for sid, _ in processed})
    duplicated = sum(n - 1 for n in by_sid.values()) + (dup_replies or 0)
    lat = sorted((at.replace(tzinfo=UTC).timestamp() if at.tzinfo is None else at.timestamp())
                 - started[sid] for sid, at in processed)
    end = max((at.replace(tzinfo=UTC).timestamp() if at.tzinfo is None else at.timestamp()) for _, at in processed)
    rate = len(processed) / (end - t0)
    p50 = statistics.median(lat) * 1000
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
    kind = "sqlite" if args.db == "sqlite" else "postgresql"
    print(f"{kind}: {len(started)} messages (+{redeliveries} redeliveries), concurrency {args.concurrency}: "
          f"{rate:.0f} msg/s processed (posting took {posted_for:.1f}s), latency p50 {p50:.0f} ms, "
          f"p99 {p99:.0f} ms, lost {lost}, duplicated {duplicated}, HTTP errors {errors}")


if __name__ == "__main__":
    main()
