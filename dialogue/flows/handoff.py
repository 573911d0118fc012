"""Handing a conversation to a person from the conversation side: on request ("persona", the NLU's
``human_handoff``), on the escalation lexicon, or after two misunderstood messages in a row.

The staff side (queue, replies, handing back) is ``dialogue.handoff``.
"""

from __future__ import annotations

import logging

from dialogue.text import HANDOFF_WORDS
from dialogue.turn import Turn
from dialogue.understanding import intent
from ticketing.models import ConversationMode

log = logging.getLogger("reporta.dialogue")

#: How many consecutive misunderstood messages send the conversation to a person.
MISUNDERSTOOD_LIMIT = 2


def start(turn: Turn, reason: str) -> None:
    """Hand the conversation to staff (``reason`` ∈ requested | not_understood | abusive | anguished)."""
    conv = turn.conv
    unsent_report = conv.flow == "report"  # the draft is not kept: say so rather than lose it silently
    turn.end_flow()
    conv.mode = ConversationMode.HANDOFF
    conv.handoff_reason = reason
    conv.handoff_requested_at = turn.now
    conv.handoff_staff_id = None
    turn.misunderstood = False
    turn.say("handoff_started", reason=reason, unsent_report=unsent_report)
    log.info("dialogue: conversation %s handed to staff (%s)", conv.id, reason)


def wants_person(turn: Turn) -> bool:
    if turn.folded in HANDOFF_WORDS:
        return True
    return intent(turn) == "human_handoff"


def count_misunderstood(turn: Turn) -> bool:
    """Count a message the bot did not understand; the second in a row goes to a person (True: handed off,
    nothing else to say)."""
    if (turn.conv.misunderstood_count or 0) + 1 >= MISUNDERSTOOD_LIMIT:
        start(turn, "not_understood")
        return True
    turn.misunderstood = True
    return False
