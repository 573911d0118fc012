"""How the flow reports a failure: one short line without the statement's parameters."""

from __future__ import annotations

import logging

from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


def describe_error(exc: BaseException) -> str:
    """An error in one short line without its parameters: the exception type and, for a database error, the
    first line of the driver's message (``value too long for type character varying(80)``)."""
    orig = getattr(exc, "orig", None)
    first = str(orig if orig is not None else "").strip().splitlines()
    return f"{type(exc).__name__}: {first[0][:120]}" if first else type(exc).__name__


def log_failure(what: str, exc: BaseException) -> None:
    """One ERROR line for a failure: a database error without its traceback (it would print the statement; its
    parameters are hidden by the engine, but one line per failure is what an outage should cost), anything else
    with it (a bug)."""
    log.error("%s: %s", what, describe_error(exc), exc_info=None if isinstance(exc, DBAPIError) else exc)
