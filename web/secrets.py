"""The web's signing secret (session cookies, CSRF tokens): ``REPORTA_SECRET_KEY`` when set, else a random key
kept in ``<var_dir>/web-secret.key`` (created once, mode 0600), so every web process of one install shares it."""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from reporta.settings import Settings


def app_secret(settings: Settings) -> bytes:
    if settings.secret_key:
        return hashlib.sha256(b"reporta-web:" + settings.secret_key.encode()).digest()
    path = Path(settings.var_dir) / "web-secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
    return hashlib.sha256(b"reporta-web:" + path.read_text().strip().encode()).digest()
