"""Outbox dispatch benchmark: messages per second from the outbox to a provider on loopback, and how long a
storm's backlog takes to drain at the real rate limits.

    .venv/bin/python benchmarks/dispatch_bench.py [--url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--messages 20000] [--telegram-messages 10000] [--workers 2] [--storm 50000]

1. **Throughput** (rate limits off): N queued rows sent by ``--workers`` dispatcher processes, each running the
   dispatcher's production loops (``Dispatcher.start``, as ``reporta worker`` does) with the channel's **real
   sender**: SMS through the twilio SDK (``Messages.json``), then Telegram through python-telegram-bot
   (``sendMessage``), over real HTTP to a minimal provider on 127.0.0.1 (its own process, asyncio) that answers
   each API in its real format. Timed until the last row is ``sent``; every row must be sent exactly once
   (distinct provider ids).
2. **Storm**: the backlog of ``--storm`` status updates (mixed channels) is measured at the real limits
   for a few seconds (to check the pacing holds) and the drain time is computed per channel (channels
   drain in parallel; Telegram 30/s, Twilio ``REPORTA_TWILIO_MESSAGES_PER_SECOND`` per number).
Creates and drops its own database.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import multiprocessing
import os
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, insert, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import throwaway_db
from notifications.dispatcher import Dispatcher
from reporta.messages import OutboundMessage, SendReceipt
from reporta.settings import Settings
from ticketing.db import make_engine, make_session_factory
from ticketing.models import ChannelIdentity, ChannelKind, Citizen, OutboxMessage, OutboxStatus, utcnow


# --- a minimal provider on loopback (its own process, so it does not share our GIL) --------------------------
class _Provider(asyncio.Protocol):
    counter = itertools.count(1)

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buf[:head_end].decode("latin-1").lower()
            length = 0
            for line in head.split("\r\n"):
                if line.startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
            if len(self.buf) < head_end + 4 + length:
                return
            self.buf = self.buf[head_end + 4 + length:]
            n = next(self.counter)
            status = b"200 OK"
            if "/sendmessage" in head.split("\r\n", 1)[0]:  # the Bot API's answer: the Message sent
                body = json.dumps({"ok": True, "result": {"message_id": n, "date": 1_700_000_000,
                                                          "chat": {"id": 1, "type": "private"}}}).encode()
            elif "/messages.json" in head.split("\r\n", 1)[0]:  # Twilio's: the Message resource, 201
                status = b"201 Created"
                body = json.dumps({"sid": f"SM{n:032x}", "status": "queued", "account_sid": "AC" + "0" * 32,
                                   "direction": "outbound-api", "num_segments": "1"}).encode()
            else:
                body = json.dumps({"ok": True, "id": n}).encode()
            self.transport.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nContent-Length: "
                                 + str(len(body)).encode() + b"\r\n\r\n" + body)


def _serve(port_q) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Provider, "127.0.0.1", 0)
        port_q.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


# --- database -----------------------------------------------------------------------------------------------
def seed(url: str, n: int, channels: dict[str, float], *, per_chat: int = 1) -> None:
    """``n`` pending rows spread over channels by share; ``per_chat`` rows per identity."""
    engine = make_engine(url)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE outbox, channel_identities, citizens RESTART IDENTITY CASCADE"))
        ident = 0
        rows, idents, citizens = [], [], []
        for channel, share in channels.items():
            count = int(n * share)
            chats = max(1, count // per_chat)
            first = ident + 1
            for _ in range(chats):
                ident += 1
                citizens.append({"id": ident, "created_at": now, "phone_e164": f"+5281{ident:08d}"})
                ext = f"+5281{ident:08d}" if channel != "telegram" else str(10_000_000 + ident)
                idents.append({"id": ident, "citizen_id": ident, "channel": ChannelKind(channel), "external_id": ext,
                               "last_inbound_at": now, "created_at": now})
            for k in range(count):
                rows.append({"identity_id": first + (k % chats), "channel": ChannelKind(channel), "kind": "reply",
                             "urgent": True, "body": f"{channel}-{k}", "payload": {},
                             "status": OutboxStatus.PENDING, "attempts": 0, "next_attempt_at": now,
                             "created_at": now})
        conn.execute(insert(Citizen), citizens)
        conn.execute(insert(ChannelIdentity), idents)
        for i in range(0, len(rows), 5000):
            conn.execute(insert(OutboxMessage), rows[i:i + 5000])
    engine.dispose()


def count_sent(url: str, engine=None) -> int:
    own = engine is None
    engine = engine or make_engine(url)
    with engine.connect() as c:
        n = c.execute(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.SENT)
                      ).scalar()
    if own:
        engine.dispose()
    return int(n or 0)


TWILIO_SID = "AC" + "0" * 32


def provider_settings(url: str, channel: str, base_url: str) -> Settings:
    """Settings that turn on one real channel, pointed at the loopback provider (rate limits off)."""
    if channel == "telegram":
        return Settings(_env_file=None, database_url=url, telegram_token="123456:BENCH", telegram_api_base_url=base_url,
                        telegram_messages_per_second=0.0)
    return Settings(_env_file=None, database_url=url, twilio_account_sid=TWILIO_SID, twilio_auth_token="bench",
                    twilio_sms_number="+15005550006", twilio_whatsapp_number="+14155238886",
                    twilio_api_base_url=base_url)


def _worker_proc(url: str, channel: str, base_url: str, worker_id: str, total: int) -> None:
    """One dispatcher process as ``reporta worker`` runs it (its per-channel loops), with the channel's real
    sender, until every row is sent."""
    settings = provider_settings(url, channel, base_url)
    if channel == "telegram":
        from bot.telegram import TelegramChannel

        built: object = TelegramChannel(settings)
        sender = built.sender  # type: ignore[attr-defined]
    else:
        from bot.twilio import TwilioChannel

        built = TwilioChannel(settings)
        sender = built.senders[channel]  # type: ignore[attr-defined]
    engine = make_engine(url)
    d = Dispatcher(make_session_factory(engine), {channel: sender}, settings, worker_id=worker_id, rate_limits=False,
                   batch_size=500)
    d.start()
    while count_sent(url, engine) < total:
        time.sleep(0.2)
    d.stop()
    d.close()
    built.close()  # type: ignore[attr-defined]
    engine.dispose()


def throughput(url: str, base_url: str, channel: str, n: int, workers: int) -> float:
    """``n`` queued rows of ``channel`` sent by ``workers`` dispatcher processes with the real sender."""
    seed(url, n, {channel: 1.0})
    t0 = time.perf_counter()
    procs = [multiprocessing.Process(target=_worker_proc, args=(url, channel, base_url, f"bench-{i}", n))
             for i in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t0
    sent = count_sent(url)
    assert sent == n, f"only {sent}/{n} sent"
    with make_engine(url).connect() as c:
        doubles = c.execute(text("SELECT count(*) - count(DISTINCT provider_message_id) FROM outbox")).scalar()
    assert not doubles, f"{doubles} rows share a provider id"
    return n / elapsed


class NullSender:
    def __init__(self) -> None:
        self.n = 0
        self.lock = threading.Lock()

    def send(self, message: OutboundMessage) -> SendReceipt:
        with self.lock:
            self.n += 1
            return SendReceipt(provider_message_id=f"x{self.n}")


def storm(url: str, backlog: int, seconds: float, mix: dict[str, float], twilio_rate: float) -> dict:
    """Measure the paced rate for ``seconds`` and compute the drain time of ``backlog`` messages."""
    sample = 4000
    seed(url, sample, mix)
    settings = Settings(_env_file=None, database_url=url, twilio_messages_per_second=twilio_rate)
    engine = make_engine(url)
    senders = {ch: NullSender() for ch in mix}
    d = Dispatcher(make_session_factory(engine), senders, settings, rate_limits=True, batch_size=200)
    d.start()
    time.sleep(1.0)  # skip the initial burst (one second's worth of tokens)
    start = {ch: senders[ch].n for ch in mix}
    time.sleep(seconds)
    measured = {ch: (senders[ch].n - start[ch]) / seconds for ch in mix}
    d.stop()
    d.close()
    engine.dispose()
    limits = {"telegram": settings.telegram_messages_per_second, "whatsapp": twilio_rate, "sms": twilio_rate}
    per_channel = {ch: backlog * share / limits[ch] for ch, share in mix.items()}
    return {"measured_per_s": {k: round(v, 1) for k, v in measured.items()}, "limits_per_s": limits,
            "drain_seconds": {k: round(v) for k, v in per_channel.items()},
            "drain_total_minutes": round(max(per_channel.values()) / 60, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                    help="admin URL of the PostgreSQL server (a throw-away database is created)")
    ap.add_argument("--messages", type=int, default=20_000, help="rows sent through the Twilio (SMS) sender")
    ap.add_argument("--telegram-messages", type=int, default=10_000, help="rows sent through the Telegram sender")
    ap.add_argument("--workers", type=int, default=2, help="dispatcher processes (reporta worker)")
    ap.add_argument("--storm", type=int, default=50_000)
    ap.add_argument("--storm-seconds", type=float, default=6.0)
    ap.add_argument("--twilio-rate", type=float, default=10.0)
    args = ap.parse_args()
    url = throwaway_db.create(args.url)
    port_q: multiprocessing.Queue = multiprocessing.Queue()
    provider = multiprocessing.Process(target=_serve, args=(port_q,), daemon=True)
    provider.start()
    base = f"http://127.0.0.1:{port_q.get(timeout=10)}"
    try:
        for channel, n, sdk in (("sms", args.messages, "twilio SDK"), ("telegram", args.telegram_messages,
                                                                         "python-telegram-bot")):
            if n <= 0:
                continue
            rate = throughput(url, base, channel, n, args.workers)
            print(f"{channel} through the real sender ({sdk}) -> loopback provider, rate limits off, "
                  f"{args.workers} worker process(es): {n} messages at {rate:,.0f} msg/s, each sent once "
                  f"(load average {os.getloadavg()[0]:.1f})")
        mix = {"whatsapp": 0.5, "telegram": 0.3, "sms": 0.2}
        result = storm(url, args.storm, args.storm_seconds, mix, args.twilio_rate)
        print(f"storm backlog of {args.storm:,} updates (mix {mix}): measured paced rate {result['measured_per_s']} "
              f"(limits {result['limits_per_s']}); drain per channel {result['drain_seconds']} s; "
              f"all drained in ~{result['drain_total_minutes']} min")
        tg_only = args.storm / 30.0
        print(f"same backlog all on Telegram at 30/s: ~{tg_only / 60:.0f} min; all on one Twilio number at "
              f"{args.twilio_rate:g}/s: ~{args.storm / args.twilio_rate / 60:.0f} min")
    finally:
        provider.terminate()
        throwaway_db.drop(args.url, url)


if __name__ == "__main__":
    main()
