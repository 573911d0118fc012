"""A message no flow is waiting for, by what it says: a main-menu option, a folio or a status question, a
problem (a new report, with the NLU's candidates when it hesitates), a greeting, thanks, something out of scope;
not understood → "no te entendí" and the menu (the second in a row goes to a person).
"""

from __future__ import annotations

from dialogue import clauses
from dialogue.flows import handoff, report, status
from dialogue.turn import Turn
from dialogue.understanding import FOLIO_LIKE, folio_in, intent, parse
from nlu.api import SERVICE_INTENTS


def answer(turn: Turn) -> None:
    choice = turn.choice
    if choice == "menu:report":
        report.start(turn, category=None, description="")
        return
    if choice == "menu:status":
        status.answer(turn, None)
        return
    folio = folio_in(turn) if turn.text else None
    understood = intent(turn)
    if folio or understood == "check_status" or FOLIO_LIKE.search(turn.text):
        status.answer(turn, folio)
        return
    reading = parse(turn)
    candidates = report.category_candidates(turn.services.catalog, reading)
    if understood in SERVICE_INTENTS or candidates:
        found = clauses.problems(turn)
        if len(found) >= 2:  # "hay un bache y además la lámpara está fundida": both, one after the other
            report.start(turn, category=found[0][0], description=turn.text, queued=found[1:])
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
    if understood == "out_of_scope":
        turn.say("out_of_scope")
        turn.say_menu()
        return
    if candidates:
        report.start(turn, category=None, description=turn.text, candidates=candidates)
        return
    if not handoff.count_misunderstood(turn):
        turn.say_menu("not_understood")
