"""A message no flow is waiting for, by what it says: a main-menu option, a folio or a status question, a
problem (a new report, with the NLU's candidates when it hesitates), a greeting, thanks, something out of scope;
not understood → "no te entendí" and the menu (the second in a row goes to a person).
"""

from __future__ import annotations

import re

from dialogue import clauses
from dialogue.flows import control, escalate, followup, report, status
from dialogue.text import fold
from dialogue.turn import Turn
from dialogue.understanding import FOLIO_LIKE, folio_in, intent, is_short, lexicon_categories, parse
from nlu.api import SERVICE_INTENTS, Parse
from ticketing.catalog import Office

#: Opting out said in words ("ya no me manden mensajes"): the exact keyword BAJA is offered (the law's keyword,
#: so a stray "ya no" never unsubscribes anyone).
OPT_OUT_PHRASE = re.compile(
    r"\b(?:ya\s+no\s+(?:me\s+)?(?:manden|envien|mandes|envies|escriban|quiero\s+(?:recibir|que\s+me))"
    r"|dejen\s+de\s+(?:mandar|enviar|escribir)\w*|no\s+(?:me\s+)?(?:manden|envien)\s+(?:mas\s+)?mensajes"
    r"|no\s+quiero\s+(?:recibir\s+)?(?:mas\s+)?mensajes|(?:quiero\s+)?darme\s+de\s+baja|dar\s+de\s+baja"
    r"|desuscribir|cancelar\s+(?:los\s+)?(?:mensajes|avisos|notificaciones)|borrar\s+mi\s+numero)\b"
)
GREETINGS = frozenset({"hola", "buenas", "buen dia", "buenos dias", "buenas tardes", "buenas noches", "que tal",
                       "hola buenas", "hola buenos dias", "hola buenas tardes", "hola buenas noches", "ola", "hey",
                       "saludos", "hello", "hi", "holi"})


def opt_out_phrase(turn: Turn) -> bool:
    """ "ya no me manden mensajes", "quiero darme de baja": say how (BAJA), at any step; the step is kept."""
    if turn.choice is not None or not turn.text or len(turn.text) > 200 or not OPT_OUT_PHRASE.search(turn.folded):
        return False
    context = control.opt_out_context(turn)
    turn.say("opt_out_offer", **context)
    if context["unsent"]:
        control.reprompt(turn)  # the report is still there to finish
    return True


def greeting_aside(turn: Turn) -> bool:
    """ "hola" while a question is pending: greeted back briefly and the question asked again (not "no te
    entendí", and the step is not lost). The summary has its own one-line answer."""
    if turn.choice is not None or turn.conv.flow in (None, "followup") or turn.conv.step == "confirm" \
            or turn.photos or turn.inbound.location:
        return False
    if turn.folded not in GREETINGS and not (is_short(turn, 3) and intent(turn) == "greet"):
        return False
    turn.say("greeting_brief")
    control.reprompt(turn)
    return True


def _office(turn: Turn) -> Office | None:
    """The municipal office whose topic words the question uses ("¿cuánto cuesta el predial?" -> Tesorería)."""
    folded = turn.folded
    best, hits = None, 0
    for office in turn.services.catalog.offices:  # the most topic words wins; the first on a tie
        found = sum(1 for topic in office.topics
                    if re.search(rf"(?<![\wñ]){re.escape(fold(topic))}(?![\wñ])", folded))
        if found > hits:
            best, hits = office, found
    return best


#: Right after a notice, a new report needs its category named by the lexicon (and the usual sure reading), or this
#: confidence: "ni idea, yo nomás pasé en el camión" (garbage collection 0.55, no word of it) answers the notice.
NEW_REPORT_AFTER_NOTICE = 0.85


def _sure_new_report(turn: Turn, reading: Parse) -> bool:
    if not (reading.understood and reading.intent in SERVICE_INTENTS):
        return False
    if reading.confidence >= NEW_REPORT_AFTER_NOTICE:
        return True
    return reading.intent in lexicon_categories(turn, turn.text) and reading.confidence >= report.SURE_CONFIDENCE


def answer(turn: Turn) -> None:
    choice = turn.choice
    if choice == "menu:report":
        report.start(turn, category=None, description="")
        return
    if choice == "menu:status":
        status.answer(turn, None)
        return
    if status.complaint_about_shown(turn):  # "nadie ha venido…" right after their open report was shown
        return
    if followup.request(turn):  # "quiero que lo reabran", "no lo arreglaron": the latest closed report
        return
    folio = folio_in(turn) if turn.text else None
    understood = intent(turn)
    reading = parse(turn)
    if not folio and not FOLIO_LIKE.search(turn.text) and reading.understood and reading.about:
        # "¿ya taparon el bache?", "ya prendió la lámpara": their report of that kind, if any
        if status.about(turn, reading):
            return
        if understood == "check_status":  # asked about a report we do not have: filed now (said so first)
            report.start(turn, category=reading.about, description=turn.text)
            return
    if folio or understood == "check_status" or FOLIO_LIKE.search(turn.text):
        status.answer(turn, folio)
        return
    candidates = report.category_candidates(turn.services.catalog, reading)
    if (understood in SERVICE_INTENTS or understood in (None, "out_of_scope", "help", "human_handoff")) \
            and not _sure_new_report(turn, reading) and not turn.photos and not turn.inbound.location:
        notice = status.notice_answered(turn)  # "¿cómo que duplicado?", "¿a quién le hablo?" after a notice
        if notice is not None:
            status.notice_reply(turn, notice)
            return
    if understood in SERVICE_INTENTS or candidates:
        found = clauses.problems(turn)
        if len(found) >= 2:  # "hay un bache y además la lámpara está fundida": both, one after the other
            report.start(turn, category=found[0][0], description=found[0][1], queued=found[1:])
            return
    if understood in SERVICE_INTENTS:
        unsure = reading.confidence < report.SURE_CONFIDENCE and len(candidates) >= 2
        report.start(turn, category=None if unsure else understood, description=turn.text,
                     candidates=candidates if unsure else ())
        return
    if turn.photos or turn.inbound.location:
        report.start(turn, category=None, description=turn.text if candidates else "", candidates=candidates)
        return
    if understood == "greet" or (turn.first_contact and understood is None and not candidates):
        turn.say_menu(greeting=not turn.first_contact)
        return
    if understood in ("thanks", "goodbye"):
        turn.say("farewell", thanks=understood == "thanks")
        return
    if understood in ("affirm", "deny", "cancel"):
        turn.say_menu()
        return
    if understood == "report_problem":  # "quiero reportar algo", "tengo una queja": the category list
        report.start(turn, category=None, description="")
        return
    if understood == "help":
        turn.say("help")
        return
    office = _office(turn) if understood in ("out_of_scope", None) and turn.text else None
    if understood == "out_of_scope" or (office is not None and not candidates):
        if office is not None:  # who can help: the catalog's offices
            turn.say("out_of_scope", office=office.name, contact=office.contact)
        else:
            turn.say("out_of_scope")
        turn.say_menu()
        return
    if candidates:
        report.start(turn, category=None, description=turn.text, candidates=candidates)
        return
    if not escalate.count_misunderstood(turn):
        turn.say_menu("not_understood")
