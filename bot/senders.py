"""The senders of the enabled channels, keyed by channel value, for the outbox dispatcher; and the simulator's.

A channel is on when its credentials are set: Telegram with ``REPORTA_TELEGRAM_TOKEN``; WhatsApp and SMS with
``REPORTA_TWILIO_ACCOUNT_SID`` + ``REPORTA_TWILIO_AUTH_TOKEN`` and the channel's number. The simulator is
always on.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from bot.channel import capabilities
from bot.render_options import format_options
from reporta.messages import OutboundMessage, Sender, SendReceipt
from reporta.settings import Settings


class SimulatorSender:
    """Delivers to the terminal simulator: records every message and hands it to ``sink`` (e.g. ``print``),
    formatted the way the mimicked channel shows it (numbered options on WhatsApp/SMS, buttons on Telegram)."""

    def __init__(self, sink: Callable[[OutboundMessage, str], None] | None = None, mimic: str = "whatsapp") -> None:
        self.sink = sink
        self.mimic = mimic
        self.sent: list[OutboundMessage] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def render(self, message: OutboundMessage) -> str:
        """What the citizen would see on the mimicked channel."""
        if capabilities(self.mimic).buttons and message.buttons:
            return message.text + "\n" + "  ".join(f"[{b.title}]" for b in message.buttons)
        text = format_options(message.text, message.buttons, self.mimic)
        if message.request_location and self.mimic == "telegram":
            text += "\n[📍 ubicación]"
        return text

    def send(self, message: OutboundMessage) -> SendReceipt:
        with self._lock:
            self.sent.append(message)
            n = next(self._ids)
        if self.sink is not None:
            self.sink(message, self.render(message))
        return SendReceipt(provider_message_id=f"sim-{n}", status="sent")


def whatsapp_enabled(settings: Settings) -> bool:
    return settings.twilio_enabled and bool(settings.twilio_whatsapp_number)


def sms_enabled(settings: Settings) -> bool:
    return settings.twilio_enabled and bool(settings.twilio_sms_number)


def build_senders(settings: Settings, channels: dict[str, Any], *,
                  simulator: Sender | None = None) -> dict[str, Sender]:
    """``{"telegram": …, "whatsapp": …, "sms": …, "simulator": …}`` for the channels that are on.

    ``channels`` holds the built channel objects (``"telegram"`` → ``TelegramChannel``, ``"twilio"`` →
    ``TwilioChannel``).
    """
    senders: dict[str, Sender] = {"simulator": simulator or SimulatorSender()}
    if "web" in channels:  # the browser chat at /reportar (bot.web): always on in a serving runtime
        senders["web"] = channels["web"].sender
    if "telegram" in channels:
        senders["telegram"] = channels["telegram"].sender
    twilio = channels.get("twilio")
    if twilio is not None:
        if whatsapp_enabled(settings):
            senders["whatsapp"] = twilio.senders["whatsapp"]
        if sms_enabled(settings):
            senders["sms"] = twilio.senders["sms"]
    return senders
