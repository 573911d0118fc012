"""Media a citizen sent: checked (type sniffed from magic bytes, size capped while reading) and stored.

Files live under ``settings.media_path`` named by their sha256 (so a re-processed message stores nothing
twice); an ``Attachment`` row links the file to the inbound message. Anything that is not an allowed image or
is larger than ``settings.max_media_bytes`` is refused with a reason the dialogue can explain.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from reporta.settings import Settings
from ticketing.models import Attachment

log = logging.getLogger(__name__)

EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/heic": ".heic",
              "image/gif": ".gif"}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}


def sniff_image_type(head: bytes) -> str | None:
    """The image type the first bytes say (not what a header claims), or None when not an image we know."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIC_BRANDS:
        return "image/heic"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


class MediaRejected(Exception):
    """Media we will not keep; ``reason`` is one of too_large | not_an_image | download_failed."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    content_type: str
    size_bytes: int
    path: Path


def allowed_types(settings: Settings) -> frozenset[str]:
    return frozenset(t.strip() for t in settings.allowed_media_types.split(",") if t.strip())


def store_stream(settings: Settings, chunks: Iterable[bytes], *, declared_size: int | None = None) -> StoredFile:
    """Write ``chunks`` to the media store; stop reading past the size limit; check the type from the bytes."""
    limit = settings.max_media_bytes
    if declared_size is not None and declared_size > limit:
        raise MediaRejected("too_large", f"{declared_size} bytes declared")
    root = settings.media_path
    root.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                if not chunk:
                    continue
                size += len(chunk)
                if size > limit:
                    raise MediaRejected("too_large", f"more than {limit} bytes")
                if len(head) < 32:
                    head += chunk[: 32 - len(head)]
                digest.update(chunk)
                out.write(chunk)
        content_type = sniff_image_type(head)
        if content_type is None or content_type not in allowed_types(settings):
            raise MediaRejected("not_an_image", content_type or "unknown bytes")
        sha = digest.hexdigest()
        final = root / sha[:2] / f"{sha}{EXTENSIONS.get(content_type, '')}"
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)  # same content, same name: re-processing is harmless
        return StoredFile(sha, content_type, size, final)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)


def add_attachment(session: Session, stored: StoredFile, *, message_id: int | None,
                   original_name: str | None = None, kind: str = "photo") -> Attachment:
    """The ``Attachment`` row for a stored file, in the caller's transaction."""
    row = Attachment(message_id=message_id, kind=kind, sha256=stored.sha256, content_type=stored.content_type,
                     size_bytes=stored.size_bytes, storage_path=str(stored.path), original_name=original_name)
    session.add(row)
    session.flush()
    return row
