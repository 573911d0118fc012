"""The per-message context of the dialogue: ``Turn`` (the message being handled, its conversation, the replies
collected so far) and ``Services`` (what every turn may use: settings, catalog, NLU parser, templates, ticket
listeners, escalation lexicon), with the helpers that write replies and name things the way a citizen reads them.

Every flow module (``dialogue.flows.*``) is a set of functions of a ``Turn``; nothing here decides what a
message means.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from dialogue import state
from dialogue.escalation import EscalationLexicon
from dialogue.formatting import date_text
from dialogue.render import Renderer, to_gsm7
from dialogue.text import fold
from nlu.api import Parse, Parser
from reporta.messages import Button, InboundMessage, OutboundMessage
from reporta.settings import Settings
from ticketing.catalog import Catalog
from ticketing.models import ChannelIdentity, Citizen, Conversation, Message, Ticket, TicketStatus
from ticketing.service import TicketListener, TicketService

#: Media kinds the bot can use; everything else gets the ``media_unsupported`` reply.
USABLE_MEDIA = frozenset({"photo"})

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(text: str | None) -> str:
    """The citizen's text without control characters (PostgreSQL refuses NUL in text columns)."""
    return _CONTROL.sub("", text or "").strip()


@dataclass(frozen=True)
class Services:
    """What the flows use besides the message: built once by ``DialogueEngine``, shared by every turn."""

    settings: Settings
    catalog: Catalog
    parser: Parser
    renderer: Renderer
    listeners: tuple[TicketListener, ...]
    escalation: EscalationLexicon

    def tickets(self, session: Session) -> TicketService:
        return TicketService(session, self.catalog, timezone=self.settings.timezone, listeners=self.listeners)

    def template_context(self) -> dict[str, Any]:
        """Values every template may use."""
        return {
            "municipality": self.settings.municipality_name,
            "privacy_url": self.settings.privacy_notice_url,
        }

    def category_name(self, code: str | None) -> str:
        category = self.catalog.categories.get(code or "")
        return category.name if category else ""

    def status_words(self, channel: str | None, status: TicketStatus | str) -> str:
        return self.renderer.label(f"status_{TicketStatus(status).value}", channel)

    def place(self, channel: str | None, address: str | None, landmark: str | None, lat: float | None) -> str:
        """The place as the citizen reads it: written address and landmark, else "the pin you sent"."""
        parts = [p for p in (address, landmark) if p]
        if parts:
            return ", ".join(parts)
        return self.renderer.label("place_pin" if lat is not None else "place_none", channel)

    def due_text(self, ticket: Ticket, now: datetime) -> str:
        """The committed (or revised) date; the hour only when it is later today (``date_text``)."""
        return date_text(ticket.revised_due_at or ticket.due_at, self.settings.timezone, with_time=True, now=now)


@dataclass
class Turn:
    """Everything about the message being handled, and the replies collected so far."""

    services: Services
    channel: str  # the channel the dialogue writes for (a simulator conversation: the one it mimics)
    session: Session
    conv: Conversation
    identity: ChannelIdentity
    citizen: Citizen
    inbound: InboundMessage
    message: Message | None
    now: datetime
    text: str
    slots: dict[str, Any]
    replies: list[OutboundMessage] = field(default_factory=list)
    offered: list[list[str]] | None = None
    misunderstood: bool = False
    silent: bool = False  # nothing is answered, saved or touched (opted out, handed to staff)
    first_contact: bool = False
    choice: str | None = None  # payload of the option the citizen picked, if any
    stale_choice: bool = False  # the choice is a button of an older message, not one of the offered options
    parse_cache: Parse | None = None
    ticket_service: TicketService | None = None

    # --- the message ------------------------------------------------------------------------------

    @property
    def folded(self) -> str:
        return fold(self.text)

    @property
    def photos(self) -> list[int]:
        # Any stored attachment is an image the pipeline accepted (WhatsApp may send a photo as a document).
        return [m.attachment_id for m in self.inbound.media if m.attachment_id is not None]

    @property
    def rejected_photos(self) -> list[str]:
        return [m.content_type or "" for m in self.inbound.media if m.kind == "photo" and m.attachment_id is None]

    @property
    def unsupported_kinds(self) -> list[str]:
        kinds = [m.kind for m in self.inbound.media if m.kind not in USABLE_MEDIA and m.attachment_id is None]
        if not kinds and self.inbound.raw_kind not in ("text", "location", "photo") and not self.inbound.media:
            kinds = [self.inbound.raw_kind]
        return kinds

    @property
    def has_content(self) -> bool:
        """Words, a pin or a usable photo."""
        return bool(self.text or self.inbound.location or self.photos)

    @property
    def actor(self) -> str:
        return f"citizen:{self.citizen.id}"

    # --- state ------------------------------------------------------------------------------------

    def tickets(self) -> TicketService:
        """The ticket service for this turn's transaction (one per turn)."""
        if self.ticket_service is None:
            self.ticket_service = self.services.tickets(self.session)
        return self.ticket_service

    def start_flow(self, flow: str, step: str | None, values: dict[str, Any] | None = None) -> None:
        state.start_flow(self.conv, flow, step, values)
        self.slots = dict(values or {})

    def end_flow(self) -> None:
        """Back to no flow; the slots are dropped."""
        state.reset(self.conv)
        self.slots = {}

    # --- replies ----------------------------------------------------------------------------------

    def say(self, name: str, *, buttons: Sequence[Button] = (), request_location: bool = False, **ctx: Any) -> None:
        """Render template ``name`` for this channel and add it to the replies; buttons become the offered options."""
        text = self.services.renderer.render(name, self.channel, **{**self.services.template_context(), **ctx})
        if self.channel == "sms":  # titles from the catalog too: numbered options must stay GSM-7
            buttons = [Button(to_gsm7(b.title), b.payload) for b in buttons]
        self.replies.append(
            OutboundMessage(
                channel=self.inbound.channel,  # where it is delivered (a simulator conversation stays there)
                external_id=self.inbound.external_id,
                text=text,
                buttons=tuple(buttons),
                request_location=request_location,
            )
        )
        if buttons:
            self.offered = [[b.payload, b.title] for b in buttons]

    def label(self, name: str, **ctx: Any) -> str:
        return self.services.renderer.label(name, self.channel, **ctx)

    def buttons(self, *pairs: tuple[str, str]) -> list[Button]:
        """Buttons from (payload, label name) pairs; titles come from the ``labels`` template."""
        return [Button(self.label(name), payload) for payload, name in pairs]

    def menu_buttons(self) -> list[Button]:
        return self.buttons(("menu:report", "menu_report"), ("menu:status", "menu_status"),
                            ("menu:handoff", "menu_handoff"))

    def say_menu(self, name: str = "menu", **ctx: Any) -> None:
        """A reply that ends with the main menu's options."""
        self.say(name, buttons=self.menu_buttons(), **ctx)

    def place(self, address: str | None, landmark: str | None, lat: float | None) -> str:
        return self.services.place(self.channel, address, landmark, lat)

    def due_text(self, ticket: Ticket) -> str:
        return self.services.due_text(ticket, self.now)
