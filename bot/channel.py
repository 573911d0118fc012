"""The channel interface: what every channel (Telegram, WhatsApp, SMS, simulator) offers the rest of Reporta.

A channel turns a provider's webhook payload into channel-neutral ``InboundMessage``s (``parse``), sends an
``OutboundMessage`` and answers a ``SendReceipt`` (its ``sender``), downloads the media a citizen sent
(``fetch_media``), and declares what it can show (``Capabilities``). Provider SDK objects never leave ``bot/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from reporta.messages import InboundMessage, Media, Sender


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can render; the dialogue and the senders adapt to it."""

    buttons: bool  # native tappable buttons (Telegram inline keyboard); otherwise numbered options in the text
    location_request: bool  # a "send my location" button
    receives_location: bool  # the citizen can share a map pin
    media: bool  # photos in and out
    max_text_length: int  # longer texts are split by the sender
    numbered_options: bool  # buttons are rendered as "1. …" lines and answered by typing the number


CAPABILITIES: dict[str, Capabilities] = {
    "telegram": Capabilities(buttons=True, location_request=True, receives_location=True, media=True,
                             max_text_length=4096, numbered_options=False),
    "whatsapp": Capabilities(buttons=False, location_request=False, receives_location=True, media=True,
                             max_text_length=1600, numbered_options=True),
    # Twilio concatenates long SMS up to 1600 characters (10 GSM-7 segments); we aim for one segment.
    "sms": Capabilities(buttons=False, location_request=False, receives_location=False, media=False,
                        max_text_length=1600, numbered_options=True),
    # The terminal simulator prints like WhatsApp by default (``reporta chat --channel`` changes how it prints).
    "simulator": Capabilities(buttons=False, location_request=False, receives_location=True, media=True,
                              max_text_length=4096, numbered_options=True),
    # The browser chat at /reportar (bot.web): options are buttons of a form, a map point, a photo upload.
    "web": Capabilities(buttons=True, location_request=True, receives_location=True, media=True,
                        max_text_length=4096, numbered_options=False),
}


def capabilities(channel: str) -> Capabilities:
    """The capabilities of ``channel`` (a ``ChannelKind`` value); unknown channels get the SMS ones."""
    return CAPABILITIES.get(str(channel), CAPABILITIES["sms"])


class BadRequest(ValueError):
    """A webhook payload that is not what the provider sends (answered with HTTP 400)."""


class Unusable(BadRequest):
    """A request from the provider (or shaped like one) whose content we cannot use: answered 2xx with a log line,
    because the provider redelivers anything else for hours (Telegram)."""


class Forbidden(PermissionError):
    """A webhook whose secret or signature does not match (answered with HTTP 403)."""


@dataclass(frozen=True, slots=True)
class Download:
    """The bytes of one piece of media, fetched by a channel and not yet checked or stored."""

    chunks: Iterator[bytes]
    declared_type: str | None
    declared_size: int | None = None


class Channel(Protocol):
    """One provider, as the webhook app and the pipeline see it."""

    name: str
    capabilities: Capabilities
    sender: Sender

    def parse(self, payload: Any) -> list[InboundMessage]:
        """Provider payload → inbound messages (empty for updates we ignore). Raises ``BadRequest``."""
        ...

    def fetch_media(self, media: Media) -> AbstractContextManager[Download]:
        """Open a download of ``media``; the caller stops reading past its size limit."""
        ...
