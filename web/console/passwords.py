"""Staff passwords: argon2id hashes (argon2-cffi's ``PasswordHasher`` with its current parameters), verified in
constant time; a hash made with older parameters is replaced at the next successful sign-in."""

from __future__ import annotations

import contextlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()
#: A hash of a random string: unknown accounts cost the same time as known ones (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
MIN_LENGTH = 10


class WeakPassword(ValueError):
    """A password staff must change (too short)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def verify(stored_hash: str | None, password: str) -> tuple[bool, str | None]:
    """(matches, new hash when the stored one should be replaced by one with today's parameters)."""
    if not stored_hash:
        _burn(password)
        return False, None
    try:
        _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, None
    return True, _HASHER.hash(password) if _HASHER.check_needs_rehash(stored_hash) else None


def _burn(password: str) -> None:
    with contextlib.suppress(VerificationError):
        _HASHER.verify(_DUMMY_HASH, password)


def generate_password() -> str:
    """A random password to print once (16 URL-safe characters, ~96 bits)."""
    return secrets.token_urlsafe(12)
