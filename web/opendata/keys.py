"""Open311 API keys: who may file reports through ``POST /open311/v2/requests``.

A key is shown once, when it is made (``reporta open311 keys add NAME``); only its SHA-256 is stored, with its
first characters (``prefix``) so staff can tell keys apart. A revoked key stops working at once.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ticketing.models import Open311ApiKey

PREFIX_LENGTH = 8


class ApiKeyError(ValueError):
    """A refused key operation (duplicate name, unknown key)."""


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add_key(session: Session, name: str) -> tuple[Open311ApiKey, str]:
    """A new key named ``name``: (its row, the key itself — shown to the operator once, never stored)."""
    name = name.strip()
    if not name or len(name) > 120:
        raise ApiKeyError("the key needs a name of 1 to 120 characters (e.g. the application's)")
    if session.scalars(select(Open311ApiKey).where(Open311ApiKey.name == name)).first() is not None:
        raise ApiKeyError(f"a key named {name!r} already exists")
    key = "r311_" + secrets.token_urlsafe(30)
    row = Open311ApiKey(name=name, key_sha256=_digest(key), prefix=key[:PREFIX_LENGTH + 5],
                        created_at=datetime.now(UTC))
    session.add(row)
    session.flush()
    return row, key


def list_keys(session: Session) -> list[Open311ApiKey]:
    return list(session.scalars(select(Open311ApiKey).order_by(Open311ApiKey.id)))


def revoke_key(session: Session, name: str) -> Open311ApiKey:
    row = session.scalars(select(Open311ApiKey).where(Open311ApiKey.name == name.strip())).first()
    if row is None:
        raise ApiKeyError(f"no key named {name!r}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    return row


def verify_key(session: Session, key: str | None) -> Open311ApiKey | None:
    """The active key row for ``key``, its use recorded; None when missing, unknown or revoked."""
    if not key or len(key) > 200:
        return None
    row = session.scalars(select(Open311ApiKey).where(Open311ApiKey.key_sha256 == _digest(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    row.last_used_at = datetime.now(UTC)
    return row
