"""Signed, expiring public links to stored media files, for providers that fetch media by URL.

Twilio sends a WhatsApp photo by downloading it from a URL, so an evidence photo stored under
``settings.media_path`` gets a link ``<REPORTA_PUBLIC_URL>/media/<file>?exp=<unix time>&sig=<hmac>``.
Only whoever holds the link can fetch the file, and only until it expires. The key is
``REPORTA_SECRET_KEY`` (or, when unset, one derived from the Twilio auth token: whenever Twilio can
ask for a link, there is a secret to sign it with).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

from reporta.settings import Settings

LINK_TTL_SECONDS = 7 * 24 * 3600


def _key(settings: Settings) -> bytes | None:
    secret = settings.secret_key or settings.twilio_auth_token
    if not secret:
        return None
    return hashlib.sha256(b"reporta-media-links:" + secret.encode()).digest()


def _signature(key: bytes, name: str, expires: int) -> str:
    return hmac.new(key, f"{name}:{expires}".encode(), hashlib.sha256).hexdigest()[:40]


def _relative(settings: Settings, path: Path) -> str | None:
    try:
        return path.resolve().relative_to(settings.media_path.resolve()).as_posix()
    except ValueError:
        return None


def media_link(settings: Settings, path: str | Path, *, now: float | None = None,
               ttl: int = LINK_TTL_SECONDS) -> str | None:
    """A signed public URL for a file under the media folder; None when it can't be signed or isn't ours."""
    key = _key(settings)
    name = _relative(settings, Path(path))
    if key is None or name is None:
        return None
    expires = int((now if now is not None else time.time()) + ttl)
    return (f"{settings.public_url.rstrip('/')}/media/{name}?exp={expires}"
            f"&sig={_signature(key, name, expires)}")


def resolve_link(settings: Settings, name: str, expires: str, signature: str, *,
                 now: float | None = None) -> Path | None:
    """The file a link points at, or None when the signature is wrong, the link expired or the file is gone."""
    key = _key(settings)
    # ASCII digits and hex only: "²".isdigit() is True but int() refuses it, and compare_digest raises on
    # non-ASCII strings; a guessed URL gets 403, never 500.
    if (key is None or not (expires.isascii() and expires.isdigit()) or len(expires) > 12
            or not signature.isascii() or len(signature) > 64 or "\x00" in name):
        return None
    if not hmac.compare_digest(_signature(key, name, int(expires)), signature):
        return None
    if int(expires) < (now if now is not None else time.time()):
        return None
    root = settings.media_path.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path
