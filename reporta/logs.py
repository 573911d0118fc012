"""Process-wide logging for ``reporta serve``, ``reporta process`` and ``reporta worker``: one format, quiet
third parties, and no personal data or secrets in any line at any level.

What keeps the log clean:

- third parties that log payloads or URLs stay at WARNING whatever ``REPORTA_LOG_LEVEL`` says: httpx/httpcore
  (Bot API URLs carry the bot token), python-telegram-bot (at DEBUG it logs every call's parameters: chat ids
  and texts), urllib3 and the twilio client (request URLs), APScheduler (every job run), SQLAlchemy's engine;
- the database engine hides statement parameters (``hide_parameters=True`` in ``ticketing.db.make_engine``), so
  a traceback of a failed INSERT names the statement, not a citizen's text, name or phone;
- ``RedactFilter`` on every handler (ours and uvicorn's access log): the query of a ``/media`` link (a signature
  valid for days) and any other ``sig``/``token`` parameter, phone numbers in E.164, and bot tokens are
  replaced before a line is written. It is the safety net; log calls themselves never pass personal data
  (message, outbox and identity *ids* only).
"""

from __future__ import annotations

import logging
import re
from typing import Any

QUIET = ("httpx", "httpcore", "apscheduler.executors", "apscheduler.scheduler", "twilio.http_client", "telegram",
         "urllib3", "sqlalchemy.engine", "sqlalchemy.pool", "hpack", "psycopg")

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(/media/[^\s?\"']*)\?[^\s\"']*"), r"\1?[redacted]"),  # signed media links
    (re.compile(r"([?&](?:sig|signature|token|exp|secret)=)[^&\s\"']+", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"bot\d{5,}:[A-Za-z0-9_-]{20,}"), "bot[redacted]"),  # Telegram bot tokens in URLs
    (re.compile(r"(?<![\w+])\+\d{10,15}(?!\d)"), "+[phone]"),  # E.164 numbers
    (re.compile(r"(whatsapp:)\+?\d{8,15}"), r"\1[phone]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactFilter(logging.Filter):
    """Rewrites each record's message (and its formatted traceback) with ``redact``."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and all(isinstance(a, str | int | float | type(None)) for a in args):
            # keep the arguments (uvicorn's access formatter unpacks them), redact the strings among them
            record.msg = redact(record.msg) if isinstance(record.msg, str) else record.msg
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in args)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a broken format string: keep what we have
                return True
            record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_redaction(*loggers: logging.Logger) -> None:
    """Put a ``RedactFilter`` on every handler of the root logger (and of ``loggers``)."""
    for logger in (logging.getLogger(), *loggers):
        for handler in logger.handlers:
            if not any(isinstance(f, RedactFilter) for f in handler.filters):
                handler.addFilter(RedactFilter())


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    install_redaction()


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own logging configuration with ``RedactFilter`` on its handlers (the access log writes the full
    request line, query string included)."""
    from uvicorn.config import LOGGING_CONFIG

    config: dict[str, Any] = {**LOGGING_CONFIG, "filters": {"redact": {"()": "reporta.logs.RedactFilter"}}}
    handlers = LOGGING_CONFIG["handlers"]
    config["handlers"] = {name: {**handler, "filters": ["redact"]} for name, handler in handlers.items()}
    config["loggers"] = {name: {**logger} for name, logger in LOGGING_CONFIG["loggers"].items()}
    config["loggers"]["uvicorn"]["level"] = level.upper()
    return config
