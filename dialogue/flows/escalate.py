"""Starting a handoff from the conversation side: on request, on the escalation lexicon, or after two
misunderstood messages in a row (``count_misunderstood``). The citizen is told when a person will answer; an
unsent report is kept as ``slots["draft"]`` for staff. What happens while the conversation waits, and handing it
back, is ``dialogue.flows.handoff``; the staff side is ``dialogue.handoff``.

Apart from ``dialogue.flows.handoff`` so that any flow can escalate without importing the flow that resumes it.
"""

from __future__ import annotations

import logging
from typing import Any

from dialogue import handoff_log
from dialogue.places import location_parts
from dialogue.staff_hours import StaffHours
from dialogue.turn import Turn
from dialogue.understanding import intent
from nlu.api import SERVICE_INTENTS
from ticketing.models import ConversationMode

log = logging.getLogger("reporta.dialogue")

#: How many consecutive misunderstood messages send the conversation to a person.
MISUNDERSTOOD_LIMIT = 2
#: Slots of an unsent report kept as the draft (what staff read, what the bot resumes).
DRAFT_KEYS = ("category", "description", "address", "colonia", "landmark", "lat", "lon", "location_ok",
              "location_followup", "photos", "photo_state", "description_asked", "queued")

#: What makes a draft a report the citizen meant: a category, a place or a photo (not just their words).
REPORT_KEYS = ("category", "address", "colonia", "landmark", "lat", "photos")


def start(turn: Turn, reason: str) -> None:
    """Hand the conversation to staff (``reason`` ∈ requested | not_understood | abusive | anguished)."""
    conv = turn.conv
    draft = {k: turn.slots.get(k) for k in DRAFT_KEYS if turn.slots.get(k) not in (None, [], "")} \
        if conv.flow == "report" else None
    if draft is not None and not any(draft.get(k) for k in REPORT_KEYS):
        draft = None  # only words the bot could not place ("¿y a quién le hablo?"): not a report they meant
    unsent_report = draft is not None
    if draft is not None:
        draft["step"] = conv.step
    elif reason == "anguished":
        draft = _draft_of_message(turn)  # "hay un herido, se cayó un árbol en Juárez 10": staff get the report
    turn.end_flow()
    conv.mode = ConversationMode.HANDOFF
    conv.handoff_reason = reason
    conv.handoff_requested_at = turn.now
    conv.handoff_staff_id = None
    handoff_log.requested(turn.session, conv, reason, turn.now)
    turn.misunderstood = False
    if draft:
        turn.slots = {"draft": draft}
    hours = StaffHours(turn.services.catalog, turn.services.settings.timezone)
    open_now = hours.is_open(turn.now)
    turn.say("handoff_started", reason=reason, unsent_report=unsent_report, kept_draft=bool(draft),
             open_now=open_now, hours=hours.hours_text(),
             next_opening=None if open_now else hours.next_opening_text(turn.now),
             timeout_minutes=turn.services.catalog.handoff_timeout_minutes)
    log.info("dialogue: conversation %s handed to staff (%s)", conv.id, reason)


def _draft_of_message(turn: Turn) -> dict[str, Any] | None:
    """The report a message carries (category, the citizen's words, the place), kept for staff, or None."""
    category = intent(turn)
    if category not in SERVICE_INTENTS or category not in turn.services.catalog.categories:
        return None
    parts = location_parts(turn)
    draft = {"category": category, "description": turn.text[:4000], "photos": turn.photos}
    draft.update({k: parts[k] for k in ("address", "colonia", "landmark") if parts.get(k)})
    if turn.inbound.location is not None:
        draft.update(lat=turn.inbound.location.lat, lon=turn.inbound.location.lon, location_ok=True)
    elif parts["precise"]:
        draft["location_ok"] = True
    return {**{k: v for k, v in draft.items() if v not in (None, [], "")}, "step": None}


def count_misunderstood(turn: Turn) -> bool:
    """Count a message the bot did not understand; the second in a row goes to a person (True: handed off,
    nothing else to say)."""
    if (turn.conv.misunderstood_count or 0) + 1 >= MISUNDERSTOOD_LIMIT:
        start(turn, "not_understood")
        return True
    turn.misunderstood = True
    return False
