"""The ``web`` channel: the report chat in the browser at ``/reportar``.

Like every channel it only turns what its provider sends into ``InboundMessage``s and delivers
``OutboundMessage``s; the "provider" here is the citizen's browser:

- identity: a random opaque cookie (``WebIdentity``). The cookie is personal data like a chat id; the stored
  ``external_id`` is ``web-`` + a SHA-256 prefix of it, so the database alone cannot be used to act as the citizen;
- ``WebChannel.parse(form)``: a posted form (text, a pressed option, a map point, a photo upload) → one
  ``InboundMessage``; the per-form nonce makes a double submission a redelivery (the inbox ignores it);
- photos: the upload is staged under ``<var_dir>/web-uploads`` (size capped while reading) and the pipeline
  fetches it through ``WebChannel.fetch_media``, so it gets the same sniffing, size cap and storage
  (``bot.media.store_stream``) as a Telegram or WhatsApp photo; the staged file is deleted once read;
- ``WebSender``: the browser reads the transcript from the outbox, so sending is recording the row as delivered
  and waking the pages waiting on that citizen (``WebSender.wait``);
- refusals are ``FormRefused(key)``: the page (``web.opendata.report``) words them from ``opendata/notices.j2``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.channel import BadRequest, Download, capabilities
from bot.media import MediaRejected
from reporta.messages import InboundMessage, Location, Media, OutboundMessage, SendReceipt
from reporta.settings import Settings
from ticketing.models import utcnow

WEB = "web"
#: Longest message a citizen may type in the browser (longer is refused with a clear answer, nothing stored).
MAX_TEXT = 1000
COOKIE = "reporta_web"
_COOKIE_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_NONCE_RE = re.compile(r"^[0-9a-f]{32}$")
_STAGED_RE = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True, slots=True)
class WebIdentity:
    """The browser's cookie value (secret, random) and the identity it maps to."""

    cookie: str

    @classmethod
    def new(cls) -> WebIdentity:
        return cls(secrets.token_urlsafe(32))

    @classmethod
    def from_cookie(cls, value: str | None) -> WebIdentity | None:
        return cls(value) if value and _COOKIE_RE.match(value) else None

    @property
    def external_id(self) -> str:
        return "web-" + hashlib.sha256(b"reporta-web-identity:" + self.cookie.encode()).hexdigest()[:40]


class FormRefused(BadRequest):
    """A form the chat cannot take, by ``key`` (with ``values``): the page says why in Spanish, from macro
    ``form_error`` of ``web/templates/opendata/notices.j2`` (this module builds no text a citizen reads)."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


def new_nonce() -> str:
    return uuid.uuid4().hex


class WebChannel:
    """Parses the chat's form posts and serves staged uploads to the pipeline."""

    name = WEB
    capabilities = capabilities(WEB)

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sender = WebSender()

    @property
    def staging_dir(self) -> Path:
        return Path(self.settings.var_dir) / "web-uploads"

    # --- inbound ----------------------------------------------------------------------------------

    def parse(self, payload: dict[str, Any], identity: WebIdentity, *, bbox: tuple[float, float, float, float],
              map_size: tuple[int, int]) -> InboundMessage:
        """One posted form → one message. Fields: ``nonce`` (required), and one of ``button``, ``lat``+``lon``,
        ``mapa.x``+``mapa.y`` (a click on the map image, no JavaScript needed), ``foto`` (a staged upload id)
        or ``text``. Raises ``FormRefused`` with the reason's key."""
        nonce = str(payload.get("nonce") or "")
        if not _NONCE_RE.match(nonce):
            raise FormRefused("bad_nonce")
        common: dict[str, Any] = {"channel": WEB, "external_id": identity.external_id,
                                  "provider_message_id": f"{identity.external_id[4:20]}-{nonce}",
                                  "received_at": utcnow()}
        button = str(payload.get("button") or "").strip()
        if button:
            title = str(payload.get("button_title") or button)[:200]
            return InboundMessage(**common, text=title, button_payload=button[:200], raw_kind="text")
        point = self._point(payload, bbox, map_size)
        if point is not None:
            return InboundMessage(**common, location=Location(*point), raw_kind="location")
        staged = str(payload.get("foto") or "")
        if staged:
            if not _STAGED_RE.match(staged) or not (self.staging_dir / staged).is_file():
                raise FormRefused("photo_not_received")
            size = (self.staging_dir / staged).stat().st_size
            return InboundMessage(**common, raw_kind="photo",
                                  media=(Media(kind="photo", url=f"web-upload:{staged}", size_bytes=size),))
        text = str(payload.get("text") or "").strip()
        if not text:
            raise FormRefused("empty_text")
        if len(text) > MAX_TEXT:
            raise FormRefused("text_too_long", length=len(text), maximum=MAX_TEXT)
        return InboundMessage(**common, text=text, raw_kind="text")

    @staticmethod
    def _point(payload: dict[str, Any], bbox: tuple[float, float, float, float],
               map_size: tuple[int, int]) -> tuple[float, float] | None:
        south, west, north, east = bbox
        lat, lon = payload.get("lat"), payload.get("lon")
        if lat not in (None, "") and lon not in (None, ""):
            try:
                flat, flon = float(str(lat)), float(str(lon))
            except ValueError:
                raise FormRefused("bad_location") from None
            if not (-90 <= flat <= 90 and -180 <= flon <= 180) or flat != flat or flon != flon:
                raise FormRefused("bad_location")
            return flat, flon
        x, y = payload.get("mapa.x"), payload.get("mapa.y")
        if x in (None, "") or y in (None, ""):
            return None
        try:
            fx, fy = float(str(x)), float(str(y))
        except ValueError:
            raise FormRefused("bad_map_point") from None
        width, height = map_size
        if not (0 <= fx <= width and 0 <= fy <= height):
            raise FormRefused("point_outside_map")
        return north - (north - south) * fy / height, west + (east - west) * fx / width

    def stage_upload(self, chunks: Iterator[bytes]) -> str:
        """Write an uploaded photo to the staging area, refusing it past ``max_media_bytes``; its id."""
        self.staging_dir.mkdir(parents=True, exist_ok=True)
        staged = uuid.uuid4().hex
        path = self.staging_dir / staged
        size = 0
        try:
            with path.open("wb") as out:
                for chunk in chunks:
                    size += len(chunk)
                    if size > self.settings.max_media_bytes:
                        raise MediaRejected("too_large", f"more than {self.settings.max_media_bytes} bytes")
                    out.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        if size == 0:
            path.unlink(missing_ok=True)
            raise FormRefused("empty_file")
        return staged

    # --- media for the pipeline -------------------------------------------------------------------

    @contextmanager
    def fetch_media(self, media: Media) -> Iterator[Download]:
        staged = (media.url or "").removeprefix("web-upload:")
        if not _STAGED_RE.match(staged):
            raise FileNotFoundError("not a staged web upload")
        path = self.staging_dir / staged
        try:
            with path.open("rb") as fh:
                yield Download(iter(lambda: fh.read(64 * 1024), b""), None, os.fstat(fh.fileno()).st_size)
        finally:
            path.unlink(missing_ok=True)


class WebSender:
    """Delivers to the browser: the outbox row is the message the page shows, so a send records it as
    delivered and wakes any request waiting for that citizen's reply."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._counter = 0
        self._seen: dict[str, int] = {}

    def send(self, message: OutboundMessage) -> SendReceipt:
        with self._cond:
            self._counter += 1
            self._seen[message.external_id] = self._counter
            if len(self._seen) > 10_000:  # forget the oldest waiters' marks
                self._seen.pop(next(iter(self._seen)))
            self._cond.notify_all()
            n = self._counter
        return SendReceipt(provider_message_id=f"web-{uuid.uuid4().hex[:12]}-{n}", status="sent")

    def mark(self, external_id: str) -> int:
        with self._cond:
            return self._seen.get(external_id, 0)

    def wait(self, external_id: str, since: int, timeout: float) -> bool:
        """Block up to ``timeout`` seconds for a send to ``external_id`` after mark ``since``."""
        with self._cond:
            return self._cond.wait_for(lambda: self._seen.get(external_id, 0) > since, timeout=timeout)
