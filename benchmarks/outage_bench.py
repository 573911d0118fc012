"""Outage benchmark: duplicate replies and recovery time of a running ``reporta serve`` (web + processing +
worker processes, PostgreSQL, Telegram through python-telegram-bot to a fake Bot API) when

1. **the database goes away for 30 s** (``--outage``): every connection between Reporta and PostgreSQL runs
   through a TCP proxy in this process; "down" resets the open connections and refuses new ones, as a stopped
   server does (the shared PostgreSQL itself keeps running for everyone else);
2. **the worker is killed** (``--kills`` times, ``kill -9`` of the ``reporta worker`` child while it sends).

Throughout, ``--citizens`` citizens each write every ``--interval`` seconds through the Telegram webhook; a post
answered with anything but 200 is posted again 1 s later, as Telegram redelivers. The fake Bot API takes
``--send-ms`` per sendMessage, like the real one. Printed, per scenario:

- **duplicates**: sendMessage calls the fake accepted beyond one per outbox row sent (the providers take no
  idempotency key: a reply sent but not recorded is sent again);
- **lost**: updates answered 200 whose message was never processed or whose replies were never sent;
- **recovery**: from the database coming back to the first message stored / processed / answered after it;
- the processes' restarts, and the log lines (and tracebacks) written during the outage.

    .venv/bin/python benchmarks/outage_bench.py --db postgresql+psycopg://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import select as select_module
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks import throwaway_db  # noqa: E402
from tests.fakes.telegram_api import FakeTelegram  # noqa: E402
from ticketing.db import make_engine  # noqa: E402
from ticketing.models import Direction, InboundState, Message, OutboxMessage, OutboxStatus  # noqa: E402

TOKEN = "7000000001:AAE-bench-token"
SECRET = "bench-secret"
TEXTS = ["hola", "hay un bache en Hidalgo 120 col. Centro", "no pasó la basura en Mitras", "gracias",
         "quiero saber de mi reporte", "la luminaria de Juárez no prende"]


# --- a TCP proxy in front of PostgreSQL -------------------------------------------------------------------------

class Proxy:
    """127.0.0.1:<port> → the database; ``down()`` resets every connection and refuses new ones until ``up()``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.pairs: dict[socket.socket, socket.socket] = {}
        self.lock = threading.Lock()
        self.listener = self._listen(0)
        self.port = self.listener.getsockname()[1]
        self.is_down = False
        self._stop = False
        threading.Thread(target=self._loop, daemon=True, name="db-proxy").start()

    def _listen(self, port: int) -> socket.socket:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(256)
        s.setblocking(False)
        return s

    def _loop(self) -> None:
        while not self._stop:
            with self.lock:
                listener = None if self.is_down else self.listener
                socks = list(self.pairs)
            readable = [s for s in [listener, *socks] if s is not None]
            if not readable:
                time.sleep(0.05)
                continue
            try:
                ready, _, _ = select_module.select(readable, [], [], 0.05)
            except (OSError, ValueError):
                continue
            for s in ready:
                if s is listener:
                    try:
                        client, _ = s.accept()
                    except OSError:
                        continue
                    try:
                        upstream = socket.create_connection(self.target, timeout=5)
                    except OSError:
                        client.close()
                        continue
                    with self.lock:
                        self.pairs[client], self.pairs[upstream] = upstream, client
                    continue
                with self.lock:
                    other = self.pairs.get(s)
                if other is None:
                    continue
                try:
                    data = s.recv(65536)
                    if data:
                        other.sendall(data)
                        continue
                except OSError:
                    pass
                self._close_pair(s)

    def _close_pair(self, s: socket.socket) -> None:
        with self.lock:
            other = self.pairs.pop(s, None)
            if other is not None:
                self.pairs.pop(other, None)
        for x in (s, other):
            if x is not None:
                try:
                    x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    x.close()
                except OSError:
                    pass

    def down(self) -> None:
        with self.lock:
            self.is_down = True
            self.listener.close()  # new connections: refused
            socks = list(self.pairs)
        for s in socks:  # open connections: reset
            self._close_pair(s)

    def up(self) -> None:
        with self.lock:
            self.listener = self._listen(self.port)
            self.is_down = False

    def stop(self) -> None:
        self._stop = True


# --- the fake Bot API, taking --send-ms per send ----------------------------------------------------------------

class SlowTelegram(FakeTelegram):
    send_seconds = 0.15

    def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        time.sleep(self.send_seconds)
        return super()._api_sendMessage(params)


# --- load: citizens writing on Telegram -------------------------------------------------------------------------

class Citizens:
    def __init__(self, port: int, n: int, interval: float) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.n, self.interval = n, interval
        self.ids = itertools.count(1)
        self.ok: set[int] = set()
        self.retries = 0
        self.statuses: Counter[int] = Counter()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._citizen, args=(200_000 + i,), daemon=True) for i in range(n)]

    def start(self) -> None:
        for t in self.threads:
            t.start()
            time.sleep(self.interval / self.n)

    def _citizen(self, chat: int) -> None:
        rng = random.Random(chat)
        with httpx.Client(base_url=self.base, timeout=10) as client:
            while not self.stop.is_set():
                with self.lock:
                    uid = next(self.ids)
                update = {"update_id": uid, "message": {
                    "message_id": uid, "date": int(time.time()), "text": rng.choice(TEXTS),
                    "chat": {"id": chat, "type": "private"}, "from": {"id": chat, "is_bot": False, "first_name": "B"}}}
                while not self.stop.is_set():  # Telegram redelivers until it gets a 2xx
                    try:
                        status = client.post("/webhooks/telegram", json=update,
                                             headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}).status_code
                    except httpx.HTTPError:
                        status = 0
                    with self.lock:
                        self.statuses[status] += 1
                    if status == 200:
                        with self.lock:
                            self.ok.add(uid)
                        break
                    with self.lock:
                        self.retries += 1
                    self.stop.wait(1.0)
                self.stop.wait(self.interval)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


# --- measurements -----------------------------------------------------------------------------------------------

def wait_idle(engine, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        with engine.connect() as c:
            waiting = c.execute(select(func.count()).select_from(Message.__table__).where(
                Message.state == InboundState.RECEIVED)).scalar()
            unsent = c.execute(select(func.count()).select_from(OutboxMessage.__table__).where(
                OutboxMessage.status.in_([OutboxStatus.PENDING, OutboxStatus.SENDING]))).scalar()
        if not waiting and not unsent:
            return
        time.sleep(0.5)


def duplicates(engine, fake: FakeTelegram) -> tuple[int, int]:
    """(sends accepted by the fake beyond one per outbox row sent, outbox rows sent)."""
    with engine.connect() as c:
        rows = c.execute(select(func.count()).select_from(OutboxMessage.__table__).where(
            OutboxMessage.sent_at.is_not(None))).scalar()
    accepted = len([r for r in fake.calls("sendMessage") if r.status == 200])
    return max(0, accepted - rows), rows


def lost(engine, citizens: Citizens) -> int:
    with engine.connect() as c:
        done = {int(pid) for pid, in c.execute(select(Message.provider_message_id).where(
            Message.direction == Direction.INBOUND, Message.state == InboundState.PROCESSED)).all()}
    return len(citizens.ok - done)


def first_after(engine, fake: FakeTelegram, t: float) -> dict[str, float]:
    """Seconds from ``t`` (epoch) to the first message stored, processed, and reply accepted by the fake."""
    from datetime import UTC, datetime

    at = datetime.fromtimestamp(t, UTC)
    with engine.connect() as c:
        stored = c.execute(select(func.min(Message.created_at)).where(
            Message.direction == Direction.INBOUND, Message.created_at >= at)).scalar()
        processed = c.execute(select(func.min(Message.processed_at)).where(
            Message.direction == Direction.INBOUND, Message.processed_at >= at)).scalar()
    mono_offset = time.time() - time.monotonic()
    sends = [r.at + mono_offset for r in fake.calls("sendMessage") if r.status == 200 and r.at + mono_offset >= t]
    return {"stored": (stored.timestamp() - t) if stored else float("nan"),
            "processed": (processed.timestamp() - t) if processed else float("nan"),
            "answered": (min(sends) - t) if sends else float("nan")}


def worker_pid(serve_pid: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(stat[1]) == serve_pid and b"worker" in cmd:
            return int(entry.name)
    return None


def log_counts(path: Path, start: int) -> tuple[int, int, int]:
    """(lines, tracebacks, restarts) written to the server's log from byte ``start``."""
    text = path.read_bytes()[start:].decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.strip()]
    return len(lines), text.count("Traceback"), text.count("starting it again")


# --- main ---------------------------------------------------------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=os.environ.get("REPORTA_TEST_DATABASE_URL",
                                                   "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"))
    ap.add_argument("--citizens", type=int, default=12)
    ap.add_argument("--interval", type=float, default=1.0, help="seconds between a citizen's messages")
    ap.add_argument("--outage", type=float, default=30.0, help="seconds the database is away (0: skip)")
    ap.add_argument("--kills", type=int, default=3, help="kill -9 of the worker, this many times (0: skip)")
    ap.add_argument("--send-ms", type=float, default=150.0)
    args = ap.parse_args()

    url = throwaway_db.create(args.db)
    u = make_url(url)
    proxy = Proxy((u.host or "127.0.0.1", u.port or 5432))
    proxied = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    SlowTelegram.send_seconds = args.send_ms / 1000
    fake = SlowTelegram(token=TOKEN)
    fake.server.RequestHandlerClass.disable_nagle_algorithm = True
    fake.start()
    workdir = Path(tempfile.mkdtemp(prefix="reporta-outage-"))
    log_path = workdir / "serve.log"
    port = 19000 + random.randint(0, 999)
    env = dict(os.environ, REPORTA_DATABASE_URL=proxied, REPORTA_VAR_DIR=str(workdir / "var"),
               REPORTA_TELEGRAM_TOKEN=TOKEN, REPORTA_TELEGRAM_WEBHOOK_SECRET=SECRET,
               REPORTA_TELEGRAM_API_BASE_URL=fake.base_url, REPORTA_PUBLIC_URL="https://reporta.bench.example",
               REPORTA_LOG_LEVEL="INFO", REPORTA_DISPATCH_RATE_LIMITS="false",
               REPORTA_TELEGRAM_MESSAGES_PER_SECOND="0", REPORTA_PROCESSORS="1", PYTHONPATH=str(ROOT))
    log_file = open(log_path, "wb")  # noqa: SIM115 - open for the server's lifetime
    server = subprocess.Popen([sys.executable, "-m", "reporta.cli", "serve", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, cwd=str(ROOT), stdout=log_file, stderr=subprocess.STDOUT)
    engine = make_engine(url)
    citizens = Citizens(port, args.citizens, args.interval)
    report: dict[str, Any] = {}
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                raise SystemExit(f"reporta serve did not start; see {log_path}")
            time.sleep(0.2)
        citizens.start()
        time.sleep(8)
        if args.outage:
            wait_idle(engine, 20)
            dup_before, _ = duplicates(engine, fake)
            mark = log_path.stat().st_size
            proxy.down()
            time.sleep(args.outage)
            proxy.up()
            back = time.time()
            time.sleep(15)
            lines, tracebacks, restarts = log_counts(log_path, mark)
            recovery = first_after(engine, fake, back)
            wait_idle(engine)
            dup_after, _ = duplicates(engine, fake)
            report["outage"] = {"seconds": args.outage, "duplicates": dup_after - dup_before, "log_lines": lines,
                                "tracebacks": tracebacks, "restarts": restarts,
                                "recovery_s": {k: round(v, 2) for k, v in recovery.items()}}
        if args.kills:
            dup_before, _ = duplicates(engine, fake)
            killed = 0
            mark = log_path.stat().st_size
            for _ in range(args.kills):
                time.sleep(4)
                pid = worker_pid(server.pid)
                if pid is None:
                    continue
                os.kill(pid, signal.SIGKILL)
                killed += 1
            time.sleep(5)
            citizens.finish()
            lease = 30.0
            time.sleep(lease + 5)  # a row the dead worker claimed comes back after its lease
            wait_idle(engine)
            dup_after, _ = duplicates(engine, fake)
            _, _, restarts = log_counts(log_path, mark)
            with engine.connect() as c:
                waits = [(s - cr).total_seconds() for cr, s in c.execute(
                    select(OutboxMessage.created_at, OutboxMessage.sent_at).where(
                        OutboxMessage.sent_at.is_not(None))).all()]
            report["kills"] = {"kills": killed, "duplicates": dup_after - dup_before, "restarts": restarts,
                               "max_reply_wait_s": round(max(waits), 1) if waits else None}
        citizens.finish()
        wait_idle(engine)
        report["totals"] = {"updates": len(citizens.ok), "lost": lost(engine, citizens),
                            "posts": dict(citizens.statuses), "redeliveries": citizens.retries,
                            "outbox_rows_sent": duplicates(engine, fake)[1]}
    finally:
        citizens.finish()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()
        engine.dispose()
        fake.stop()
        proxy.stop()
        throwaway_db.drop(args.db, url)
    print(json.dumps(report, indent=1))
    o, k, t = report.get("outage"), report.get("kills"), report["totals"]
    if o:
        print(f"database away {o['seconds']:.0f} s: {o['duplicates']} duplicate replies, {o['restarts']} process "
              f"restarts, {o['log_lines']} log lines ({o['tracebacks']} tracebacks); after it came back: first "
              f"message stored in {o['recovery_s']['stored']} s, processed in {o['recovery_s']['processed']} s, "
              f"answered in {o['recovery_s']['answered']} s")
    if k:
        print(f"worker killed {k['kills']} times while sending: {k['duplicates']} duplicate replies, longest wait "
              f"for a reply {k['max_reply_wait_s']} s")
    print(f"{t['updates']} updates answered 200, {t['lost']} lost, {t['redeliveries']} redelivered after a non-200")


if __name__ == "__main__":
    main()
