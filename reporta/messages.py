"""The plain data objects that cross room boundaries (design: no provider SDK object leaves ``bot/``).

- ``InboundMessage``: what a channel parsed from a provider webhook, channel-neutral.
- ``OutboundMessage``: what the dialogue or notifications want sent; a channel renders it.
- ``SendReceipt`` and the ``Send*Error`` family: what a channel answers when asked to send.
- ``Sender``: the one method a channel offers to the outbox dispatcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Location:
    lat: float
    lon: float
    address: str | None = None  # a venue title/address when the provider gives one


@dataclass(frozen=True, slots=True)
class Media:
    """A piece of media the citizen sent. ``url``/``file_id`` say where to fetch it; ``stored_path`` once saved."""

    kind: str  # photo | voice | video | document | sticker | audio
    content_type: str | None = None
    url: str | None = None
    file_id: str | None = None
    size_bytes: int | None = None
    attachment_id: int | None = None  # set after download into the attachments table


@dataclass(frozen=True, slots=True)
class InboundMessage:
    channel: str  # ChannelKind value
    external_id: str  # chat id / E.164 phone: who to answer
    provider_message_id: str  # update_id / MessageSid: the idempotency key
    text: str | None = None
    location: Location | None = None
    media: tuple[Media, ...] = ()
    phone_e164: str | None = None
    display_name: str | None = None
    received_at: datetime | None = None
    button_payload: str | None = None  # callback data of a pressed button
    raw_kind: str = "text"  # text | location | photo | voice | sticker | document | video | unsupported

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "external_id": self.external_id,
            "provider_message_id": self.provider_message_id,
            "text": self.text,
            "location": None if self.location is None else
            {"lat": self.location.lat, "lon": self.location.lon, "address": self.location.address},
            "media": [
                {"kind": m.kind, "content_type": m.content_type, "url": m.url, "file_id": m.file_id,
                 "size_bytes": m.size_bytes, "attachment_id": m.attachment_id}
                for m in self.media
            ],
            "phone_e164": self.phone_e164,
            "display_name": self.display_name,
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "button_payload": self.button_payload,
            "raw_kind": self.raw_kind,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InboundMessage:
        loc = d.get("location")
        return cls(
            channel=d["channel"],
            external_id=d["external_id"],
            provider_message_id=d["provider_message_id"],
            text=d.get("text"),
            location=Location(loc["lat"], loc["lon"], loc.get("address")) if loc else None,
            media=tuple(Media(**m) for m in d.get("media") or ()),
            phone_e164=d.get("phone_e164"),
            display_name=d.get("display_name"),
            received_at=datetime.fromisoformat(d["received_at"]) if d.get("received_at") else None,
            button_payload=d.get("button_payload"),
            raw_kind=d.get("raw_kind", "text"),
        )


@dataclass(frozen=True, slots=True)
class Button:
    title: str  # what the citizen sees (short)
    payload: str  # what comes back when pressed / typed as the option number


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    channel: str
    external_id: str
    text: str
    buttons: tuple[Button, ...] = ()
    request_location: bool = False  # Telegram: a "send my location" keyboard button
    media_path: str | None = None  # a local file to attach (e.g. evidence photo)
    media_url: str | None = None  # a public URL to attach (Twilio fetches it)
    content_sid: str | None = None  # WhatsApp template outside the 24 h window
    content_variables: dict[str, str] = field(default_factory=dict)
    kind: str = "reply"


@dataclass(frozen=True, slots=True)
class SendReceipt:
    provider_message_id: str | None
    status: str = "sent"


class TurnFailed(Exception):
    """Raised by a message handler called without its own savepoint (``handle(..., own_savepoint=False)``) when
    handling failed for a reason other than the database: the caller rolls back its savepoint of that message
    (undoing the turn's changes) and calls ``handler.handle_failed`` in a fresh one for the answer."""


class SendError(Exception):
    """Base of what a channel raises when a send fails."""


class TransientSendError(SendError):
    """Try again later (5xx, timeout, network). ``retry_after`` seconds when the provider said so (429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Will never succeed (bot blocked, invalid number). ``code`` is the provider's error code."""

    def __init__(self, message: str, code: str | int | None = None, unreachable: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.unreachable = unreachable


class Sender(Protocol):
    """What a channel offers the outbox dispatcher."""

    def send(self, message: OutboundMessage) -> SendReceipt: ...
