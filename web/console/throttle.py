"""Login throttling: after ``ACCOUNT_LIMIT`` failed sign-ins of one account within ``WINDOW`` the account is
locked for ``LOCK`` (counted from the failure that tripped it); an address (the client IP) gets the same with
``ADDRESS_LIMIT`` failures across any accounts. Attempts are rows of ``login_attempts`` (shared by every web
process); a successful sign-in clears the account's count."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import LoginAttempt

WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)
ACCOUNT_LIMIT = 5
ADDRESS_LIMIT = 20


def _locked_until(times: list[datetime], limit: int, now: datetime) -> datetime | None:
    """``times``: failures newest first. Locked when ``limit`` of them fall within ``WINDOW``."""
    for i in range(len(times) - limit + 1):
        newest, oldest = times[i], times[i + limit - 1]
        if newest - oldest <= WINDOW:
            until = newest + LOCK
            return until if until > now else None
    return None


def _failures(session: Session, column: str, value: str, now: datetime) -> list[datetime]:
    col = getattr(LoginAttempt, column)
    since = now - WINDOW - LOCK
    rows = session.execute(
        select(LoginAttempt.created_at, LoginAttempt.succeeded).where(col == value, LoginAttempt.created_at >= since)
        .order_by(LoginAttempt.created_at.desc(), LoginAttempt.id.desc()).limit(200)
    ).all()
    out: list[datetime] = []
    for created, succeeded in rows:
        if succeeded:
            if column == "username":
                break  # a success clears the account's count
            continue
        out.append(created)
    return out


def locked_until(session: Session, username: str, address: str, now: datetime) -> datetime | None:
    """When the account or the address may try again; None when it may try now."""
    account = _locked_until(_failures(session, "username", username, now), ACCOUNT_LIMIT, now)
    by_address = _locked_until(_failures(session, "address", address, now), ADDRESS_LIMIT, now)
    found = [t for t in (account, by_address) if t is not None]
    return max(found) if found else None


def record(session: Session, username: str, address: str, succeeded: bool, now: datetime) -> None:
    session.add(LoginAttempt(username=username[:200], address=address[:64], succeeded=succeeded, created_at=now))
    session.flush()
