"""A `reporta worker`-like process for the multi-process test: the real Telegram channel (PTB) and the outbox
dispatcher, pointed at a fake Telegram API. Exits after ``--idle`` seconds with nothing due; prints its stats.

    python -m tests.notifications.worker_entry DB_URL TELEGRAM_BASE_URL WORKER_ID [--idle 2.0]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict

from bot.telegram import TelegramChannel
from notifications.dispatcher import Dispatcher
from reporta.settings import Settings
from ticketing.db import make_engine, make_session_factory

TOKEN = "123456:TEST-TOKEN"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("database_url")
    ap.add_argument("telegram_base_url")
    ap.add_argument("worker_id")
    ap.add_argument("--idle", type=float, default=2.0)
    ap.add_argument("--rate-limits", action="store_true")
    args = ap.parse_args()
    settings = Settings(_env_file=None, database_url=args.database_url, telegram_token=TOKEN,
                        telegram_api_base_url=args.telegram_base_url, outbox_max_attempts=50,
                        # 0 turns PTB's AIORateLimiter off too (the channel paces Telegram on its own).
                        telegram_messages_per_second=30.0 if args.rate_limits else 0.0)
    engine = make_engine(args.database_url)
    channel = TelegramChannel(settings)
    dispatcher = Dispatcher(make_session_factory(engine), {"telegram": channel.sender}, settings,
                            worker_id=args.worker_id, rate_limits=args.rate_limits, max_threads=16, batch_size=200)
    idle_since = time.monotonic()
    try:
        while time.monotonic() - idle_since < args.idle:
            if dispatcher.run_once() > 0:
                idle_since = time.monotonic()
            else:
                time.sleep(0.05)
    finally:
        dispatcher.close()
        channel.close()
        engine.dispose()
    print(json.dumps({"worker": args.worker_id, **asdict(dispatcher.stats)}), flush=True)


if __name__ == "__main__":
    main()
