"""The conversational side of proactive questions: the "¿Ya quedó?" survey and the "could not locate" request.

The notifications room decides *when* to ask (its scheduler) and enqueues the returned message; these functions
set the identity's conversation to expect the answer, which ``DialogueEngine`` then handles:

- survey: "1 Sí / 2 No / 3 No sé". Sí closes the ticket (``confirmation="confirmed"``) and asks one 1–5 rating
  (``set_satisfaction``); No reopens it with the citizen's words and photo; No sé leaves it to the timeout.
- location request: the answer (a pin or a written place) is recorded on the ticket, which is reopened.

A conversation that is busy (handed to staff, a report being written, another survey or location request still
waiting for its answer) is never taken over: ``begin_survey`` returns None (the caller asks again later, one survey at
a time), and a location request is still sent but its answer is not expected (the citizen can answer in words later).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialogue import state
from dialogue.render import Renderer
from dialogue.simulated import dialogue_channel
from reporta.messages import Button, OutboundMessage
from ticketing.catalog import Catalog
from ticketing.models import ChannelIdentity, ChannelKind, Conversation, ConversationMode, Ticket, TicketStatus, utcnow

#: How long a flow counts as in progress after its last message (``Settings.conversation_idle_hours`` and
#: ``survey_timeout_hours`` by default; the idle restart ends it after that anyway).
REPORT_IDLE = timedelta(hours=24)
PROACTIVE_IDLE = timedelta(hours=72)


def survey_buttons(renderer: Renderer, channel: str) -> list[Button]:
    """Sí / No / No sé, as the survey question offers them (and ``dialogue.flows.survey`` re-offers them)."""
    return [Button(renderer.label("yes", channel), "survey:yes"), Button(renderer.label("no", channel), "survey:no"),
            Button(renderer.label("unsure", channel), "survey:unsure")]


def busy(session: Session, conversation: Conversation, now: datetime | None = None, *,
         report_idle: timedelta = REPORT_IDLE, proactive_idle: timedelta = PROACTIVE_IDLE) -> bool:
    """True when a proactive question must not take ``conversation`` over: staff have it, or a report, a survey
    answer or a location request is still in progress (not idle). A survey whose ticket is no longer resolved
    (answered elsewhere, timed out) no longer counts."""
    if conversation.mode == ConversationMode.HANDOFF:
        return True
    last = conversation.last_activity_at
    now = now or utcnow()
    if last is not None and last.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    age = now - last if last is not None else timedelta(0)
    if conversation.flow == "report":
        return age <= report_idle
    if conversation.flow == "relocate" or (conversation.flow == "survey" and conversation.step == "answer"):
        if age > proactive_idle:
            return False
        folio = (conversation.slots or {}).get("folio")
        ticket = session.scalars(select(Ticket).where(Ticket.folio == folio)).one_or_none() if folio else None
        wanted = TicketStatus.RESOLVED if conversation.flow == "survey" else TicketStatus.NOT_RESOLVED
        return ticket is not None and ticket.status == wanted
    return False


def _set_expectation(session: Session, identity: ChannelIdentity, flow: str, step: str, ticket: Ticket,
                     options: list[list[str]]) -> None:
    conversation = state.load_conversation(session, identity)
    if busy(session, conversation):
        return
    state.start_flow(conversation, flow, step, {"folio": ticket.folio, "options": options})
    conversation.misunderstood_count = 0
    state.touch(conversation, utcnow())


def begin_survey(session: Session, identity: ChannelIdentity, ticket: Ticket, renderer: Renderer,
                 *, catalog: Catalog | None = None, now: datetime | None = None,
                 report_idle: timedelta = REPORT_IDLE, proactive_idle: timedelta = PROACTIVE_IDLE,
                 ) -> OutboundMessage | None:
    """Set the conversation to expect "Sí / No / No sé" for ``ticket`` and return the question to send; None
    (nothing set, nothing to send) while the conversation is ``busy``: the caller asks again later.

    ``catalog`` (optional) names the category in the question.
    """
    conversation = state.load_conversation(session, identity)
    if busy(session, conversation, now, report_idle=report_idle, proactive_idle=proactive_idle):
        return None
    category = catalog.categories.get(ticket.category_code) if catalog is not None else None
    channel = dialogue_channel(ChannelKind(identity.channel).value, identity.external_id)
    buttons = survey_buttons(renderer, channel)
    _set_expectation(session, identity, "survey", "answer", ticket, [[b.payload, b.title] for b in buttons])
    text = renderer.render(
        "survey_question", channel,
        folio=ticket.folio,
        category=category.name if category else None,
        place=", ".join(p for p in (ticket.address, ticket.landmark) if p)
        or renderer.label("place_pin" if ticket.lat is not None else "place_none", channel),
    )
    return OutboundMessage(channel=ChannelKind(identity.channel).value, external_id=identity.external_id, text=text,
                           buttons=tuple(buttons), kind="survey")


def begin_followup(session: Session, identity: ChannelIdentity, ticket: Ticket) -> bool:
    """After a notice that says "si sigue ahí, responde a este mensaje": the answer reopens ``ticket``
    (``dialogue.flows.followup``). Not set while staff have the conversation or a report is being written (the
    citizen can still ask to reopen it in words). True when set."""
    conversation = state.load_conversation(session, identity)
    if conversation.mode == ConversationMode.HANDOFF or conversation.flow in ("report", "survey", "relocate"):
        return False
    state.start_flow(conversation, "followup", "answer", {"folio": ticket.folio, "options": []})
    conversation.misunderstood_count = 0
    state.touch(conversation, utcnow())
    return True


def begin_location_request(session: Session, identity: ChannelIdentity, ticket: Ticket,
                           renderer: Renderer, *, note: str | None = None) -> OutboundMessage:
    """Ask for a better location of a ticket closed as could_not_locate; the answer reopens it. ``note``: what
    staff wrote for the citizen ("Recorrimos la calle Hidalgo…"), shown in the question."""
    channel = dialogue_channel(ChannelKind(identity.channel).value, identity.external_id)
    _set_expectation(session, identity, "relocate", "location", ticket, [])
    text = renderer.render("relocate_ask", channel, folio=ticket.folio, note=note)
    return OutboundMessage(channel=ChannelKind(identity.channel).value, external_id=identity.external_id, text=text,
                           request_location=channel == "telegram", kind="location_request")
