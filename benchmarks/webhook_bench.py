"""Webhook benchmark: inbound messages through the full path — Twilio signature check, durable store, NLU,
dialogue engine, outbox — on SQLite or PostgreSQL, in one or several server processes.

Two phases, each on a fresh database and a freshly started server (the real app under uvicorn, as
``reporta serve`` runs it, in its own process(es)):

1. **capacity**: ``--messages`` signed posts as fast as ``--concurrency`` connections allow (closed loop).
   Reports the accept rate (posts answered per second) and the processing capacity: messages processed with
   their replies in the outbox per second, from the first post to the last message processed.
2. **latency**: an open-loop load at ``--rate`` messages/s for ``--duration`` seconds (each post is sent at
   its scheduled time whatever happened to the previous ones; latency counts from the scheduled time, so a
   slow server cannot hide queueing). Reports p50/p99 from the POST to the message processed with its
   replies enqueued (``messages.processed_at``, set in the processing transaction just before its commit) and,
   with ``--dispatch``, to the fake Twilio API having accepted the first reply (``outbox.sent_at``; dispatcher
   on, rate limits off, the fake in its own process).

Both count lost messages (posted and answered 200 but not processed, or not answered 200) and duplicates
(a second ``messages`` row for one MessageSid, a second reply for one message and reply number, more sends
accepted by the provider than outbox rows sent). 5 % of the posts are redelivered (same MessageSid): half at
once, half a little later. The load generator is a small asyncio HTTP/1.1 client with pre-signed requests,
so it takes little of the machine's CPU away from the server.

    .venv/bin/python benchmarks/webhook_bench.py --db sqlite
    .venv/bin/python benchmarks/webhook_bench.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres --workers 2
    .venv/bin/python benchmarks/webhook_bench.py --db sqlite --phase latency --rate 300 --duration 15 --dispatch
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import throwaway_db  # noqa: E402
from ticketing.db import make_engine  # noqa: E402
from ticketing.migrate import upgrade  # noqa: E402
from ticketing.models import Direction, InboundState, Message, OutboxMessage, OutboxStatus  # noqa: E402

SID = "AC" + "b" * 32
TOKEN = "bench-auth-token"
PUBLIC = "https://reporta.bench.example"
PATH = "/webhooks/twilio"
TEXTS = ["hay un bache enorme en Hidalgo 120 col. Centro", "no pasó la basura en la colonia Mitras",
         "la luminaria de la esquina de Juárez y Morelos no prende", "hola", "quiero saber de mi reporte",
         "hay una fuga de agua frente a la escuela en Zaragoza 300", "gracias"]


# --- databases ------------------------------------------------------------------------------------------------

def fresh_database(db: str, workdir: Path) -> str:
    if db == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        upgrade(url)
        return url
    return throwaway_db.create(db)


def drop_database(db: str, url: str) -> None:
    if db != "sqlite":
        throwaway_db.drop(db, url)


# --- the server and the fake provider (child processes) ------------------------------------------------------

def fake_twilio(out: str) -> None:
    """Run the fake Twilio API until SIGTERM; print its base URL, then write how many sends it accepted."""
    from tests.fakes.twilio_api import FakeTwilio

    fake = FakeTwilio(account_sid=SID, auth_token=TOKEN)
    # the fake writes headers and body separately: without TCP_NODELAY every answer waits ~40 ms for the
    # client's delayed ACK (Nagle), which a real provider does not add
    fake.server.RequestHandlerClass.disable_nagle_algorithm = True
    fake.start()
    stop = {"now": False}

    def on_term(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, on_term)
    print(fake.base_url, flush=True)
    while not stop["now"]:
        time.sleep(0.1)
    accepted = [r for r in fake.calls("Messages.json") if r.status == 201]
    Path(out).write_text(json.dumps({"accepted": len(accepted)}))
    fake.stop()


# --- the load generator ---------------------------------------------------------------------------------------

@dataclass
class Post:
    sid: str
    request: bytes


@dataclass
class LoadResult:
    started: dict[str, float] = field(default_factory=dict)  # first scheduled/started time per MessageSid
    ok: set[str] = field(default_factory=set)  # answered 200 at least once
    errors: int = 0
    redeliveries: int = 0
    posted_for: float = 0.0
    lag_p99: float = 0.0  # how late the generator sent posts (open loop), seconds


def build_posts(n: int, citizens: int, port: int, seed: int = 7) -> list[Post]:
    validator = RequestValidator(TOKEN)
    url = PUBLIC + PATH
    rng = random.Random(seed)
    phones = [f"+5281{1000_0000 + i:08d}" for i in range(citizens)]
    posts: list[Post] = []
    late: list[tuple[int, Post]] = []
    for i in range(n):
        form = {"MessageSid": f"SM{uuid.uuid4().hex}", "AccountSid": SID, "From": rng.choice(phones),
                "To": "+528100000000", "Body": rng.choice(TEXTS), "NumMedia": "0", "ApiVersion": "2010-04-01"}
        body = urlencode(form).encode()
        head = (f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
                f"X-Twilio-Signature: {validator.compute_signature(url, form)}\r\n\r\n").encode()
        post = Post(form["MessageSid"], head + body)
        posts.append(post)
        if i % 20 == 10:
            posts.append(Post(post.sid, post.request))  # redelivered at once (a provider timeout)
        elif i % 20 == 0:
            late.append((i + 50, Post(post.sid, post.request)))  # redelivered a little later
    for pos, post in sorted(late, key=lambda x: x[0], reverse=True):
        posts.insert(min(pos, len(posts)), post)
    return posts


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await self.reader.readexactly(length)
        return status


async def load(port: int, posts: list[Post], concurrency: int, rate: float | None) -> LoadResult:
    """Closed loop (``rate`` None: each connection posts as soon as its previous answer came) or open loop."""
    result = LoadResult()
    conns: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(concurrency):
        conns.put_nowait(Connection(*await asyncio.open_connection("127.0.0.1", port)))
    seen: set[str] = set()
    lags: list[float] = []
    loop = asyncio.get_running_loop()

    async def one(post: Post, scheduled: float) -> None:
        if post.sid in seen:
            result.redeliveries += 1
        else:
            seen.add(post.sid)
            result.started[post.sid] = scheduled
        conn = await conns.get()
        try:
            status = await conn.request(post.request)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            status = 0
            conn = Connection(*await asyncio.open_connection("127.0.0.1", port))
        conns.put_nowait(conn)
        if status == 200:
            result.ok.add(post.sid)
        else:
            result.errors += 1

    t0 = time.time()
    m0 = loop.time()
    if rate is None:
        queue: asyncio.Queue[Post] = asyncio.Queue()
        for p in posts:
            queue.put_nowait(p)

        async def worker() -> None:
            while not queue.empty():
                p = queue.get_nowait()
                await one(p, time.time())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    else:
        tasks = []
        for i, p in enumerate(posts):
            due = m0 + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lags.append(loop.time() - due)
            tasks.append(asyncio.create_task(one(p, t0 + i / rate)))
        await asyncio.gather(*tasks)
    result.posted_for = time.time() - t0
    while not conns.empty():
        conns.get_nowait().writer.close()
    if lags:
        lags.sort()
        result.lag_p99 = lags[int(len(lags) * 0.99)]
    return result


# --- one phase --------------------------------------------------------------------------------------------------

def ts(value: datetime) -> float:
    return value.timestamp()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] * 1000


def run_phase(args: argparse.Namespace, phase: str, workdir: Path) -> str:
    url = fresh_database(args.db, workdir)
    port = 18000 + random.randint(0, 1999)
    dispatch = args.dispatch and phase == "latency"
    env = dict(os.environ, REPORTA_DATABASE_URL=url, REPORTA_VAR_DIR=str(workdir / "var"),
               REPORTA_TWILIO_ACCOUNT_SID=SID, REPORTA_TWILIO_AUTH_TOKEN=TOKEN, REPORTA_PUBLIC_URL=PUBLIC,
               REPORTA_TWILIO_SMS_NUMBER="+528100000000", REPORTA_TWILIO_API_BASE_URL="http://127.0.0.1:9",
               REPORTA_SCHEDULER_ENABLED="false", REPORTA_LOG_LEVEL="WARNING",
               REPORTA_DISPATCH_INTERVAL_SECONDS="0.05", PYTHONPATH=str(ROOT))
    fake = None
    fake_out = workdir / f"fake-{port}.json"
    if dispatch:
        fake = subprocess.Popen([sys.executable, __file__, "--fake-twilio", str(fake_out)], cwd=str(ROOT),
                                stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        env.update(REPORTA_TWILIO_API_BASE_URL=fake.stdout.readline().strip(), REPORTA_SCHEDULER_ENABLED="true")
    env.update(REPORTA_DISPATCH_RATE_LIMITS="false", REPORTA_PROCESSORS=str(args.processors))
    # the real `reporta serve`: web process(es) + processing process(es) + (with --dispatch) the worker process
    server = subprocess.Popen([sys.executable, "-m", "reporta.cli", "serve", "--host", "127.0.0.1", "--port",
                               str(port), "--workers", str(args.workers), "--processors", str(args.processors)],
                              env=env, cwd=str(ROOT))
    engine = make_engine(url)
    try:
        wait_for_server(port, server, args.workers)
        cpu_before = process_cpu(server.pid)
        if phase == "capacity":
            posts = build_posts(args.messages, args.citizens, port)
            res = asyncio.run(load(port, posts, args.concurrency, None))
        else:
            posts = build_posts(int(args.rate * args.duration), args.citizens, port)
            # the redeliveries are extra posts: keep the offered rate of distinct messages at --rate
            offered = args.rate * len(posts) / int(args.rate * args.duration)
            res = asyncio.run(load(port, posts, args.concurrency, offered))
        deadline = time.time() + 120
        while True:
            with engine.connect() as c:
                waiting = c.execute(select(func.count()).select_from(Message.__table__).where(
                    Message.state == InboundState.RECEIVED)).scalar()
                unsent = c.execute(select(func.count()).select_from(OutboxMessage.__table__).where(
                    OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))).scalar() if dispatch else 0
            if (not waiting and not unsent) or time.time() > deadline:
                break
            time.sleep(0.2)
        cpu = cpu_per_message(cpu_before, process_cpu(server.pid), len(posts))
        with engine.connect() as c:
            rows = c.execute(select(Message.id, Message.provider_message_id, Message.state, Message.processed_at)
                             .where(Message.direction == Direction.INBOUND)).all()
            stored_at = dict(c.execute(select(Message.provider_message_id, Message.created_at)
                                       .where(Message.direction == Direction.INBOUND)).all())
            replies = c.execute(select(OutboxMessage.in_reply_to_id, OutboxMessage.dedupe_key, OutboxMessage.created_at,
                                       OutboxMessage.sent_at, OutboxMessage.status)
                                .where(OutboxMessage.in_reply_to_id.is_not(None))).all()
            sent_rows = c.execute(select(func.count()).select_from(OutboxMessage.__table__).where(
                OutboxMessage.sent_at.is_not(None))).scalar()
    finally:
        engine.dispose()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if fake is not None:
            fake.terminate()
            fake.wait(timeout=10)
        drop_database(args.db, url)

    per_sid = Counter(sid for _, sid, _, _ in rows)
    processed = {sid: at for _, sid, state, at in rows if str(getattr(state, "value", state)) == "processed"}
    id_to_sid = {mid: sid for mid, sid, _, _ in rows}
    lost = len(set(res.started) - set(processed)) + len(set(res.started) - res.ok)
    dup_keys = sum(n - 1 for n in Counter(k for _, k, _, _, _ in replies).values())
    duplicated = sum(n - 1 for n in per_sid.values()) + dup_keys
    if dispatch and fake_out.exists():
        duplicated += max(0, json.loads(fake_out.read_text())["accepted"] - sent_rows)
    to_enqueued = [ts(at) - res.started[sid] for sid, at in processed.items() if sid in res.started and at]
    first_sent: dict[int, float] = {}
    for mid, _key, _created, sent_at, _status in replies:
        if sent_at is not None:
            first_sent[mid] = min(first_sent.get(mid, float("inf")), ts(sent_at))
    to_provider = [t - res.started[id_to_sid[mid]] for mid, t in first_sent.items()
                   if id_to_sid.get(mid) in res.started]
    kind = "sqlite" if args.db == "sqlite" else "postgresql"
    head = (f"{kind}, {args.workers} web + {args.processors} processing process"
            f"{'es' if args.processors != 1 else ''}")
    n = len(res.started)
    if phase == "capacity":
        end = max(ts(at) for at in processed.values())
        t0 = min(res.started.values())
        return (f"{head} capacity: {n} messages (+{res.redeliveries} redeliveries), {args.concurrency} connections: "
                f"accepted {len(res.started) / res.posted_for:.0f} posts/s, "
                f"processed {len(processed) / (end - t0):.0f} msg/s (last processed {end - t0:.1f}s after the first "
                f"post); lost {lost}, duplicated {duplicated}, HTTP errors {res.errors}; CPU ms per message: {cpu}; "
                f"load average {os.getloadavg()[0]:.1f}")
    line = (f"{head} latency at {args.rate:.0f} msg/s for {args.duration:.0f}s: {n} messages (+{res.redeliveries} "
            f"redeliveries): POST→reply enqueued p50 {pct(to_enqueued, 0.5):.0f} ms, p99 {pct(to_enqueued, 0.99):.0f} "
            f"ms, max {pct(to_enqueued, 1.0):.0f} ms")
    if args.detail:
        line += "\n" + detail(res.started, processed, stored_at)
    if dispatch:
        line += (f"; POST→provider got the first reply p50 {pct(to_provider, 0.5):.0f} ms, p99 "
                 f"{pct(to_provider, 0.99):.0f} ms ({len(to_provider)} messages answered)")
    line += (f"; lost {lost}, duplicated {duplicated}, HTTP errors {res.errors} (generator lag p99 "
             f"{res.lag_p99 * 1000:.0f} ms); CPU ms per message: {cpu}; load average {os.getloadavg()[0]:.1f}")
    return line


def detail(started: dict[str, float], processed: dict[str, datetime], stored_at: dict[str, datetime]) -> str:
    """Where the tail is: latency by send time (0.5 s buckets) and, for the slowest 1 %, POST→stored (row
    ``created_at``, just before the web writer's commit) vs stored→processed."""
    t0 = min(started.values())
    lat = sorted(((ts(at) - started[sid], sid) for sid, at in processed.items() if sid in started and at),
                 reverse=True)
    buckets: dict[int, list[float]] = {}
    for v, sid in lat:
        buckets.setdefault(int((started[sid] - t0) * 2), []).append(v)
    out = ["  send-time bucket: p50/max ms  " + " ".join(
        f"{b / 2:.1f}s:{pct(v, 0.5):.0f}/{max(v) * 1000:.0f}" for b, v in sorted(buckets.items()))]
    tail = lat[:max(1, len(lat) // 100)]
    out.append("  slowest 1 %: sent at s / POST→stored ms / stored→processed ms: " + " ".join(
        f"{started[sid] - t0:.2f}/{(ts(stored_at[sid]) - started[sid]) * 1000:.0f}/"
        f"{(v - (ts(stored_at[sid]) - started[sid])) * 1000:.0f}" for v, sid in tail[:40]))
    return "\n".join(out)


def process_cpu(root: int) -> dict[int, tuple[str, float]]:
    """CPU seconds (user + system) of ``root`` and its descendants, with a short role name each."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[str, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        ppid, cpu = int(fields[1]), (int(fields[11]) + int(fields[12])) / tick
        children.setdefault(ppid, []).append(int(entry))
        words = [w.decode(errors="replace") for w in cmd]
        if raw[raw.index("(") + 1:raw.rindex(")")] == "postgres":
            stats[int(entry)] = ("postgresql server", cpu)
            children.setdefault(-1, []).append(int(entry))
            continue
        role = next((w for w in ("process", "worker", "serve") if w in words), "web")
        if "multiprocessing" in " ".join(words):
            role = "web"  # uvicorn --workers: a spawned web process
        if role == "process":
            role = "processor-" + (words[words.index("--index") + 1] if "--index" in words else "0")
        stats[int(entry)] = (role, cpu)
    out: dict[int, tuple[str, float]] = {}
    todo = [root, -1]  # -1: every PostgreSQL backend (their CPU is the database's share of each message)
    while todo:
        pid = todo.pop()
        if pid in stats:
            out[pid] = stats[pid]
        todo.extend(children.get(pid, []))
    return out


def cpu_per_message(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]], n: int) -> str:
    by_role: Counter[str] = Counter()
    for pid, (role, cpu) in after.items():
        by_role[role] += cpu - before.get(pid, (role, 0.0))[1]
    return ", ".join(f"{role} {sec * 1000 / max(1, n):.1f}" for role, sec in sorted(by_role.items()))


def wait_for_server(port: int, server: subprocess.Popen, workers: int) -> None:
    import httpx

    deadline = time.time() + 180
    ok = 0
    while ok < workers * 3:  # several answers: with N workers, each has likely started
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                ok += 1
                continue
        except httpx.HTTPError:
            pass
        if time.time() > deadline or server.poll() is not None:
            raise SystemExit("server did not start")
        time.sleep(0.2)
    time.sleep(2.0 + 1.0 * workers)  # the processing processes load the NLU model after the web one is up


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", default="sqlite", help="sqlite, or a PostgreSQL admin URL")
    ap.add_argument("--phase", choices=["capacity", "latency", "both"], default="both")
    ap.add_argument("--messages", type=int, default=3000, help="capacity phase: messages posted")
    ap.add_argument("--concurrency", type=int, default=64, help="connections to the server")
    ap.add_argument("--rate", type=float, default=300.0, help="latency phase: offered messages per second")
    ap.add_argument("--duration", type=float, default=15.0, help="latency phase: seconds of load")
    ap.add_argument("--citizens", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=1, help="web processes (PostgreSQL)")
    ap.add_argument("--processors", type=int, default=1,
                    help="processing processes (0: processing inside the web process(es), the old layout)")
    ap.add_argument("--dispatch", action="store_true",
                    help="latency phase: dispatcher on, replies sent to a fake Twilio API (rate limits off)")
    ap.add_argument("--detail", action="store_true",
                    help="latency phase: latency by send time and where the slowest 1 %% spent it")
    ap.add_argument("--fake-twilio", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.fake_twilio:
        fake_twilio(args.fake_twilio)
        return
    if args.workers > 1 and args.db == "sqlite":
        raise SystemExit("several server processes need PostgreSQL")
    workdir = Path(tempfile.mkdtemp(prefix="reporta-bench-"))
    phases = ["capacity", "latency"] if args.phase == "both" else [args.phase]
    for phase in phases:
        print(run_phase(args, phase, workdir), flush=True)


if __name__ == "__main__":
    main()
