"""Media a citizen sent: checked (type sniffed from magic bytes, size capped while reading) and stored.

Files live under ``settings.media_path`` named by their sha256 (so a re-processed message stores nothing
twice); ``ticketing.attachments`` records a stored file as an ``Attachment`` row (no SQL here). Anything that is
not an allowed image or is larger than ``settings.max_media_bytes`` is refused with a reason the dialogue can
explain.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from reporta.settings import Settings

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


def image_size(path: Path, content_type: str) -> tuple[int, int] | None:
    """Width and height from the image's own header (PNG IHDR, GIF screen, JPEG SOF, WebP VP8/VP8L/VP8X, HEIC
    ``ispe``), reading only the header; None when the header cannot be read."""
    with open(path, "rb") as fh:
        head = fh.read(64 * 1024)
        if content_type == "image/png" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if content_type == "image/gif" and len(head) >= 10:
            return struct.unpack("<HH", head[6:10])
        if content_type == "image/webp":
            return _webp_size(head)
        if content_type == "image/heic":
            at = head.find(b"ispe")
            return struct.unpack(">II", head[at + 8:at + 16]) if at >= 4 and len(head) >= at + 16 else None
        if content_type == "image/jpeg":
            fh.seek(2)
            return _jpeg_size(fh)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        return (int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1)
    if chunk == b"VP8L" and len(head) >= 25:
        bits = int.from_bytes(head[21:25], "little")
        return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8 " and len(head) >= 30:
        w, h = struct.unpack("<HH", head[26:30])
        return (w & 0x3FFF, h & 0x3FFF)
    return None


_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_size(fh: BinaryIO) -> tuple[int, int] | None:
    """Walk the JPEG segments (after SOI) to the first start-of-frame."""
    for _ in range(1000):
        byte = fh.read(1)
        if byte != b"\xff":
            return None
        while byte == b"\xff":  # fill bytes before a marker
            byte = fh.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            continue
        raw = fh.read(2)
        if len(raw) < 2:
            return None
        length = struct.unpack(">H", raw)[0]
        if marker in _SOF:
            data = fh.read(5)
            if len(data) < 5:
                return None
            h, w = struct.unpack(">HH", data[1:5])
            return (w, h)
        if length < 2:
            return None
        fh.seek(length - 2, os.SEEK_CUR)
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
        # A few KB can declare 60000×60000 pixels (a "decompression bomb"): check what the header says.
        try:
            dims = image_size(Path(tmp_name), content_type)
        except (OSError, struct.error):
            dims = None
        if dims is None or dims[0] <= 0 or dims[1] <= 0:
            raise MediaRejected("not_an_image", f"{content_type} without readable dimensions")
        if dims[0] * dims[1] > settings.max_image_pixels:
            raise MediaRejected("too_large", f"{dims[0]}x{dims[1]} pixels")
        sha = digest.hexdigest()
        final = root / sha[:2] / f"{sha}{EXTENSIONS.get(content_type, '')}"
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp_name, final)  # same content, same name: re-processing is harmless
        return StoredFile(sha, content_type, size, final)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
