"""The status flow: a folio anywhere in a message (Damm-checked) or "¿cómo va mi reporte?" → the ticket in plain
words (status, reason, last public note, committed date, what happens next); without a folio, the citizen's open
reports (none → ask for a folio; one → shown; several → options).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dialogue.formatting import date_text, shorten
from dialogue.places import names_another_place
from dialogue.turn import Services, Turn
from dialogue.understanding import FOLIO_LIKE, folio_in, intent
from nlu.api import SERVICE_INTENTS, Parse, worded_answer
from reporta.messages import Button
from ticketing.errors import TicketNotFound
from ticketing.models import Ticket, TicketStatus

#: How far back "¿cómo va mi reporte?" without open reports (and a request to reopen without a folio) looks for
#: the citizen's closed reports.
RECENT_CLOSED_DAYS = 60

MAX_LISTED_TICKETS = 5
#: The slot (kept with no flow) that remembers the open report just shown, for a complaint that follows it.
SHOWN_SLOT = "shown_folio"
#: A neighbouring category the NLU ranks this high is also looked for among the citizen's reports when the one it
#: read has none ("¿y lo de la basura?" reads as street cleaning, the report is garbage collection).
ABOUT_CANDIDATE_CONFIDENCE = 0.05
#: Categories citizens (and the NLU) take for one another (Madrid's confusions, docs/nlu.md round 10).
NEIGHBOURS = (frozenset({"street_cleaning", "garbage_collection", "illegal_dumping"}),
              frozenset({"pothole", "sidewalk"}), frozenset({"sewer", "water_leak"}), frozenset({"tree", "park"}))
#: Fewest words of a complaint about a report ("nadie ha venido a lo de la fuga") noted on it as the citizen's words.
NOTED_MIN_WORDS = 4


def latest_closed_for(turn: Turn) -> Ticket | None:
    """The citizen's most recently updated report that can be reopened (reported or followed), of the last
    ``RECENT_CLOSED_DAYS``."""
    return turn.tickets().latest_reopenable_for(turn.citizen.id, since=turn.now - timedelta(days=RECENT_CLOSED_DAYS))


def answer(turn: Turn, folio: str | None, *, aside: bool = False) -> None:
    """Answer a status question: ``folio``, else something typed like a folio with a wrong check digit, else the
    citizen's open reports. ``aside``: asked in the middle of a report (no options: the report's stay valid)."""
    if folio is None:
        typed = FOLIO_LIKE.search(turn.text)
        if typed:
            turn.start_flow("status", "folio")
            turn.say("lookup_bad_folio", typed=typed.group(0))
            return
        tickets = turn.tickets().open_tickets_for(turn.citizen.id)
        if not tickets:
            recent = latest_closed_for(turn)  # "needs budget", "not found": closed, but not forgotten
            if recent is not None:
                show(turn, recent.folio)
                return
            turn.start_flow("status", "folio")
            turn.say("lookup_none")
            return
        if len(tickets) > 1:
            _list(turn, tickets, aside=aside)
            return
        folio = tickets[0].folio
    show(turn, folio)


def _list(turn: Turn, tickets: list[Ticket], *, aside: bool = False) -> None:
    """ "Tienes N reportes abiertos: …" and "which one?" (options, unless asked in the middle of a report)."""
    turn.start_flow("status", "choose")
    shown = tickets[:MAX_LISTED_TICKETS]
    category = turn.services.category_name
    buttons = [] if aside else [Button(f"{t.folio} {category(t.category_code)}"[:40], f"folio:{t.folio}")
                                for t in shown]
    turn.say("lookup_list", count=len(tickets), side=aside, buttons=buttons,
             tickets=[{"folio": t.folio, "category": category(t.category_code),
                       "status": turn.services.status_words(turn.channel, t.status)} for t in shown])


def _note(turn: Turn, ticket: Ticket) -> None:
    """The citizen's words noted on their report, and "Anoté lo que me dices"."""
    _keep_words(turn, ticket)
    turn.say("lookup_noted", folio=ticket.folio)


def _keep_words(turn: Turn, ticket: Ticket) -> None:
    """The citizen's message noted on their report (an internal note by the citizen)."""
    turn.tickets().add_note(ticket, actor=turn.actor, internal_note=turn.text)


def about(turn: Turn, reading: Parse) -> bool:
    """A message about a problem the citizen may have reported (``reading.about``): "¿ya taparon el bache?",
    "cuándo van a venir a tapar el bache" (their report of that kind, shown), "siguen sin tapar el bache, ya se cayó
    otro señor" (shown, and the words noted on it), "ya prendió la lámpara" (news of the fix, noted on their open
    report for the department to check and close). False when nothing here answers it:
    no report of that kind (a status question then says so and the caller files it; a report worded as a question
    is filed as usual)."""
    category = reading.about
    if not category:
        return False
    name = turn.services.category_name(category)
    service = turn.tickets()
    here = [t for t in service.open_tickets_for(turn.citizen.id) if not names_another_place(turn, t)]
    mine = [t for t in here if t.category_code == category]
    if not mine:  # "¿y lo de la basura?" read as street cleaning 0.78, garbage collection 0.08: the NLU's next guesses
        near = next((group for group in NEIGHBOURS if category in group), frozenset())
        for code in (c for c, p in reading.ranking if c in near and p >= ABOUT_CANDIDATE_CONFIDENCE):
            mine = [t for t in here if t.category_code == code]
            if mine:
                category, name = code, turn.services.category_name(code)
                break
    if reading.intent == "thanks":  # news of the fix
        if mine:
            _keep_words(turn, mine[0])
            turn.say("lookup_fixed_news", folio=mine[0].folio, category=name)
        else:
            turn.say("fixed_news_thanks")
        return True
    if len(mine) > 1:
        _list(turn, mine)
        return True
    if not mine:
        recent = latest_closed_for(turn)
        if recent is not None and recent.category_code == category and not names_another_place(turn, recent):
            mine = [recent]
    if mine:
        if reading.intent != "check_status" and mine[0].is_open and len(turn.folded.split()) >= NOTED_MIN_WORDS:
            _note(turn, mine[0])  # "siguen sin tapar el bache, ya se cayó otro señor en bici": what they add
        show(turn, mine[0].folio)
        return True
    if reading.intent == "check_status":
        turn.say("lookup_none_about", category=name)
    return False


def step(turn: Turn) -> bool:
    """The answer to "which report?" (an option or a folio); False when the message is something else."""
    folio = None
    if turn.choice and turn.choice.startswith("folio:"):
        folio = turn.choice[6:]
    elif turn.text:
        folio = folio_in(turn)
    if folio:
        show(turn, folio)
        return True
    typed = FOLIO_LIKE.search(turn.text)
    if typed:
        turn.say("lookup_bad_folio", typed=typed.group(0))
        return True
    return False


def reask(turn: Turn) -> None:
    turn.say("lookup_ask_folio")


def show(turn: Turn, folio: str) -> None:
    try:
        ticket = turn.tickets().get(folio)
    except TicketNotFound:
        turn.start_flow("status", "folio")
        turn.say("lookup_not_found", folio=folio)
        return
    turn.end_flow()
    turn.say("lookup_status", **ticket_view(turn.services, ticket, turn.now, turn.channel))
    if ticket.is_open:
        turn.slots[SHOWN_SLOT] = ticket.folio  # "nadie ha venido y ya pasó una semana" next is about this one


def complaint_about_shown(turn: Turn) -> bool:
    """The message after a report was shown says it is still not fixed, with no new problem ("nadie ha venido y ya
    pasó una semana", "sigue igual"): the words are noted on that report. False when it is something else."""
    folio = turn.slots.pop(SHOWN_SLOT, None)
    if not folio or not turn.text or turn.photos or turn.choice is not None or worded_answer(turn.text) != "deny":
        return False
    ticket = next((t for t in turn.tickets().open_tickets_for(turn.citizen.id) if t.folio == folio), None)
    understood = intent(turn)
    if ticket is None or names_another_place(turn, ticket) or (
            understood in SERVICE_INTENTS and understood != ticket.category_code):
        return False
    _note(turn, ticket)
    return True


def ticket_view(services: Services, ticket: Ticket, now: datetime, channel: str | None = None) -> dict[str, Any]:
    """What the status templates show about a ticket, in plain words (for ``channel``'s labels)."""
    catalog = services.catalog
    category = catalog.categories.get(ticket.category_code)
    reason_text = None
    if ticket.reason_code and ticket.reason_code in catalog.reasons:
        duplicate_of = None
        if ticket.duplicate_of_id:
            duplicate_of = _folio_of_original(ticket)
        reason_text = catalog.reasons[ticket.reason_code].explain(
            referred_to=ticket.referred_to or (category.referral.agency if category and category.referral
                                               else None),
            agency_contact=category.referral.contact if category and category.referral else None,
            scheduled_for=date_text(ticket.scheduled_for, services.settings.timezone) if ticket.scheduled_for
            else None,
            duplicate_of=duplicate_of,
        )
    note = None
    for event in reversed(ticket.events or []):
        # the area's note: the citizen's own reopen words are theirs, not "Nota del área"
        if event.public_note and not (event.actor or "").startswith("citizen:"):
            note = event.public_note
            break
    return {
        "folio": ticket.folio,
        "category": category.name if category else ticket.category_code,
        "status": str(TicketStatus(ticket.status).value),
        "status_text": services.status_words(channel, ticket.status),
        "is_open": ticket.is_open,
        "reason": reason_text,
        "note": shorten(note, 300) if note else None,
        "due": services.due_text(ticket, now),
        "overdue": bool(ticket.is_open and (ticket.revised_due_at or ticket.due_at) < now),
        "revised": ticket.revised_due_at is not None,
        "department": ticket.department.name if ticket.department else "",
        "place": services.place(channel, ticket.address, ticket.landmark, ticket.lat),
        # a category another agency attends (the state water utility): who does the work, not "una cuadrilla"
        "referral": category.referral.agency if category and category.referral else None,
    }


def _folio_of_original(ticket: Ticket) -> str | None:
    session = Session.object_session(ticket)
    if session is None or ticket.duplicate_of_id is None:
        return None
    return session.scalars(select(Ticket.folio).where(Ticket.id == ticket.duplicate_of_id)).first()


# --- a reply to a notice -------------------------------------------------------------------------------

#: How long after a notice a message may still be its reply.
NOTICE_REPLY_HOURS = 72
#: Outbox kinds that are no notice about a ticket's outcome (a survey and the bot's replies read their answers).
_NOT_NOTICES = frozenset({"reply", "survey", "status_in_progress", "status_received"})
#: "ni idea", "no sé", "yo nomás pasé": the citizen does not know the exact place.
_DOES_NOT_KNOW = re.compile(r"\b(?:ni\s+idea|no\s+se|nose|no\s+sabria|no\s+recuerdo|no\s+me\s+acuerdo|quien\s+sabe|"
                            r"nomas\s+pase|solo\s+pase|iba\s+pasando|no\s+soy\s+de\s+ahi)\b")


def notice_answered(turn: Turn) -> Ticket | None:
    """The report whose notice (a report closed without a fix, a duplicate, a referral, a request for a better
    place) is the last thing sent to the citizen, when it was sent lately: what the message may be answering."""
    from ticketing.models import OutboxMessage

    row = turn.session.scalars(
        select(OutboxMessage).where(OutboxMessage.identity_id == turn.identity.id)
        .order_by(OutboxMessage.id.desc()).limit(1)).first()
    if row is None or row.ticket_id is None or row.kind in _NOT_NOTICES:
        return None
    created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=turn.now.tzinfo)
    if turn.now - created > timedelta(hours=NOTICE_REPLY_HOURS):
        return None
    ticket = turn.session.get(Ticket, row.ticket_id)  # closed without a fix (a fixed one gets the survey)
    return ticket if ticket is not None and ticket.status == TicketStatus.NOT_RESOLVED else None


def notice_reply(turn: Turn, ticket: Ticket) -> None:
    """A message about the notice that the bot cannot answer ("ni idea, yo nomás pasé en el camión", "¿cómo que
    duplicado?", "¿a quién le hablo?"): the citizen's words noted on the report; not knowing the place is thanked,
    anything else goes to a person, who sees the report."""
    from dialogue.flows import escalate

    _keep_words(turn, ticket)
    name = turn.services.category_name(ticket.category_code)
    if _DOES_NOT_KNOW.search(turn.folded):
        turn.end_flow()
        turn.say("notice_place_unknown", folio=ticket.folio, category=name)
        return
    turn.say("notice_reply_staff", folio=ticket.folio, category=name)
    escalate.start(turn, "notice_reply")


#: In the middle of a report, the report was meant as news of the one made before: "no no, ya se arregló la que
#: reporté, no es otra", "es la misma que ya reporté", "la que reporté ya quedó".
_NOT_ANOTHER = re.compile(
    r"\bno\s+es\s+otr[oa]\b|\bes\s+(?:el|la|lo)\s+(?:mism[oa]\s+)?(?:que|q)\s+ya\s+report\w*|"
    r"\b(?:el|la|lo)\s+(?:que|q)\s+(?:ya\s+)?(?:les\s+)?report\w*\s+ya\s+(?:quedo|se\s+\w+|l[oa]\s+\w+aron|\w+aron)\b|"
    r"\bya\s+se\s+(?:arregl|repar|compus|solucion|prendi|tap)\w*\s+(?:el|la|lo)\s+(?:que|q)\s+(?:ya\s+)?report\w*"
)
_FIXED_WORDS = re.compile(r"\b(?:ya\s+(?:se\s+)?(?:arregl|repar|compus|solucion|prendi|prend|tap|quedo|funcion)\w*)")


def not_another_report(turn: Turn) -> bool:
    """ "no no, ya se arregló la que reporté, no es otra" while a report of that kind is being written: the report
    is dropped and the citizen's open report of the kind is shown (news of the fix noted on it). False when the
    message says no such thing or there is no open report of the kind."""
    if turn.choice is not None or not turn.text or not _NOT_ANOTHER.search(turn.folded):
        return False
    category = turn.slots.get("category")
    mine = [t for t in turn.tickets().open_tickets_for(turn.citizen.id)
            if category is None or t.category_code == category]
    if not mine:
        return False
    turn.end_flow()
    ticket = mine[0]
    if _FIXED_WORDS.search(turn.folded):
        _keep_words(turn, ticket)
        turn.say("lookup_fixed_news", folio=ticket.folio, category=turn.services.category_name(ticket.category_code))
    else:
        show(turn, ticket.folio)
    return True
