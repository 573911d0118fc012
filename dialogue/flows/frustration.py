"""Frustration is not abuse: "son unos inútiles", "nunca hacen nada" get a calm, respectful answer and the bot goes
on helping (the message is still read: "son unos inútiles, el bache de Hidalgo 100 sigue ahí" is a report).
"""

from __future__ import annotations

from dialogue.flows import control
from dialogue.flows.handoff import wants_person
from dialogue.places import location_parts
from dialogue.turn import Turn
from dialogue.understanding import FOLIO_LIKE, folio_in, intent
from nlu.api import SERVICE_INTENTS


def _carries_more(turn: Turn) -> bool:
    """Besides the anger, a problem, a status question, a folio, a place or a photo the flows can use."""
    if turn.photos or turn.inbound.location or folio_in(turn) or FOLIO_LIKE.search(turn.text):
        return True
    if intent(turn) in (*SERVICE_INTENTS, "check_status"):
        return True
    return turn.conv.flow == "report" and bool(location_parts(turn)["any"])


def calm(turn: Turn) -> bool:
    """Answer the frustration; True when nothing else in the message needs an answer (the pending question or
    the menu follows), False when the message goes on to the flows. "ya me cansé, quiero hablar con alguien"
    goes on to the handoff at once (its own answer says a person will reply)."""
    if turn.choice is None and wants_person(turn):
        return False
    if _carries_more(turn):
        turn.say("frustrated", going_on=True)
        return False
    if turn.conv.flow:
        turn.say("frustrated", in_flow=True)  # the step's options follow, not the menu's "Hablar con una persona"
        control.reprompt(turn)
    else:
        turn.say_menu("frustrated")
    return True
