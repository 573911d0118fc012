"""Keeping the promise of a notice: a report closed without a fix ("no encontramos el problema", "se cerró sin
arreglo") tells the citizen "responde a este mensaje y lo volvemos a revisar", so the answer must reopen it.

- ``followup`` flow (set by ``dialogue.survey.begin_followup`` when the notice is sent): words or a photo that
  say it is still there ("sí sigue ahí la basura", "no es cierto, sigue el hoyo") reopen the ticket with the
  citizen's words as the public note and the photo attached; "ok" / "gracias" / "está bien" close the question
  politely; a new problem or a status question is not an answer (handled as a fresh message).
- A request to reopen at any time ("quiero que lo reabran", "vuelvan a revisar mi reporte", "no lo arreglaron"):
  the folio in the message, else the citizen's most recent closed report, is reopened the same way.
"""

from __future__ import annotations

import re

from dialogue.flows.status import latest_closed_for, show
from dialogue.places import names_another_place
from dialogue.text import YES_WORDS, fold
from dialogue.turn import Turn
from dialogue.understanding import folio_in, intent, is_control_word
from nlu.api import SERVICE_INTENTS, worded_answer
from ticketing.errors import TicketError, TicketNotFound
from ticketing.models import Ticket

#: "quiero que lo reabran", "reábranlo", "vuelvan a revisar", "no lo arreglaron", "sigue igual": reopen.
REOPEN_REQUEST = re.compile(
    r"\b(?:reabr\w*|reabier\w*|volver\s+a\s+abrir|vuelvan\s+a\s+(?:abrir|revisar|venir|checar)|"
    r"revisen\s+(?:otra\s+vez|de\s+nuevo)|no\s+(?:lo|la|los|las)\s+(?:arreglaron|repararon|atendieron|resolvieron)|"
    r"no\s+(?:lo\s+)?(?:han\s+)?(?:arreglado|reparado|resuelto)|sigue\s+(?:igual|ahi|sin\s+arreglar|sin\s+resolver|"
    r"el\s+problema|la\s+basura|el\s+bache|el\s+hoyo|apagad[ao]|tirad[ao])|todavia\s+sigue|aun\s+sigue|"
    r"no\s+es\s+cierto)\b"
)
#: Asking in so many words ("reábranlo", "vuelvan a revisar"): without a closed report the bot says it found none.
EXPLICIT_REOPEN = re.compile(r"\b(?:reabr\w*|reabier\w*|volver\s+a\s+abrir|vuelvan\s+a\s+(?:abrir|revisar|venir|checar)"
                             r"|revisen\s+(?:otra\s+vez|de\s+nuevo))\b")
#: Answers to the notice that only close the question ("ok", "gracias", "está bien", "entendido").
_CLOSING = frozenset({"ok", "gracias", "muchas gracias", "esta bien", "entendido", "de acuerdo", "va", "vale",
                      "ok gracias", "gracias igual", "sale", "enterado", "no", "no gracias", "nada"})
#: "otro bache", "una nueva fuga": a new report, even of the same kind.
_ANOTHER = re.compile(r"\b(?:otro|otra|otros|otras|nuevo|nueva|tambien|ademas)\b")


def _ticket(turn: Turn, folio: str | None) -> Ticket | None:
    try:
        return turn.tickets().get(folio or "")
    except TicketNotFound:
        return None


def _reopen(turn: Turn, ticket: Ticket, *, words: str | None) -> None:
    if ticket.is_open:  # already being looked at again (staff reopened it, or it never closed)
        turn.end_flow()
        show(turn, ticket.folio)
        return
    try:
        turn.tickets().reopen(ticket, actor=turn.actor, public_note=words, attachment_ids=turn.photos)
    except TicketError:
        turn.end_flow()
        show(turn, ticket.folio)
        return
    wants_photo = not turn.photos and turn.channel != "sms"
    if wants_photo:
        turn.start_flow("survey", "photo", {"folio": ticket.folio})  # a photo sent next is attached
    else:
        turn.end_flow()
    turn.say("survey_reopened", folio=ticket.folio, due=turn.due_text(ticket), ask_photo=wants_photo,
             asked_words=words is None)


def _words(turn: Turn) -> str | None:
    """The citizen's words as the reopen note (not a bare "sí" or "reábranlo")."""
    if turn.choice is not None or len(turn.folded.split()) < 3:
        return None
    return turn.text[:1000]


def step(turn: Turn) -> bool:
    """An answer to a notice that invited one; False when the message is something else."""
    ticket = _ticket(turn, turn.slots.get("folio"))
    if ticket is None:
        return False
    folded = fold(turn.text)
    if not turn.photos and (folded in _CLOSING or (is_control_word(turn) and folded not in YES_WORDS)):
        turn.end_flow()
        turn.say("followup_ok", folio=ticket.folio)
        return True
    if not turn.photos and worded_answer(turn.text) == "affirm":  # "ya quedó el bache": fixed after all
        turn.end_flow()
        turn.say("followup_ok", folio=ticket.folio)
        return True
    if not turn.photos and turn.text:
        understood = intent(turn)
        other_folio = folio_in(turn)
        if understood == "check_status" or (other_folio and other_folio != ticket.folio):
            return False
        if understood in SERVICE_INTENTS and not REOPEN_REQUEST.search(folded) and (
                understood != ticket.category_code or _ANOTHER.search(folded) or names_another_place(turn, ticket)):
            return False  # a new problem ("hay otro bache en Juárez 5"), not this one
    _reopen(turn, ticket, words=_words(turn))  # "sí sigue ahí", "no es cierto", a photo: still there
    return True


def request(turn: Turn) -> bool:
    """ "quiero que lo reabran" with no flow waiting: reopen the folio named or the latest closed report."""
    if turn.choice is not None or not turn.text or not REOPEN_REQUEST.search(fold(turn.text)):
        return False
    folio = folio_in(turn)
    ticket = _ticket(turn, folio) if folio else latest_closed_for(turn)
    explicit = bool(EXPLICIT_REOPEN.search(fold(turn.text)))
    understood = intent(turn)
    if not explicit and (ticket is None or (understood in SERVICE_INTENTS and understood != ticket.category_code)):
        return False  # "el bache de Hidalgo sigue ahí" with no such closed report: a report, not a reopen
    if ticket is None:
        if folio:
            return False  # the status flow says the folio does not exist
        open_ones = turn.tickets().open_tickets_for(turn.citizen.id)
        if open_ones:
            show(turn, open_ones[0].folio)  # still open: it is being attended
            return True
        turn.start_flow("status", "folio")
        turn.say("followup_no_ticket")
        return True
    _reopen(turn, ticket, words=_words(turn))
    return True
