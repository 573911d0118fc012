"""Downloads of the media citizens send, off the processing threads: a small pool of its own, one task per
message, every file and every message under a total deadline.

A provider that drips one byte a second must cost only that citizen's own reply: the processing thread asks
``MediaDownloads.get``; while the download runs it gets None and leaves that citizen for later (their messages
stay ``received``), goes on with the others, and is handed the citizen again (``on_ready``) once the files are
in. ``fetch_all`` is the download itself: every failure becomes a ``MediaRejected`` of the file, never an
exception, so one bad attachment cannot stop a message (or its citizen's queue).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from bot.media import MediaRejected, StoredFile, store_stream
from reporta.messages import InboundMessage
from reporta.settings import Settings

log = logging.getLogger(__name__)

DOWNLOADABLE = frozenset({"photo", "document"})
KEEP_FINISHED = 2048  # finished downloads kept for their message's turn; the oldest are dropped past this


@dataclass
class Prepared:
    """Media downloaded for one message before its turn: stored files or the reason each was refused."""

    files: dict[int, StoredFile | MediaRejected]


def _within(chunks: Iterator[bytes], deadline: float) -> Iterator[bytes]:
    """``chunks`` until ``deadline`` (monotonic): a slow sender is cut off, not waited for."""
    for chunk in chunks:
        if time.monotonic() > deadline:
            raise MediaRejected("download_failed", "deadline exceeded")
        yield chunk


def fetch_all(settings: Settings, sources: Mapping[str, Any], inbound: InboundMessage) -> Prepared:
    """Download and store every downloadable file of ``inbound``; never raises."""
    files: dict[int, StoredFile | MediaRejected] = {}
    source = sources.get(inbound.channel)
    message_deadline = time.monotonic() + settings.media_message_seconds
    for i, m in enumerate(inbound.media):
        if m.kind not in DOWNLOADABLE:
            continue
        started = time.monotonic()
        deadline = min(message_deadline, started + settings.media_file_seconds)
        try:
            if isinstance(m.size_bytes, int) and m.size_bytes > settings.max_media_bytes:
                raise MediaRejected("too_large", f"{m.size_bytes} bytes declared")  # not even fetched
            if source is None:
                raise MediaRejected("download_failed", "channel cannot download")
            if started > message_deadline:
                raise MediaRejected("download_failed", "message deadline exceeded")
            with source.fetch_media(m) as download:
                declared = download.declared_size if isinstance(download.declared_size, int) else None
                files[i] = store_stream(settings, _within(download.chunks, deadline), declared_size=declared)
        except MediaRejected as exc:
            files[i] = exc
        except Exception as exc:  # network, provider, disk: the file is refused, the message goes on
            files[i] = MediaRejected("download_failed", type(exc).__name__)
        got = files[i]
        log.info("media %d of %s message: %s in %.0f ms", i, inbound.channel,
                 got.reason if isinstance(got, MediaRejected) else f"stored {got.size_bytes} bytes",
                 (time.monotonic() - started) * 1000)
    return Prepared(files)


class MediaDownloads:
    """One download task per message id, in ``workers`` threads; see the module docstring."""

    def __init__(self, fetch: Callable[[InboundMessage], Prepared], *, workers: int = 4,
                 on_ready: Callable[[int, int], None] | None = None) -> None:
        self.fetch = fetch
        self.on_ready = on_ready or (lambda message_id, identity_id: None)
        self.workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._tasks: dict[int, Future[Prepared]] = {}

    def get(self, message_id: int, identity_id: int, inbound: InboundMessage, *, wait: bool = False) -> Prepared | None:
        """The finished download of ``message_id``'s media; None while it runs (it is started if it was not).
        ``wait``: block until it is done (it is bounded by the message deadline)."""
        with self._lock:
            task = self._tasks.get(message_id)
            if task is None:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="media-download")
                task = self._pool.submit(self.fetch, inbound)
                self._tasks[message_id] = task
                if not wait:
                    task.add_done_callback(lambda _f: self._ready(message_id, identity_id))
                self._trim()
        if wait:
            return task.result()
        return task.result() if task.done() else None

    def _ready(self, message_id: int, identity_id: int) -> None:
        try:
            self.on_ready(message_id, identity_id)
        except Exception:  # pragma: no cover - a wake-up must not break the pool
            log.warning("media ready hand-off failed for message %s", message_id)

    def _trim(self) -> None:
        if len(self._tasks) <= KEEP_FINISHED:
            return
        for mid in [m for m, t in self._tasks.items() if t.done()][: len(self._tasks) - KEEP_FINISHED]:
            self._tasks.pop(mid, None)

    def done(self, message_ids: Any) -> None:
        """Forget the downloads of messages whose turn is over."""
        with self._lock:
            for mid in message_ids:
                task = self._tasks.get(mid)
                if task is not None and task.done():
                    self._tasks.pop(mid, None)

    def close(self) -> None:
        """Stop the pool (downloads in flight end at their deadline); a later ``get`` starts a new one."""
        with self._lock:
            pool, self._pool = self._pool, None
            self._tasks.clear()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
