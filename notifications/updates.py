"""Proactive status updates: a ticket-service listener that tells every follower of a ticket what happened.

For each status change (``status``, ``reopened``, ``reassigned``, ``duplicate`` events) it renders the
template for that status and reason (``data/templates/es-MX/status_*.j2``, with ``.sms.j2`` variants that
fit one GSM-7 segment) and enqueues it, in the ticket service's own transaction, for the reporter and
every active subscription, each on their own channel. Idempotent: ``dedupe_key = event:<event>:<identity>``.

- The citizen who made the change (actor ``citizen:<id>``) is not told about it: the dialogue answered.
- ``resolved`` sets ``ticket.survey_due_at`` (the "¿ya quedó?" job uses it) and attaches the newest
  evidence photo where the channel can show it.
- ``could_not_locate`` starts the dialogue's location request (``dialogue.survey.begin_location_request``)
  so the citizen's answer updates the ticket.
Updates are not urgent: they wait out quiet hours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialogue.render import Renderer, drop_repeated_sentences
from dialogue.simulated import dialogue_channel
from notifications.outbox import enqueue
from notifications.timing import spanish_date
from reporta.messages import OutboundMessage
from reporta.settings import Settings
from ticketing.catalog import Catalog
from ticketing.models import (
    Attachment,
    ChannelIdentity,
    ChannelKind,
    Subscription,
    Ticket,
    TicketEvent,
    TicketStatus,
)

log = logging.getLogger(__name__)

#: Channels a message can be sent on (phone and walk-in reports have no chat to answer).
MESSAGING_CHANNELS = frozenset({ChannelKind.TELEGRAM, ChannelKind.WHATSAPP, ChannelKind.SMS, ChannelKind.SIMULATOR,
                                ChannelKind.WEB})
#: Channels that show a photo from a local file.
PHOTO_CHANNELS = frozenset({"telegram", "whatsapp", "simulator"})  # WhatsApp: by signed link
#: Update templates named after a ticket status: their WhatsApp word is that status's label (``labels.j2``).
STATUS_TEMPLATES = frozenset(f"status_{s.value}" for s in TicketStatus)


def update_word(renderer: Renderer, template: str, *, other: bool = False) -> str:
    """The short word for WhatsApp Content template variable {{2}} of an update (``labels.j2``): the status's
    own words for a status update (``status_resolved`` → "atendido"), else ``update_<template>``; without one,
    ``update_other`` ("actualizado") when ``other``, else ""."""
    names = [template] if template in STATUS_TEMPLATES else [f"update_{template}"]
    if other:
        names.append("update_other")
    for name in names:
        try:
            return renderer.label(name, "whatsapp")
        except KeyError:
            continue
    return ""


#: Notices that invite an answer ("responde a este mensaje y lo volvemos a revisar"): the reply reopens the ticket.
FOLLOWUP_TEMPLATES = frozenset({"status_not_resolved"})
#: Reasons with their own template; the others use ``status_not_resolved`` with the catalog's explanation.
REASON_TEMPLATES = {"out_of_jurisdiction", "duplicate", "needs_budget", "could_not_locate"}


@dataclass(frozen=True, slots=True)
class Update:
    """What to tell followers about one event: a template and its context."""

    template: str
    context: dict[str, Any]
    media_path: str | None = None


def actor_citizen_id(actor: str | None) -> int | None:
    if actor and actor.startswith("citizen:"):
        try:
            return int(actor.split(":", 1)[1])
        except ValueError:
            return None
    return None


def recipients(session: Session, ticket: Ticket, *, exclude_citizen_id: int | None = None) -> list[ChannelIdentity]:
    """The reporter's identity and every active subscriber, once each, on channels we can write to."""
    found = list(session.scalars(
        select(ChannelIdentity).join(Subscription, Subscription.identity_id == ChannelIdentity.id)
        .where(Subscription.ticket_id == ticket.id, Subscription.active.is_(True)).order_by(Subscription.id)
    ).all())
    if ticket.reporter_identity_id is not None and all(i.id != ticket.reporter_identity_id for i in found):
        reporter = session.get(ChannelIdentity, ticket.reporter_identity_id)
        if reporter is not None:
            found.insert(0, reporter)
    return [i for i in found
            if ChannelKind(i.channel) in MESSAGING_CHANNELS and i.citizen_id != exclude_citizen_id]


def render_channel(identity: ChannelIdentity) -> str:
    """The channel whose templates an update uses for ``identity``: its own, or for a simulator identity
    (``sim-<user>[:sms|:telegram]``) the channel it mimics — the row is still delivered on ``simulator``."""
    return dialogue_channel(ChannelKind(identity.channel).value, identity.external_id)


class TicketContext:
    """Everything templates say about a ticket, in the citizen's words and time zone."""

    def __init__(self, settings: Settings, catalog: Catalog | None) -> None:
        self.settings = settings
        self.catalog = catalog

    def date(self, value: datetime | None, *, with_time: bool = False) -> str | None:
        return spanish_date(value, self.settings.timezone, with_time=with_time) if value else None

    def category_name(self, code: str) -> str:
        if self.catalog is not None and code in self.catalog.categories:
            return self.catalog.categories[code].name
        return code.replace("_", " ")

    def base(self, ticket: Ticket) -> dict[str, Any]:
        return {
            "folio": ticket.folio,
            "category": self.category_name(ticket.category_code),
            "department": ticket.department.name if ticket.department is not None else "el área responsable",
            "municipality": self.settings.municipality_name,
        }

    def explanation(self, reason: str | None, ticket: Ticket, **values: Any) -> str | None:
        if not reason or self.catalog is None or reason not in self.catalog.reasons:
            return None
        return self.catalog.reasons[reason].explain(**values)

    def reason_name(self, reason: str | None) -> str | None:
        if not reason or self.catalog is None or reason not in self.catalog.reasons:
            return None
        return self.catalog.reasons[reason].name


class StatusUpdates:
    """The listener: ``StatusUpdates(settings, renderer, catalog)(session, ticket, event)``."""

    def __init__(self, settings: Settings, renderer: Renderer, catalog: Catalog | None = None,
                 *, location_request: Callable[..., Any] | None = None) -> None:
        self.settings = settings
        self.renderer = renderer
        self.catalog = catalog
        self.ctx = TicketContext(settings, catalog)
        self._location_request = location_request

    # --- deciding what to say ---------------------------------------------------------------------------
    def update_for(self, session: Session, ticket: Ticket, event: TicketEvent) -> Update | None:
        base = self.ctx.base(ticket)
        note = event.public_note
        data = event.data or {}
        if event.kind == "duplicate" or (event.kind == "status" and event.reason_code == "duplicate"):
            original = data.get("duplicate_of")
            if original is None and ticket.duplicate_of_id is not None:
                parent = session.get(Ticket, ticket.duplicate_of_id)
                original = parent.folio if parent else None
            return Update("status_duplicate", {**base, "original": original or "—", "note": note})
        if event.kind in ("reassigned", "rerouted"):  # rerouted: a console routing correction
            return Update("status_reassigned", {**base, "note": note})
        if event.kind == "reopened":
            due = ticket.revised_due_at or ticket.due_at
            return Update("status_reopened", {**base, "note": note, "due": self.ctx.date(due)})
        if event.kind != "status":
            return None
        to = event.to_status
        if to == TicketStatus.IN_PROGRESS.value:
            if event.reason_code == "scheduled" and ticket.scheduled_for is not None:
                return Update("status_scheduled", {**base, "note": note, "date": self.ctx.date(ticket.scheduled_for)})
            if event.from_status == TicketStatus.IN_PROGRESS.value:
                return None
            return Update("status_in_progress", {**base, "note": note})
        if to == TicketStatus.RESOLVED.value:
            return Update("status_resolved", {**base, "note": note}, media_path=self._evidence_path(session, ticket))
        if to == TicketStatus.NOT_RESOLVED.value:
            reason = event.reason_code
            if reason == "scheduled" and ticket.scheduled_for is not None:  # a date, not "se cerró sin arreglo"
                return Update("status_scheduled", {**base, "note": note, "date": self.ctx.date(ticket.scheduled_for)})
            referral = None
            if self.catalog is not None and ticket.category_code in self.catalog.categories:
                referral = self.catalog.categories[ticket.category_code].referral
            agency = ticket.referred_to or (referral.agency if referral else None)
            contact = referral.contact if referral and (agency is None or agency == referral.agency) else None
            explanation = self.ctx.explanation(
                reason, ticket, referred_to=agency, agency_contact=contact,
                scheduled_for=self.ctx.date(ticket.scheduled_for),
            )
            template = f"status_{reason}" if reason in REASON_TEMPLATES else "status_not_resolved"
            return Update(template, {
                **base, "note": note, "reason": reason, "reason_name": self.ctx.reason_name(reason),
                "explanation": explanation, "agency": agency, "contact": contact,
                "referral_explanation": referral.explanation if referral else None,
            })
        return None

    def _evidence_path(self, session: Session, ticket: Ticket) -> str | None:
        attachment = session.scalars(
            select(Attachment).where(Attachment.ticket_id == ticket.id, Attachment.kind == "evidence")
            .order_by(Attachment.id.desc()).limit(1)
        ).first()
        if attachment is None:
            return None
        path = Path(attachment.storage_path)
        if not path.is_absolute():
            path = self.settings.media_path / path
        return str(path)

    # --- the listener ---------------------------------------------------------------------------------------
    def __call__(self, session: Session, ticket: Ticket, event: TicketEvent) -> None:
        if event.kind == "status" and event.to_status == TicketStatus.RESOLVED.value:
            ticket.survey_due_at = (event.created_at or ticket.updated_at) + timedelta(
                hours=self.settings.survey_delay_hours)
            ticket.survey_sent_at = None
        if event.kind == "reopened":  # a fresh commitment: warn and apologise again if it is missed
            ticket.sla_warned_at = None
            ticket.overdue_notified_at = None
        update = self.update_for(session, ticket, event)
        if update is None:
            return
        exclude = actor_citizen_id(event.actor)
        for identity in recipients(session, ticket, exclude_citizen_id=exclude):
            if update.template == "status_could_not_locate" and identity.id == ticket.reporter_identity_id:
                self._begin_location_request(session, identity, ticket, event, update)
                continue
            self.notify(session, identity, ticket, update, dedupe_key=f"event:{event.id}:{identity.id}")
            if update.template in FOLLOWUP_TEMPLATES:
                self._begin_followup(session, identity, ticket)

    @staticmethod
    def _begin_followup(session: Session, identity: ChannelIdentity, ticket: Ticket) -> None:
        """The notice says "responde a este mensaje y lo volvemos a revisar": the answer must reopen it."""
        try:
            from dialogue.survey import begin_followup
        except ImportError:
            return
        begin_followup(session, identity, ticket)

    def notify(self, session: Session, identity: ChannelIdentity, ticket: Ticket, update: Update, *,
               dedupe_key: str, kind: str | None = None, urgent: bool = False) -> None:
        """Render ``update`` for the identity's channel and enqueue it (with its SMS text for a fallback)."""
        channel = ChannelKind(identity.channel).value
        written_for = render_channel(identity)  # a simulator conversation: the channel it mimics
        text = drop_repeated_sentences(self.renderer.render(update.template, written_for, **update.context))
        sms_text = text if written_for == "sms" else drop_repeated_sentences(
            self.renderer.render(update.template, "sms", **update.context))
        media = update.media_path if channel in PHOTO_CHANNELS and update.media_path else None
        if media is not None and not Path(media).is_file():
            log.warning("evidence photo for ticket %s is missing on disk; sending text only", ticket.id)
            media = None
        message = OutboundMessage(channel=channel, external_id=identity.external_id, text=text, media_path=media,
                                  kind=kind or update.template)
        row = enqueue(session, identity, message, kind=kind or update.template, urgent=urgent,
                      dedupe_key=dedupe_key, ticket_id=ticket.id)
        row.payload = {
            **(row.payload or {}),
            "sms_body": sms_text,
            "template_variables": {"1": ticket.folio, "2": update_word(self.renderer, update.template, other=True),
                                   "3": update.context.get("category", "")},
        }

    def _begin_location_request(self, session: Session, identity: ChannelIdentity, ticket: Ticket,
                                event: TicketEvent, update: Update) -> None:
        """Ask the reporter for a better location through the dialogue, so the answer updates the ticket."""
        begin = self._location_request
        if begin is None:
            try:
                from dialogue.survey import begin_location_request as begin
            except ImportError:  # the dialogue's location flow is not installed: a plain message instead
                begin = None
        if begin is None:
            self.notify(session, identity, ticket, update, dedupe_key=f"event:{event.id}:{identity.id}")
            return
        result = begin(session, identity, ticket, self.renderer, note=update.context.get("note"))
        for i, message in enumerate(_as_messages(result)):
            row = enqueue(session, identity, message, kind="location_request", urgent=False,
                          dedupe_key=f"event:{event.id}:{identity.id}" + (f":{i}" if i else ""), ticket_id=ticket.id)
            row.payload = {**(row.payload or {}), "sms_body": self.renderer.render(update.template, "sms",
                                                                                 **update.context),
                           "template_variables": {"1": ticket.folio, "2": update_word(self.renderer, update.template),
                                                  "3": update.context.get("category", "")}}


def _as_messages(result: Any) -> list[OutboundMessage]:
    if result is None:
        return []
    if isinstance(result, OutboundMessage):
        return [result]
    return [m for m in result if isinstance(m, OutboundMessage)]


def ticket_listeners(settings: Settings, renderer: Renderer | None = None,
                     catalog: Catalog | None = None) -> list[Callable]:
    """The listeners ``notifications`` adds to every ``TicketService`` (a renderer is built when not given)."""
    if renderer is None:
        renderer = Renderer(settings.templates_dir)
    return [StatusUpdates(settings, renderer, catalog)]
