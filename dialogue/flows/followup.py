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
from dialogue.understanding import folio_in, intent, is_control_word, lexicon_categories
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
#: Round 13: the problem came back ("el bache que taparon ya se volvió a abrir", "ya se volvió a hacer el hoyo",
#: "otra vez está igual", "ya se apagó otra vez"): the latest closed report of that kind, reopened.
BACK_AGAIN = re.compile(
    r"\b(?:(?:se\s+)?(?:volvi\w*|vuelve\w*)\s+a\s+(?:abrir|hacer|salir|romper|fundir|apagar|tapar|caer|descompon\w*|"
    r"hundir|llenar|juntar|inundar|desbordar|poner)|otra\s+vez\s+(?:esta|sigue|quedo|se\s+\w+)\b|"
    r"(?:esta|sigue|quedo)\s+(?:igual|peor)\s+(?:otra\s+vez|de\s+nuevo|que\s+antes)|"
    r"(?:esta|sigue|quedo)\s+igual\s+que\s+antes|se\s+\w+\s+(?:otra\s+vez|de\s+nuevo))"
)
#: Asking in so many words ("reábranlo", "vuelvan a revisar"): without a closed report the bot says it found none.
EXPLICIT_REOPEN = re.compile(r"\b(?:reabr\w*|reabier\w*|volver\s+a\s+abrir|vuelvan\s+a\s+(?:abrir|revisar|venir|checar)"
                             r"|revisen\s+(?:otra\s+vez|de\s+nuevo))\b")
#: Answers to the notice that only close the question ("ok", "gracias", "está bien", "entendido").
_CLOSING = frozenset({"ok", "gracias", "muchas gracias", "esta bien", "entendido", "de acuerdo", "va", "vale",
                      "ok gracias", "gracias igual", "sale", "enterado", "no", "no gracias", "nada"})
#: "otro bache", "una nueva fuga": a new report, even of the same kind.
_ANOTHER = re.compile(r"\b(?:otro|otra|otros|otras|nuevo|nueva|tambien|ademas)\b")


#: "en otra calle", "otro bache": a new place or a new one of the kind, not the report back.
_ANOTHER_PLACE = re.compile(r"\b(?:otro|otra|otros|otras|nuevo|nueva)\s+(?:bache|hoyo|calle|lado|esquina|cuadra|"
                            r"colonia|lampara|poste|fuga|coladera|arbol)\b")


def _names_other_category(turn: Turn, ticket: Ticket) -> bool:
    """The message names, by a category's lexicon, a category other than the ticket's."""
    named = lexicon_categories(turn, turn.text)
    return bool(named) and ticket.category_code not in named


def reopen_aside(turn: Turn) -> bool:
    """ "quiero que reabran el folio 3146-3843" in the middle of a report: that folio (or the latest closed report)
    reopened, without asking for a photo; the caller keeps the unsent report. False when it asks no reopen."""
    if turn.choice is not None or not turn.text or not EXPLICIT_REOPEN.search(fold(turn.text)):
        return False
    folio = folio_in(turn)
    ticket = _ticket(turn, folio) if folio else latest_closed_for(turn)
    if ticket is None:
        return False  # the status answer says what there is
    if ticket.is_open:
        show(turn, ticket.folio)
        return True
    try:
        turn.tickets().reopen(ticket, actor=turn.actor, public_note=_words(turn), attachment_ids=turn.photos)
    except TicketError:
        show(turn, ticket.folio)
        return True
    turn.say("survey_reopened", folio=ticket.folio, due=turn.due_text(ticket), ask_photo=False,
             asked_words=False)
    return True


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
    folded = fold(turn.text or "")
    back_again = bool(BACK_AGAIN.search(folded))
    if turn.choice is not None or not turn.text or not (REOPEN_REQUEST.search(folded) or back_again):
        return False
    folio = folio_in(turn)
    ticket = _ticket(turn, folio) if folio else latest_closed_for(turn)
    explicit = bool(EXPLICIT_REOPEN.search(folded))
    understood = intent(turn)
    if back_again and ticket is not None and not _names_other_category(turn, ticket):
        understood = ticket.category_code  # "otra vez está igual" (street cleaning 0.5): that report is back
    if not explicit and (ticket is None or (understood in SERVICE_INTENTS and understood != ticket.category_code)):
        return False  # "el bache de Hidalgo sigue ahí" with no such closed report: a report, not a reopen
    if back_again and not explicit and (_ANOTHER_PLACE.search(folded) or names_another_place(turn, ticket)):
        return False  # "se volvió a hacer un hoyo en otra calle": a new report
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
