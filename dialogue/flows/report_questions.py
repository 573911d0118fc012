"""What the report flow asks next, and how: the first missing slot (category → location → one follow-up when
vague → photo per category, never on SMS → description when the citizen gave no words) or the summary with
Sí, enviar / Corregir / Cancelar; the fix menu; the pending question again after a detour.

The answers are handled in ``dialogue.flows.report``.
"""

from __future__ import annotations

from dialogue.flows import escalate
from dialogue.formatting import shorten
from dialogue.places import address_text, has_location
from dialogue.render import sms_segments
from dialogue.turn import Turn
from reporta.messages import Button

#: Options of the summary (payload, label name).
SUMMARY_OPTIONS = (("yes", "confirm"), ("fix", "fix"), ("cancel", "cancel"))


def photo_policy(turn: Turn) -> str:
    """required | optional | never (the category's; never on SMS)."""
    category = turn.services.catalog.categories.get(turn.slots.get("category") or "")
    if category is None or turn.channel == "sms":
        return "never"
    return category.photo


def ask_next(turn: Turn) -> None:
    """Ask for the first missing slot, or show the summary when nothing is missing."""
    s, conv = turn.slots, turn.conv
    if not s.get("category"):
        conv.step = "category"
        ask_category(turn)
        return
    if not has_location(s):
        conv.step = "location"
        turn.say("report_ask_location", category=turn.services.category_name(s["category"]), code=s["category"],
                 can_pin=turn.channel != "sms", request_location=turn.channel == "telegram")
        return
    if not s.get("location_ok") and not s.get("location_followup"):
        conv.step = "location_detail"
        s["location_followup"] = True
        ask_location_detail(turn)
        return
    policy = photo_policy(turn)
    if policy != "never" and not s.get("photos") and s.get("photo_state") not in ("declined",):
        if s.get("photo_state") is None:
            s["photo_state"] = "asked"
            conv.step = "photo"
            ask_photo(turn)
            return
        if conv.step == "photo":
            ask_photo(turn, again=True)
            return
    if not s.get("description") and not s.get("description_asked"):
        s["description_asked"] = True
        conv.step = "description"
        ask_description(turn)
        return
    conv.step = "confirm"
    summary(turn)


def ask_category(turn: Turn, *, all_categories: bool = False) -> None:
    """The NLU's candidates plus "Otro", or the whole catalog."""
    candidates = [] if all_categories else list(turn.slots.get("candidates") or [])
    if candidates:
        buttons = [Button(turn.services.category_name(c), f"cat:{c}") for c in candidates]
        buttons.append(Button(turn.label("other"), "cat:other"))
        turn.say("report_ask_category", candidates=True, buttons=buttons)
    else:
        buttons = [Button(c.name, f"cat:{code}") for code, c in turn.services.catalog.categories.items()]
        turn.say("report_ask_category", candidates=False, buttons=buttons)
    turn.slots["category_all"] = not candidates


def ask_location_detail(turn: Turn) -> None:
    s = turn.slots
    place = turn.place(s.get("address") or s.get("colonia"), s.get("landmark"), None)
    turn.say("report_ask_location_detail", place=place, request_location=turn.channel == "telegram")


def ask_photo(turn: Turn, *, again: bool = False) -> None:
    extra = {"again": True} if again else {}
    turn.say("report_ask_photo", required=photo_policy(turn) == "required", buttons=no_photo_button(turn), **extra)


def no_photo_button(turn: Turn) -> list[Button]:
    return turn.buttons(("no_photo", "no_photo"))


def ask_description(turn: Turn) -> None:
    turn.say("report_ask_description", category=turn.services.category_name(turn.slots.get("category")),
             buttons=turn.buttons(("skip", "skip")))


def summary(turn: Turn) -> None:
    """The report as understood, with Sí, enviar / Corregir / Cancelar (one SMS segment when possible)."""
    s = turn.slots
    buttons = turn.buttons(*SUMMARY_OPTIONS)
    context = {
        "category": turn.services.category_name(s["category"]),
        "place": turn.place(address_text(s), s.get("landmark"), s.get("lat")),
        "has_pin": s.get("lat") is not None and bool(address_text(s) or s.get("landmark")),
        "photos": len(s.get("photos") or []),
        "same_as": s.get("same_place_folio"),
    }
    description = shorten(s.get("description"), 200)
    if turn.channel == "sms":
        # One segment when possible: the citizen's words are echoed shorter (or not at all) before the place.
        renderer = turn.services.renderer
        options = sum(len(f"{i}. {b.title}") + 1 for i, b in enumerate(buttons, start=1)) + 1
        for size in (60, 40, 0):
            description = shorten(s.get("description"), size) if size else None
            text = renderer.render("report_summary", "sms", **{**turn.services.template_context(), **context},
                                   description=description)
            if sms_segments(text) == 1 and len(text) + options <= 160:
                break
    turn.say("report_summary", description=description, buttons=buttons, **context)


def ask_fix(turn: Turn) -> None:
    pairs = [("fix:category", "fix_category"), ("fix:location", "fix_location")]
    if turn.channel != "sms":
        pairs.append(("fix:photo", "fix_photo"))
    pairs += [("fix:description", "fix_description"), ("cancel", "cancel")]
    turn.say("report_ask_fix", buttons=turn.buttons(*pairs))


def reask(turn: Turn) -> None:
    """The pending question of the report again (after help, a side question, a sticker...)."""
    step = turn.conv.step
    if step == "location_detail":
        ask_location_detail(turn)
        return
    if step == "description":
        ask_description(turn)
        return
    if step == "fix":
        ask_fix(turn)
        return
    if step == "duplicate":
        turn.conv.step = "confirm"
    ask_next(turn)


def misunderstood(turn: Turn) -> None:
    """Not understood in a step: counted (the second in a row goes to a person), else the question again."""
    if not escalate.count_misunderstood(turn):
        turn.say("not_understood_step")
        reask(turn)
