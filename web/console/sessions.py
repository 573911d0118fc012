"""Console sessions: an opaque random id in an HttpOnly, SameSite=Lax cookie (``Secure`` and the ``__Host-``
prefix when ``REPORTA_PUBLIC_URL`` is https); the database keeps only the id's sha256, so a copy of the table
signs nobody in. A new id at every sign-in (no fixation), idle timeout 30 minutes, absolute 12 hours; signing
out revokes the row; disabling a staff member revokes all of theirs.

``load(session, raw_id, now)`` returns the ``StaffPrincipal`` of a valid session (and keeps it alive);
everything else (unknown, revoked, idle, expired, disabled staff) returns None.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from reporta.settings import Settings
from ticketing.models import Department, StaffSession, StaffUser
from web.staff import StaffPrincipal

IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=12)
#: ``last_seen_at`` is written at most this often (a request does not cost a write each time).
TOUCH_EVERY = timedelta(seconds=60)


def https(settings: Settings) -> bool:
    return settings.public_url.lower().startswith("https://")


def cookie_name(settings: Settings) -> str:
    return "__Host-reporta_console" if https(settings) else "reporta_console"


def login_cookie_name(settings: Settings) -> str:
    """The sign-in page's own random value: the CSRF token of the sign-in form is bound to it."""
    return "__Host-reporta_login" if https(settings) else "reporta_login"


def cookie_header(settings: Settings, name: str, value: str, *, max_age: int | None) -> str:
    parts = [f"{name}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
    if https(settings):
        parts.append("Secure")
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    return "; ".join(parts)


def digest(raw_id: str) -> str:
    return hashlib.sha256(raw_id.encode()).hexdigest()


def create(session: Session, staff: StaffUser, now: datetime, *, address: str | None,
           user_agent: str | None) -> str:
    """A new session for ``staff``; returns the raw id for the cookie (never stored)."""
    raw = secrets.token_urlsafe(32)
    session.add(StaffSession(id=digest(raw), staff_id=staff.id, created_at=now, last_seen_at=now,
                             expires_at=now + ABSOLUTE, address=(address or "")[:64] or None,
                             user_agent=(user_agent or "")[:200] or None))
    session.flush()
    return raw


def revoke(session: Session, raw_id: str, now: datetime) -> None:
    session.execute(update(StaffSession).where(StaffSession.id == digest(raw_id), StaffSession.revoked_at.is_(None))
                    .values(revoked_at=now))


def revoke_all(session: Session, staff_id: int, now: datetime) -> int:
    result = session.execute(update(StaffSession).where(StaffSession.staff_id == staff_id,
                                                        StaffSession.revoked_at.is_(None)).values(revoked_at=now))
    return result.rowcount or 0


def load(session: Session, raw_id: str | None, now: datetime) -> StaffPrincipal | None:
    if not raw_id or len(raw_id) > 100:
        return None
    row = session.execute(
        select(StaffSession, StaffUser, Department.code, Department.name)
        .join(StaffUser, StaffUser.id == StaffSession.staff_id)
        .outerjoin(Department, Department.id == StaffUser.department_id)
        .where(StaffSession.id == digest(raw_id))
    ).first()
    if row is None:
        return None
    record, staff, department_code, department_name = row
    if record.revoked_at is not None or not staff.active or now >= record.expires_at \
            or now - record.last_seen_at >= IDLE:
        return None
    if now - record.last_seen_at >= TOUCH_EVERY:
        record.last_seen_at = now
    return StaffPrincipal(id=staff.id, email=staff.username, name=staff.display_name, role=staff.role,
                          department_id=staff.department_id, department_code=department_code, session_id=raw_id,
                          department_name=department_name)
