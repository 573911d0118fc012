"""Process-wide logging for ``reporta serve`` and ``reporta worker``: one format, quiet third parties.

httpx logs request URLs at INFO, and Telegram URLs carry the bot token; APScheduler logs every job run
at INFO. Both are kept at WARNING so the log shows what Reporta did, not its plumbing.
"""

from __future__ import annotations

import logging

QUIET = ("httpx", "httpcore", "apscheduler.executors", "apscheduler.scheduler", "twilio.http_client")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
