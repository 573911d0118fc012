"""The answers to the proactive questions ``dialogue.survey`` sets up: the "¿Ya quedó?" survey (Sí → close and
one 1–5 rating; No → reopen with the citizen's words and photo, then maybe a photo; No sé → a polite note) and the
"could not locate" request (a pin or a written place reopens the ticket with it). If staff changed the ticket
meanwhile, the citizen gets its current status.
"""

from __future__ import annotations

import re

from dialogue.flows.status import ticket_view
from dialogue.places import location_parts
from dialogue.survey import survey_buttons
from dialogue.text import UNSURE_WORDS, starts_with_one_of
from dialogue.turn import Turn
from dialogue.understanding import intent, is_no, is_yes, parse
from nlu.api import SERVICE_INTENTS, worded_answer
from reporta.messages import Button
from ticketing.errors import TicketError, TicketNotFound
from ticketing.models import Ticket

RATING_WORDS = {"uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5}
#: Numbers said in words beyond the scale ("le doy un diez"): read, then the scale is said.
_OVER_SCALE_WORDS = {"cero": 0, "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "cien": 100}
#: A number in a rating: "un 5 jeje", "le doy un 10", "2, xq quedó mal", "cinco", "5/5", "un 4 de 5".
_RATING_NUMBER_RE = re.compile(r"(?<![\d.,])(\d{1,3})(?![\d.,]\d)|\b(" + "|".join({**RATING_WORDS,
                                                                                   **_OVER_SCALE_WORDS}) + r")\b")
#: A message the question was asked again for is a new report only this sure ("tardaron un montón, muy mal" reads
#: as street cleaning 0.51: an opinion, not a problem).
NEW_PROBLEM_CONFIDENCE = 0.6


def _ticket(turn: Turn) -> Ticket | None:
    try:
        return turn.tickets().get(turn.slots.get("folio") or "")
    except TicketNotFound:
        return None


def reask(turn: Turn) -> None:
    """The survey's pending question again (nothing when its ticket is gone)."""
    ticket = _ticket(turn)
    if ticket is None:
        turn.end_flow()
        return
    step = turn.conv.step
    if step == "rating":
        _ask_rating(turn, ticket.folio)
    elif step == "answer":
        turn.say("survey_question", folio=ticket.folio,
                 category=turn.services.category_name(ticket.category_code),
                 place=turn.place(ticket.address, ticket.landmark, ticket.lat),
                 buttons=survey_buttons(turn.services.renderer, turn.channel))


def _ask_rating(turn: Turn, folio: str) -> None:
    buttons = [Button(str(n), f"rate:{n}") for n in range(1, 6)] if turn.channel == "telegram" else []
    turn.say("survey_ask_rating", folio=folio, buttons=buttons)


def step(turn: Turn) -> bool:
    """An answer to the survey; False when the message is something else (handled as a fresh message)."""
    ticket = _ticket(turn)
    if ticket is None:
        return False
    handler = {"answer": _step_answer, "rating": _step_rating, "photo": _step_photo}.get(turn.conv.step or "")
    return handler(turn, ticket) if handler else False


def _step_answer(turn: Turn, ticket: Ticket) -> bool:
    svc = turn.tickets()
    # Answers in words: "ya taparon el bache, gracias" is a yes; "sí, sigue ahí la basura" or "ya lo taparon pero se
    # volvió a abrir" a no (a report marked done that is not is the false closure the survey is there to catch).
    worded = worded_answer(turn.text) if turn.choice is None and turn.text else None
    unsure = turn.choice == "survey:unsure" or (turn.choice is None and starts_with_one_of(turn.text, UNSURE_WORDS))
    yes = turn.choice == "survey:yes" or (turn.choice is None and worded != "deny" and (
        is_yes(turn) or (worded == "affirm" and not is_no(turn))))
    no = turn.choice == "survey:no" or (turn.choice is None and not unsure and not yes and (
        worded == "deny" or is_no(turn)))
    if yes:
        try:
            svc.close(ticket, actor=turn.actor, confirmation="confirmed")
        except TicketError:
            return _stale(turn, ticket)
        turn.conv.step = "rating"
        _ask_rating(turn, ticket.folio)
        return True
    if no:
        words = turn.text if turn.choice is None and len(turn.folded.split()) > 1 else None
        try:
            svc.reopen(ticket, actor=turn.actor, public_note=words, attachment_ids=turn.photos)
        except TicketError:
            return _stale(turn, ticket)
        wants_photo = not turn.photos and turn.channel != "sms"
        if wants_photo:
            turn.start_flow("survey", "photo", {"folio": ticket.folio})
        else:
            turn.end_flow()
        turn.say("survey_reopened", folio=ticket.folio, due=turn.due_text(ticket), ask_photo=wants_photo,
                 asked_words=words is None)
        return True
    if unsure:
        turn.end_flow()
        turn.say("survey_unsure", folio=ticket.folio)
        return True
    if turn.slots.get("reasked"):
        if intent(turn) in SERVICE_INTENTS and parse(turn).confidence >= NEW_PROBLEM_CONFIDENCE:
            return False  # a new problem: read as a fresh message
        # "tardaron un montón, muy mal": an opinion, not an answer; the report stays as staff left it
        turn.end_flow()
        turn.say("survey_unsure", folio=ticket.folio)
        return True
    turn.slots["reasked"] = True
    turn.misunderstood = True
    turn.say("not_understood_step")
    reask(turn)
    return True


def read_rating(folded: str) -> int | None:
    """The number a rating message gives ("un 5 jeje" → 5, "le doy un 10" → 10, "2, xq quedó mal" → 2, "cinco" →
    5, "5/5" → 5), or None: no number, or several different ones ("hay otro bache en Juárez 20, el 3")."""
    numbers = []
    for digits, word in _RATING_NUMBER_RE.findall(folded):
        numbers.append(int(digits) if digits else {**RATING_WORDS, **_OVER_SCALE_WORDS}[word])
    if re.search(r"\b(\d)\s*(?:/|de)\s*(?:5|cinco)\b", folded):  # "5/5", "4 de 5": the scale itself
        numbers = [n for i, n in enumerate(numbers) if not (n == 5 and i > 0)]
    distinct = set(numbers)
    return numbers[0] if len(distinct) == 1 else None


def _step_rating(turn: Turn, ticket: Ticket) -> bool:
    s = turn.slots
    score = None
    if turn.choice and turn.choice.startswith("rate:"):
        score = int(turn.choice[5:])
    else:
        score = read_rating(turn.folded)
        if score is not None and len(turn.folded.split()) > 2 and intent(turn) in SERVICE_INTENTS \
                and parse(turn).confidence >= NEW_PROBLEM_CONFIDENCE:
            return False  # "hay otro bache en Juárez 20": a new report, not a rating
        if score is not None and not 1 <= score <= 5:
            if score > 10:
                return False
            if score == 10 or s.get("reasked"):  # "le doy un 10": the top of the scale
                return _rate(turn, ticket, 5 if score > 5 else 1, said=score)
            s["reasked"] = True
            turn.say("survey_rating_scale", score=score)  # "un 8": of 5 or of 10? the scale, once
            return True
    if score is None:
        return False
    return _rate(turn, ticket, score)


def _rate(turn: Turn, ticket: Ticket, score: int, *, said: int | None = None) -> bool:
    """Record ``score``; ``said``: the number the citizen gave when it was off the 1–5 scale (told as read)."""
    try:
        turn.tickets().set_satisfaction(ticket, score, actor=turn.actor)
    except TicketError:
        return _stale(turn, ticket)
    turn.end_flow()
    turn.say("survey_rating_thanks", score=score, said=said)
    return True


def _step_photo(turn: Turn, ticket: Ticket) -> bool:
    if not turn.photos:
        return False
    svc = turn.tickets()
    for attachment_id in turn.photos:
        svc.attach(ticket, attachment_id, actor=turn.actor, kind="photo")
    turn.end_flow()
    turn.say("report_photo_received", count=len(turn.photos), added_to=ticket.folio)
    return True


def _stale(turn: Turn, ticket: Ticket) -> bool:
    """The ticket moved on since the question (staff reopened or closed it): say so and show it."""
    turn.end_flow()
    turn.say("lookup_status", **ticket_view(turn.services, ticket, turn.now, turn.channel))
    return True


def relocate_reask(turn: Turn) -> None:
    turn.say("relocate_ask", folio=turn.slots.get("folio"), request_location=True)


def relocate_step(turn: Turn) -> bool:
    """A better place for a ticket closed as could_not_locate: a pin or words reopen it with the place."""
    ticket = _ticket(turn)
    if ticket is None:
        return False
    svc = turn.tickets()
    location = turn.inbound.location
    parts = location_parts(turn) if turn.text else {"any": False}
    if location is None and not parts["any"] and not turn.text:
        if turn.photos:
            return False
        turn.say("relocate_ask", folio=ticket.folio, request_location=turn.channel == "telegram")
        return True
    if location is None and not parts["any"] and intent(turn) in ("check_status", *SERVICE_INTENTS):
        return False
    if location is not None:
        where = f"https://www.openstreetmap.org/?mlat={location.lat:.6f}&mlon={location.lon:.6f}#map=19/" \
                f"{location.lat:.6f}/{location.lon:.6f}"
        place = location.address or None
    else:
        where = None
        place = turn.text[:300]
    note = turn.services.renderer.render("relocate_note", None, place=place, map_url=where)
    try:
        svc.reopen(ticket, actor=turn.actor, public_note=note, attachment_ids=turn.photos)
        svc.update_location(ticket, actor=turn.actor, lat=location.lat if location else None,
                            lon=location.lon if location else None, address=place)
    except TicketError:
        return _stale(turn, ticket)
    turn.end_flow()
    turn.say("relocate_done", folio=ticket.folio, due=turn.due_text(ticket))
    return True
