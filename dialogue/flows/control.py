"""What comes before any flow: opting out and in (STOP / BAJA / ALTO, ALTA / START), first contact (privacy
notice, tacit consent), the idle restart, media the bot cannot use (voice notes, stickers, refused photos),
empty messages, and the exact-word commands cancelar / menú / ayuda; ``reprompt`` asks the pending question again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from dialogue.flows import report_questions, status, survey
from dialogue.text import CANCEL_WORDS, HELP_WORDS, MENU_WORDS, OPT_IN_WORDS, OPT_OUT_WORDS
from dialogue.turn import Turn
from dialogue.understanding import asks_to_repeat, no_words
from ticketing.citizens import record_consent, record_opt_out
from ticketing.models import ConversationMode

log = logging.getLogger("reporta.dialogue")

#: Flows started by a proactive message: they wait for the survey timeout, not the idle restart.
PROACTIVE_FLOWS = frozenset({"survey", "relocate", "followup"})
#: Flows a cancel speaks of ("lo dejamos ahí"); with none, "no había nada pendiente".
CANCELLABLE_FLOWS = frozenset({"report", "status", "relocate", "survey", "followup"})


def opt_out_or_in(turn: Turn) -> bool:
    """STOP / BAJA / ALTO and ALTA / START; while opted out the bot answers nothing else (``turn.silent``).
    True when the message was taken here."""
    citizen, folded = turn.citizen, turn.folded
    if folded in OPT_OUT_WORDS:
        pending = opt_out_context(turn)
        record_opt_out(citizen, turn.now)
        turn.end_flow()
        turn.conv.mode = ConversationMode.BOT
        turn.say("opted_out", **pending)
        log.info("dialogue: citizen %s opted out", citizen.id)
        return True
    if citizen.opted_out_at is None and folded in OPT_IN_WORDS and citizen.consent_at is not None:
        turn.say("opted_in")
        return True
    if citizen.opted_out_at is not None:
        if folded in OPT_IN_WORDS:
            record_consent(citizen, turn.now)
            turn.end_flow()
            turn.say("opted_in")
            turn.say_menu()
            return True
        turn.silent = True  # opted out: the bot answers only ALTA / START
        return True
    return False


def opt_out_context(turn: Turn) -> dict[str, object]:
    """What BAJA leaves behind, for ``opted_out`` / ``opt_out_offer``: a report being written (``unsent``, its
    ``category``; it is not filed) and how many filed reports are still open (``open_count``)."""
    from ticketing.privacy import access_summary

    draft = turn.slots if turn.conv.flow == "report" else {}
    unsent = bool(draft) and any(draft.get(k) for k in ("category", "address", "description", "lat", "photos"))
    open_count = access_summary(turn.session, turn.citizen, max_tickets=0).open_count
    return {"unsent": unsent, "category": turn.services.category_name(draft.get("category")) if unsent else "",
            "open_count": open_count}


def welcome_or_restart(turn: Turn) -> None:
    """First contact: the privacy notice and tacit consent. A flow idle too long: restarted with a note."""
    turn.first_contact = turn.citizen.consent_at is None
    if turn.first_contact:
        # Tacit consent (Ley General de Protección de Datos Personales en Posesión de Sujetos Obligados, art. 21):
        # the notice is shown before anything is kept beyond this message,
        # and STOP/BAJA withdraws it at any time.
        record_consent(turn.citizen, turn.now)
        turn.say("welcome")
    elif turn.conv.flow and _idle(turn):
        log.info("dialogue: conversation %s idle, restarting", turn.conv.id)
        turn.end_flow()
        turn.say("idle_restart")


def _idle(turn: Turn) -> bool:
    last = turn.conv.last_activity_at
    if last is None:
        return False
    settings = turn.services.settings
    hours = (settings.survey_timeout_hours if turn.conv.flow in PROACTIVE_FLOWS
             else settings.conversation_idle_hours)
    return turn.now - last > timedelta(hours=hours)


def unusable_media(turn: Turn) -> bool:
    """Voice notes, stickers, video, documents, refused photos: say what the bot can take. True when the message
    had nothing else (the pending question is asked again)."""
    if turn.unsupported_kinds:
        turn.say("media_unsupported", kind=turn.unsupported_kinds[0])
        if not turn.has_content:
            reprompt(turn)
            return True
    if turn.rejected_photos and not turn.photos:
        max_bytes = turn.services.settings.max_media_bytes
        too_big = any(True for m in turn.inbound.media if m.kind == "photo" and m.size_bytes
                      and m.size_bytes > max_bytes)
        turn.say("media_rejected", too_big=too_big, max_mb=int(max_bytes // (1024 * 1024)))
        if not (turn.text or turn.inbound.location):
            reprompt(turn)
            return True
    return False


def empty_message(turn: Turn) -> bool:
    """Nothing to read (no words, pin, photo or option): the menu on first contact, else the pending question."""
    if (turn.has_content and not no_words(turn)) or turn.choice:  # "...", a zero-width space: nothing to read
        return False
    if turn.first_contact:
        turn.say_menu()
    else:
        reprompt(turn, fallback_menu=True)
    return True


def command(turn: Turn) -> bool:
    """cancelar / menú / ayuda at any point, exact words only ("no tengo foto" is not a request for help)."""
    folded = turn.folded
    if turn.choice in ("menu:cancel", "cancel") or (turn.choice is None and folded in CANCEL_WORDS):
        cancel(turn)
        return True
    if turn.choice is None and folded in MENU_WORDS:
        dropped_report = turn.conv.flow == "report"
        turn.end_flow()
        turn.say_menu(dropped_report=dropped_report)
        return True
    if turn.choice is None and folded in HELP_WORDS:
        turn.say("help")
        reprompt(turn)
        return True
    if turn.choice is None and asks_to_repeat(turn):  # "perdón, me distraje, ¿qué me preguntabas?"
        if turn.conv.flow:
            turn.say("repeat_question")
            reprompt(turn)
        else:
            turn.say_menu()
        return True
    return False


def old_button(turn: Turn) -> bool:
    """A button pressed from an older message while a flow waits for something else: said so, and the pending
    question offered again (not counted as misunderstood). Without a flow, old menu buttons work as usual."""
    if not turn.stale_choice or not turn.conv.flow:
        return False
    turn.say("old_button")
    reprompt(turn)
    return True


def cancel(turn: Turn) -> None:
    had_flow = turn.conv.flow in CANCELLABLE_FLOWS
    was_report = turn.conv.flow == "report"
    turn.end_flow()
    if turn.channel == "sms":  # every SMS costs: one message, the menu's options appended
        turn.say_menu("cancelled", had_flow=had_flow, was_report=was_report)
        return
    turn.say("cancelled", had_flow=had_flow, was_report=was_report)
    turn.say_menu()


def reprompt(turn: Turn, *, fallback_menu: bool = False) -> None:
    """Ask again what the current step is waiting for (after help, an unusable photo, a sticker...)."""
    flow = turn.conv.flow
    if flow == "report":
        report_questions.reask(turn)
    elif flow == "survey":
        survey.reask(turn)
    elif flow == "relocate":
        survey.relocate_reask(turn)
    elif flow == "status":
        status.reask(turn)
    elif fallback_menu:
        turn.say_menu()
