"""Simulator conversations (``reporta chat``): which channel the dialogue writes for.

A simulator identity is stored on channel ``simulator`` — so its outbox rows only ever reach a simulator sender,
never Telegram or Twilio, whatever dispatcher claims them — with the external id ``sim-<user>`` (mimics WhatsApp,
the simulator's default) or ``sim-<user>:<channel>`` (mimics ``sms`` or ``telegram``). The dialogue renders,
offers options and asks (or skips) steps for the mimicked channel; tickets keep channel ``simulator`` and are
never offered as duplicates to real citizens (nor real ones to simulated citizens).
"""

from __future__ import annotations

SIMULATOR = "simulator"
#: The id prefix of every simulator identity; real identities are phone numbers (``+52…``) or Telegram chat ids.
PREFIX = "sim-"
MIMICKED = frozenset({"telegram", "whatsapp", "sms"})
DEFAULT_MIMIC = "whatsapp"


def simulator_external_id(user: str, mimic: str) -> str:
    """The identity of simulated citizen ``user`` on the mimicked channel (one conversation per user and channel)."""
    if ":" in user:
        raise ValueError("the simulated user's name cannot contain ':'")
    if mimic not in MIMICKED:
        raise ValueError(f"the simulator mimics {', '.join(sorted(MIMICKED))}, not {mimic!r}")
    return f"{PREFIX}{user}" if mimic == DEFAULT_MIMIC else f"{PREFIX}{user}:{mimic}"


def dialogue_channel(channel: str, external_id: str) -> str:
    """The channel whose templates, options and steps the dialogue uses for this identity: its own, or for a
    simulator identity the channel it mimics."""
    if channel != SIMULATOR:
        return channel
    _, sep, mimic = external_id.rpartition(":")
    return mimic if sep and mimic in MIMICKED else DEFAULT_MIMIC


def is_simulated(channel: str) -> bool:
    return channel == SIMULATOR
