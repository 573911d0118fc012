"""Attachment rows: a stored file (a citizen's photo, staff evidence) linked to its inbound message or ticket.

The file itself is checked and written by ``bot.media.store_stream``; this module only records it, in the
caller's transaction, so the channels' media code needs no SQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from ticketing.models import Attachment


class StoredFileLike(Protocol):
    """What a stored file must tell (``bot.media.StoredFile`` is one)."""

    sha256: str
    content_type: str
    size_bytes: int
    path: Path


def add_attachment(session: Session, stored: StoredFileLike, *, message_id: int | None,
                   original_name: str | None = None, kind: str = "photo") -> Attachment:
    """The ``Attachment`` row for a stored file, in the caller's transaction."""
    row = Attachment(message_id=message_id, kind=kind, sha256=stored.sha256, content_type=stored.content_type,
                     size_bytes=stored.size_bytes, storage_path=str(stored.path), original_name=original_name)
    session.add(row)
    session.flush()
    return row
