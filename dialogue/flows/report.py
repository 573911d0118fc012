"""The report flow's answers, from the first words to the ticket. Every message is *absorbed* first (photos, a
pin, a written place), then the next question is asked (``dialogue.flows.report_questions``). Corrections in
words replace the place or the category; a status question on the way is answered and the report kept; at the
summary, Sí runs the duplicate check (pins only) and creates the ticket, Corregir offers what to fix.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from dialogue import clauses, report_words
from dialogue.flows import control, escalate, followup, status
from dialogue.flows.report_questions import (
    SUMMARY_OPTIONS,
    ask_category,
    ask_description,
    ask_fix,
    ask_next,
    ask_photo,
    misunderstood,
    no_photo_button,
    photo_policy,
    reask,
    summary,
)
from dialogue.formatting import distance_text
from dialogue.places import (
    BARE_NUMBER,
    FIX_PLACE_PREFIX,
    address_text,
    clause_location_parts,
    has_location,
    is_not_a_place,
    lead_landmark,
    location_parts,
    written_place,
)
from dialogue.simulated import is_simulated
from dialogue.text import NO_PHOTO_WORDS, SKIP_WORDS, UNSURE_WORDS, fold, starts_with_one_of
from dialogue.turn import Turn
from dialogue.understanding import (
    FOLIO_LIKE,
    NLU_MAX_CHARS,
    folio_in,
    intent,
    is_control_word,
    is_no,
    is_short,
    is_yes,
    parse,
)
from dialogue.urgency import urgent_cue
from nlu.acts import only_a_place
from nlu.api import SERVICE_INTENTS, Parse
from ticketing.catalog import Catalog
from ticketing.models import Ticket
from ticketing.written_places import same_place

log = logging.getLogger("reporta.dialogue")

#: Characters of the citizen's description kept on a ticket (a 5,000-character rant is kept whole up to this).
DESCRIPTION_MAX_CHARS = 4000
#: Below this, the NLU's best service category is not offered as a candidate.
CANDIDATE_MIN_CONFIDENCE = 0.12
#: A category understood below this, with another category close behind, is confirmed with numbered options.
SURE_CONFIDENCE = 0.6
MAX_CANDIDATES = 3
#: Nearby reports looked at for a duplicate (the nearest of the same kind, simulated or real, is offered).
DUPLICATE_LOOKUP = 5


def start(turn: Turn, *, category: str | None, description: str, candidates: Sequence[str] = (),
          queued: Sequence[tuple[str, str]] = ()) -> None:
    """A new report; ``queued``: more problems of the same message, (category, words), filed one after the other."""
    categories = turn.services.catalog.categories
    if queued:  # every problem of the message, each with its own words ("…, una lámpara fundida y un perro muerto")
        (category, description), *rest = _every_problem(turn, [(category or "", description), *queued])
        queued = rest
    turn.start_flow("report", None, {
        "category": category if category in categories else None,
        "candidates": [c for c in candidates if c in categories],
        "description": (description or "")[:DESCRIPTION_MAX_CHARS],
        "photos": [],
        "queued": [[c, (words or "")[:DESCRIPTION_MAX_CHARS]] for c, words in queued if c in categories],
    })
    absorb(turn, replace_location=False)
    if turn.slots["queued"]:
        _own_place(turn, turn.slots, turn.slots["description"])
        names = [turn.services.category_name(c) for c in (category, *(c for c, _ in turn.slots["queued"]))]
        turn.say("report_two_problems", categories=names, first=names[0])
    ask_next(turn)


def _next_queued(turn: Turn, done: dict) -> None:
    """After a report of a message with two problems: the next one, in the same place (the summary shows it)."""
    queued = list(done.get("queued") or [])
    if not queued:
        return
    (category, words), rest = queued[0], queued[1:]
    carried = {k: done.get(k) for k in ("address", "colonia", "landmark", "lat", "lon", "location_ok")}
    place = None
    turn.start_flow("report", None, {"category": category, "candidates": [], "description": words,
                                     "photos": [], "queued": rest, "location_followup": True, **carried})
    if _own_place(turn, turn.slots, words):
        place = turn.place(address_text(turn.slots), turn.slots.get("landmark"), None)
    turn.say("report_next_problem", category=turn.services.category_name(category), place=place)
    ask_next(turn)


def _own_place(turn: Turn, s: dict, words: str) -> bool:
    """One of several problems of a message ("un bache en Hidalgo 10 col Centro y aparte en la Juárez 20 col
    Obrera una lámpara fundida"): the place in its own words replaces the one it was given (the message's, or the
    problem's before); a problem with no place of its own keeps that one. True when replaced."""
    if not words or words == turn.text:
        return False
    parts = clause_location_parts(turn, words)
    if not (parts["address"] or parts["landmark"] or parts["colonia"]):
        return False
    pin = (s.get("lat"), s.get("lon")) if turn.inbound.location is not None and turn.conv.step is None else None
    s.update(address=parts["address"], colonia=parts["colonia"], landmark=parts["landmark"], lat=None, lon=None,
             location_ok=bool(parts["precise"]), same_place_folio=None)
    if pin is not None:  # a pin sent with the message is the first problem's
        s.update(lat=pin[0], lon=pin[1], location_ok=True)
    return True


#: Where a list of problems splits: commas, "y", a full stop, a colon ("…hay un bache, una lámpara fundida y …").
_LIST_JOINT = re.compile(
    r"\s*(?:[,;:]|(?<!col)(?<!av)(?<!fracc)(?<!esq)(?<!num)(?<!no)\.)\s+(?:y\s+|e\s+)?|\s+(?:y|e)\s+", re.IGNORECASE)
LIST_MIN_CONFIDENCE = 0.5
LIST_MAX_PIECES = 8


def _every_problem(turn: Turn, found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The problems of a message with two or more, each with its own words: read piece by piece (split at commas
    and "y"), when the pieces name every problem found (and maybe one the whole-message reading missed: "un
    bache, una lámpara fundida y un perro muerto"); pieces that name no problem join the one before (the first
    one when they come first). Else ``found`` as it is."""
    text = turn.text[:NLU_MAX_CHARS]
    codes = set(turn.services.catalog.categories)
    cuts = [0]
    for m in _LIST_JOINT.finditer(text):
        cuts += [m.start(), m.end()]
    cuts.append(len(text))
    pieces = [(text[cuts[i]:cuts[i + 1]], cuts[i]) for i in range(0, len(cuts), 2)]
    if len(pieces) > LIST_MAX_PIECES:
        return found
    named: list[tuple[str, int]] = []  # (category, start of its words)
    for piece, start in pieces:
        reading = clauses.parse_clause(turn, piece)
        code = clauses.service_of(reading, codes)
        if code and reading is not None and reading.confidence >= LIST_MIN_CONFIDENCE and not (
                named and named[-1][0] == code):
            named.append((code, start))
    wanted = [c for c, _ in found]
    got = [c for c, _ in named]
    if len(set(got)) != len(got) or not set(wanted) <= set(got):
        return found
    if len(got) == len(wanted) and all(words != turn.text for _, words in found):
        return found  # the clauses said already (split at "y además")
    bounds = [0 if i == 0 else start for i, (_, start) in enumerate(named)] + [len(text)]
    return [(code, _JOINT_TAIL.sub("", text[bounds[i]:bounds[i + 1]]).strip(" ,;:."))
            for i, (code, _) in enumerate(named)]


_JOINT_TAIL = re.compile(r"[\s,;:.]+(?:y|e)?\s*$", re.IGNORECASE)


def category_candidates(catalog: Catalog, parse: Parse) -> list[str]:
    """The service categories the NLU hesitates between (best first), when a category is on top."""
    found = [name for name, conf in parse.ranking if name in SERVICE_INTENTS
             and conf >= CANDIDATE_MIN_CONFIDENCE and name in catalog.categories]
    if not parse.ranking or parse.ranking[0][0] not in SERVICE_INTENTS:
        return []
    return found[:MAX_CANDIDATES]


def absorb(turn: Turn, *, replace_location: bool, raw_text_as_location: bool = False) -> bool:
    """Take from the message what fills report slots: photos, a pin, a written place. True if any."""
    s = turn.slots
    took = False
    for attachment_id in turn.photos:
        if attachment_id not in s.setdefault("photos", []):
            s["photos"] = [*s["photos"], attachment_id]
            took = True
    location = turn.inbound.location
    if location is not None:
        if replace_location:
            s.update(address=None, landmark=None, colonia=None, same_place_folio=None)
        s["lat"], s["lon"] = location.lat, location.lon
        if location.address and not s.get("landmark"):
            s["landmark"] = location.address[:300]
        s["location_ok"] = True
        took = True
    elif turn.text:
        parts = written_place(turn) if raw_text_as_location else location_parts(turn)
        if parts["any"]:
            if replace_location:
                s.update(address=None, landmark=None, colonia=None, lat=None, lon=None, location_ok=False,
                         same_place_folio=None)
            for key in ("address", "colonia", "landmark"):
                if parts[key]:
                    s[key] = parts[key][:300]
            if parts["precise"] or s.get("lat") is not None:
                s["location_ok"] = True
            took = True
        elif raw_text_as_location:
            s["address"] = turn.text[:300]
            took = True
            if any(ch.isdigit() for ch in turn.text):
                s["location_ok"] = True
    return took


def step(turn: Turn) -> bool:
    """Let the report take the message; False when it is not an answer to the pending question."""
    step = turn.conv.step
    if turn.choice is None and turn.text and (FOLIO_LIKE.search(turn.text) or intent(turn) == "check_status"
                                              or followup.EXPLICIT_REOPEN.search(turn.folded)):
        if step == "confirm" and _asks_about_this_report(turn):
            _summary_question(turn)  # "¿y cuándo vienen?" with no other report: about this one
            return True
        return _status_aside(turn)  # answered; the unsent report is kept and recalled
    if _drops_report(turn):
        control.cancel(turn)
        return True
    if status.not_another_report(turn):  # "no no, ya se arregló la que reporté, no es otra"
        return True
    if step in ("location", "location_detail", "photo", "description", "duplicate") and _correction(turn):
        return True
    handler = _STEPS.get(step or "")
    return handler(turn) if handler else False


def _step_category(turn: Turn) -> bool:
    s = turn.slots
    if turn.choice == "cat:other":
        ask_category(turn, all_categories=True)
        return True
    if turn.choice and turn.choice.startswith("cat:") and turn.choice[4:] in turn.services.catalog.categories:
        s["category"] = turn.choice[4:]
        absorb(turn, replace_location=False)
        ask_next(turn)
        return True
    understood = intent(turn)
    took = absorb(turn, replace_location=False)
    if understood in SERVICE_INTENTS and understood in turn.services.catalog.categories:
        s["category"] = understood
        if not s.get("description"):
            s["description"] = turn.text[:DESCRIPTION_MAX_CHARS]
        ask_next(turn)
        return True
    if understood == "check_status" or folio_in(turn):
        return False  # a different request: handled as a fresh message
    if took and not turn.text:
        if turn.photos:
            turn.say("report_photo_received", count=len(s.get("photos") or []))
        ask_category(turn, all_categories=bool(s.get("category_all")))
        return True
    if not escalate.count_misunderstood(turn):
        turn.say("not_understood_step")
        ask_category(turn, all_categories=True)
    return True


def _drops_report(turn: Turn) -> bool:
    """ "mejor no, olvídalo", "ya no, olvídalo", "mejor no lo mandes" (with no place in it): the report is dropped,
    whatever the step (never added to the description)."""
    if turn.choice is not None or not turn.text or not report_words.drops_report(turn.folded):
        return False
    return not location_parts(turn)["any"]


def _place_aside(turn: Turn) -> bool:
    """At the place steps, an answer that is no place (never saved as the place): "en el mismo lugar de la otra
    vez" takes an earlier report's place; "no tengo foto" is noted; a question ("¿y cuánto se tardan?") is
    answered briefly and a complaint ("ya van 3 días") joins the description; then the place is asked again."""
    if turn.choice is not None or not turn.text or turn.inbound.location:
        return False
    folded = turn.folded
    parts = location_parts(turn)
    if report_words.means_same_place(folded) and not parts["address"]:
        return _same_place(turn)
    if parts["any"]:
        return False
    s = turn.slots
    if report_words.declines_photo(folded):
        absorb(turn, replace_location=False)
        if photo_policy(turn) != "required":  # a required photo is still asked for, after the place
            s["photo_state"] = "declined"
            turn.say("report_place_aside", kind="no_photo")
    elif report_words.is_question(turn.text, folded) or (intent(turn) in _ASIDE_INTENTS and not is_not_a_place(turn)):
        _answer_briefly(turn, ask_place=True)
    elif report_words.is_complaint(folded) or report_words.describes(folded):
        _add_to_description(turn)  # "desde el sábado está ahí y ya apesta": the report's words, never its place
        turn.say("report_place_aside", kind="complaint")
    else:
        return False
    reask(turn)
    return True


#: What the NLU reads in a message that is a question, not a place ("oiga y eso cuánto cuesta").
_ASIDE_INTENTS = frozenset({"out_of_scope", "help"})


def _same_place(turn: Turn) -> bool:
    """ "en el mismo lugar de la otra vez", "la misma que ya les había reportado", "ahí mismo": the place of the
    citizen's latest report (the summary says which), else the draft's place, else asked again."""
    s = turn.slots
    simulated = is_simulated(turn.inbound.channel)
    earlier = next((t for t in turn.tickets().latest_reported_by(turn.citizen.id)
                    if is_simulated(t.channel) == simulated and (t.address or t.landmark or t.lat is not None)),
                   None)
    absorb(turn, replace_location=False)  # a photo, and a reference given with it ("ahí mismo, frente al oxxo")
    if earlier is not None:
        parts = location_parts(turn)
        extra = [p for p in (parts["landmark"], parts["colonia"]) if p]
        s.update(address=earlier.address, colonia=None, lat=earlier.lat, lon=earlier.lon,
                 landmark=", ".join(p for p in (earlier.landmark, *extra) if p)[:300] or None,
                 location_ok=True, location_followup=True, same_place_folio=earlier.folio)
        ask_next(turn)
        return True
    if has_location(s):
        s.update(location_ok=True, location_followup=True)
        ask_next(turn)
        return True
    turn.say("report_place_aside", kind="same_unknown")
    reask(turn)
    return True


def _step_location(turn: Turn) -> bool:
    if _place_aside(turn):
        return True
    if turn.text and not turn.inbound.location and is_not_a_place(turn):
        absorb(turn, replace_location=False)  # a photo sent with "no sé" is kept
        if starts_with_one_of(turn.text, UNSURE_WORDS) or intent(turn) == "deny":
            turn.say("report_location_unsure", can_pin=turn.channel != "sms",
                     request_location=turn.channel == "telegram")
        else:
            misunderstood(turn)
        return True
    absorb(turn, replace_location=False, raw_text_as_location=True)
    if not has_location(turn.slots):
        misunderstood(turn)
        return True
    ask_next(turn)
    return True


def _step_location_detail(turn: Turn) -> bool:
    s = turn.slots
    before = address_text(s)
    if _place_aside(turn):
        return True
    if turn.choice is None and turn.text and BARE_NUMBER.fullmatch(turn.text) and not turn.inbound.location:
        # "45": the house number of a street without one; else no answer to "¿en qué calle?" (a late rating "5")
        address = s.get("address") or ""
        if address and not any(ch.isdigit() for ch in address):
            s.update(address=f"{address} {turn.text.strip(' #.)')}"[:300], location_ok=True)
            ask_next(turn)
        else:
            misunderstood(turn)
        return True
    if turn.text and is_not_a_place(turn):
        absorb(turn, replace_location=False)  # "no sé": we go on with what we have
    elif turn.text and not location_parts(turn)["any"]:
        s["address"] = ", ".join(p for p in (before, turn.text[:200]) if p)
        absorb(turn, replace_location=False)
    else:
        absorb(turn, replace_location=False)
    s["location_ok"] = True
    ask_next(turn)
    return True


def _step_photo(turn: Turn) -> bool:
    s = turn.slots
    if turn.photos:
        absorb(turn, replace_location=False)
        turn.say("report_photo_received", count=len(s["photos"]))
        ask_next(turn)
        return True
    if not turn.text and turn.choice is None:
        absorb(turn, replace_location=False)  # e.g. a pin while we wait for the photo
        ask_next(turn)
        return True
    if _correction(turn):
        return True
    declined = turn.choice == "no_photo" or (turn.choice is None and starts_with_one_of(turn.text, NO_PHOTO_WORDS))
    if not declined and (turn.choice == "yes" or (turn.choice is None and is_yes(turn))):
        # "Sí" to "¿Tienes una foto?": they have one; wait for it (never part of the description).
        turn.say("report_photo_wait", buttons=no_photo_button(turn))
        return True
    if not declined and turn.choice is None and is_short(turn, 4) and intent(turn) == "help":
        turn.say("help")
        reask(turn)
        return True
    absorb(turn, replace_location=False)
    said_no = turn.choice == "no_photo" or (turn.choice is None and (
        declined or report_words.declines_photo(turn.folded)))
    if declined and turn.choice is None and (rest := report_words.after_photo_decline(turn.text)) \
            and rest not in (s.get("description") or "") and not only_a_place(rest, parse(turn).entities):
        # "no pz no tengo foto, el árbol está tapando el paso": the words after the "no" are the report's (and
        # its urgency is read from them when it is filed)
        _add_to_description(turn, rest)
    if photo_policy(turn) == "required" and s.get("photo_state") == "asked":
        s["photo_state"] = "reminded"
        turn.say("report_photo_reminder", declined=said_no and turn.choice is None, buttons=no_photo_button(turn))
        return True
    if (not declined and turn.choice is None and not is_control_word(turn) and not s.get("description_extra")
            and not only_a_place(turn.text, parse(turn).entities)):  # "en la colonia centro" is the place's
        s["description_extra"] = True
        s["description"] = " ".join(p for p in (s.get("description"), turn.text[:1000]) if p)
    s["photo_state"] = "declined"
    ask_next(turn)
    return True


def _step_description(turn: Turn) -> bool:
    s = turn.slots
    absorb(turn, replace_location=False)
    if turn.text and turn.choice != "skip" and not starts_with_one_of(turn.text, SKIP_WORDS):
        s["description"] = turn.text[:DESCRIPTION_MAX_CHARS]
    ask_next(turn)
    return True


def _correction(turn: Turn) -> bool:
    """A correction in words before the summary ("no, es en la calle Hidalgo", "me equivoqué, es una fuga"):
    the new place replaces the old one, a different category replaces the category. True when taken."""
    if turn.choice is not None or not turn.text or not clauses.is_correction(turn):
        return False
    if _number_corrected(turn) or _replaced_place_or_category(turn):
        return True
    if turn.conv.step not in ("photo", "description"):
        return False  # at the place steps the words are the place; elsewhere the step reads them
    # A correction of the details ("me equivoqué, son dos baches"): the citizen's words join the description.
    _add_to_description(turn)
    _after_correction(turn, "description")
    return True


def _after_correction(turn: Turn, what: str) -> None:
    """Say what changed (unless the summary comes next and shows it) and ask the next question afresh."""
    s = turn.slots
    if turn.conv.step == "photo" and s.get("photo_state") == "asked":
        s["photo_state"] = None  # asked again as a new question, not "still waiting for the photo"
    before = len(turn.replies)
    ask_next(turn)
    if turn.conv.step != "confirm" or what == "category":  # at the summary a new category is said, never silent
        turn.say("report_corrected", what=what, category=turn.services.category_name(s.get("category")),
                 place=turn.place(address_text(s), s.get("landmark"), s.get("lat")))
        turn.replies.insert(before, turn.replies.pop())


def _replaced_place_or_category(turn: Turn, *, replace_place: bool = False) -> bool:
    """A new place in words replaces the location; a different category in words replaces the category.
    ``replace_place`` (a place given at the fix menu, or "la ubicación, es…"): the new place replaces the whole
    old one (address, colonia, landmark, pin), never completes it."""
    s = turn.slots
    current = s.get("category")
    replace_place = replace_place or bool(FIX_PLACE_PREFIX.match(turn.text))
    correcting = clauses.is_correction(turn)
    new_category = clauses.corrected_category(turn, current) if correcting else None
    if new_category is None and not correcting:
        understood = intent(turn)
        if (understood in SERVICE_INTENTS and understood != current and understood in turn.services.catalog.categories
                and clauses.names_a_problem(turn)  # "calle Hidalgo 300" alone is a place, not a category
                and not _repeats_the_report(turn)):  # "nogal y fresno" again: the streets, not a tree
            new_category = understood
    parts = location_parts(turn)
    if parts["address"] or parts["landmark"] or parts["colonia"]:
        if new_category:
            _change_category(turn, new_category)
        if replace_place:
            absorb(turn, replace_location=True)
            if landmark := lead_landmark(turn, parts):
                s["landmark"] = landmark
        elif _adds_to_place(s, parts, correcting):
            for key in ("address", "colonia", "landmark"):
                if parts[key]:
                    s[key] = parts[key][:300]
            if parts["precise"]:
                s["location_ok"] = True
        else:
            absorb(turn, replace_location=True)
        s["location_followup"] = True
        _after_correction(turn, "place")
        return True
    if new_category:
        _change_category(turn, new_category)
        _after_correction(turn, "category")
        return True
    return False


def _adds_to_place(s: dict, parts: dict, correcting: bool) -> bool:
    """A colonia alone ("en la colonia centro") completes the place given (its colonia replaced, the street,
    landmark and pin kept); so does any part the place lacks, unless the citizen says it is a correction."""
    if not has_location(s):
        return False
    if parts["colonia"] and not parts["address"] and not parts["landmark"]:
        return True
    return not correcting and all(not s.get(key) for key in ("address", "colonia", "landmark") if parts[key])


#: Words that only frame a place or join two streets ("nogal y fresno", "en la esquina de nogal con fresno").
_FRAME_WORDS = frozenset({"y", "e", "en", "la", "el", "los", "las", "de", "del", "a", "al", "es", "esta", "calle",
                          "esquina", "esq", "con", "casi", "entre", "av", "avenida", "col", "colonia", "por", "frente",
                          "cerca", "sobre", "ahi", "aqui", "si", "ya", "les", "dije", "te", "le"})
REPEAT_MAX_WORDS = 8


def _repeats_the_report(turn: Turn, *, place_only: bool = False) -> bool:
    """A short message whose words are all in the report's place (or description) already ("nogal y fresno"
    after "...en la calle nogal casi esquina con fresno"): the citizen repeats the place."""
    s = turn.slots
    words = [w for w in re.findall(r"[a-zñ0-9]+", turn.folded) if w not in _FRAME_WORDS]
    if not words or len(turn.folded.split()) > REPEAT_MAX_WORDS:
        return False
    said = (address_text(s), s.get("landmark")) if place_only else (address_text(s), s.get("landmark"),
                                                                    s.get("description"))
    known = set(re.findall(r"[a-zñ0-9]+", fold(" ".join(p for p in said if p))))
    return all(w in known for w in words)


def _number_corrected(turn: Turn) -> bool:
    """ "es el 45 no el 54", "no es el 54, es el 45": the house number of the written address is corrected (the
    citizen's words join the description) and the report goes on. True when taken."""
    s = turn.slots
    found = report_words.number_fix(turn.folded)
    if found is None:
        return False
    address = s.get("address")
    changed = report_words.replace_number(address, *found) if address else None
    if changed is None:
        # A number the address does not hold: the words join the description (never read as a category),
        # and at the summary the citizen says what to fix.
        _add_to_description(turn)
        if turn.conv.step == "confirm":
            turn.conv.step = "fix"
            ask_fix(turn)
        else:
            _after_correction(turn, "description")
        return True
    s["address"] = changed[:300]
    _add_to_description(turn)
    _after_correction(turn, "place")
    return True


def _add_to_description(turn: Turn, words: str | None = None) -> None:
    """The citizen's words (``words``, else the message) join the report's description."""
    s = turn.slots
    before = (s.get("description") or "").rstrip()
    joiner = " " if not before or before[-1] in ".!?" else ". "
    s["description"] = (before + joiner + (words if words is not None else turn.text)).strip()[:DESCRIPTION_MAX_CHARS]


def _change_category(turn: Turn, code: str) -> None:
    """A new category; a declined photo is not asked again unless the new category requires one. The
    citizen's correction joins the description ("hay un bache. me equivoqué, es una fuga")."""
    s = turn.slots
    s["category"] = code
    if s.get("queued"):  # one problem read as two ("un bache y una coladera…", then "no es bache, es la coladera"):
        # the queued problem of the corrected category goes, unless it names a place of its own elsewhere
        s["queued"] = [[c, words] for c, words in s["queued"] if c != code or _elsewhere(turn, s, words)]
    if turn.text and turn.choice is None:
        _add_to_description(turn)
    if s.get("photo_state") != "declined" or photo_policy(turn) == "required":
        s["photo_state"] = None


def _elsewhere(turn: Turn, s: dict, words: str) -> bool:
    """The words of a queued problem name a written place other than the report's."""
    parts = clause_location_parts(turn, words or "")
    theirs = ", ".join(p for p in (parts["address"], parts["colonia"]) if p)
    return bool(theirs) and not same_place(theirs, address_text(s))


def _status_aside(turn: Turn) -> bool:
    """A status question in the middle of a report: answered, and the unsent report is kept and recalled."""
    conv = turn.conv
    flow, step, slots = conv.flow, conv.step, dict(turn.slots)
    if not followup.reopen_aside(turn):  # "quiero que reabran el folio …": reopened, the report kept
        status.answer(turn, folio_in(turn), aside=True)
    turn.start_flow(flow, step, slots)
    if step == "confirm":
        _ask_to_send(turn)
    else:
        turn.say("report_pending", category=turn.services.category_name(slots.get("category")), confirm=False)
        reask(turn)
    return True


def _ask_to_send(turn: Turn, *, greeting: bool = False, thanks: bool = False) -> None:
    """ "Tu reporte de … todavía no se ha enviado. ¿Lo envío?" with the summary's options (not the whole summary)."""
    extra = {"greeting": True} if greeting else {}
    if thanks:
        extra["thanks"] = True
    turn.say("report_pending", category=turn.services.category_name(turn.slots.get("category")), confirm=True,
             buttons=turn.buttons(*SUMMARY_OPTIONS), **extra)


#: What to fix, typed rather than picked ("ubicación" at the summary, "corregir" at the fix menu).
FIX_WORDS = {
    "corregir": "fix", "corrige": "fix", "editar": "fix", "cambiar": "fix", "modificar": "fix",
    "ubicacion": "fix:location", "la ubicacion": "fix:location", "direccion": "fix:location",
    "la direccion": "fix:location", "lugar": "fix:location", "el lugar": "fix:location",
    "corregir ubicacion": "fix:location", "corregir direccion": "fix:location", "cambiar direccion": "fix:location",
    "tipo": "fix:category", "el tipo": "fix:category", "tipo de problema": "fix:category",
    "categoria": "fix:category", "problema": "fix:category", "el problema": "fix:category",
    "descripcion": "fix:description", "la descripcion": "fix:description", "detalle": "fix:description",
    "el detalle": "fix:description", "foto": "fix:photo", "la foto": "fix:photo",
}


def _typed_fix(turn: Turn) -> None:
    """A fix option typed in words counts as picked (SMS citizens type; a label may not be the one offered)."""
    if turn.choice is None and turn.text:
        choice = FIX_WORDS.get(turn.folded)
        if choice == "fix:photo" and turn.channel == "sms":
            choice = None
        if choice:
            turn.choice = choice


def _step_confirm(turn: Turn, *, at_fix: bool = False) -> bool:
    _typed_fix(turn)
    if turn.choice and turn.choice.startswith("fix:"):
        return _step_fix(turn)
    if turn.photos or turn.inbound.location:
        absorb(turn, replace_location=True)
        ask_next(turn)
        return True
    if turn.choice is None and turn.text and _summary_words(turn, at_fix=at_fix):
        return True
    if is_yes(turn) or (turn.choice is None and report_words.says_send(turn.folded)):
        _submit(turn)  # also "bueno no, siempre sí, mándalo xfa", "ntp, mándalo", "noo q lo mandes!!"
        return True
    if turn.choice is None and turn.text and report_words.is_question(turn.text, turn.folded):
        _summary_question(turn)
        return True
    if is_no(turn) or turn.choice == "fix" or (turn.choice is None and report_words.has_second_thoughts(turn.folded)):
        turn.conv.step = "fix"  # "mejor no, ya le pusieron una tabla": the options, Cancelar among them
        ask_fix(turn)
        return True
    if turn.choice is None and is_short(turn) and intent(turn) in ("greet", "thanks"):
        # "hola" / "gracias" at the summary: answered and asked again in one line, not "no te entendí" + the
        # summary (a thank-you does not send the report: the citizen may still want to correct it).
        _ask_to_send(turn, greeting=intent(turn) == "greet", thanks=intent(turn) == "thanks")
        return True
    misunderstood(turn)
    return True


def _asks_about_this_report(turn: Turn) -> bool:
    """A question on when the crew comes, with no folio, from a citizen with no open report: about the draft."""
    if FOLIO_LIKE.search(turn.text) or not report_words.asks_when(turn.folded):
        return False
    return not turn.tickets().open_tickets_for(turn.citizen.id)


def _summary_question(turn: Turn) -> None:
    """ "¿y cuánto se tardan?" at the summary: the category's committed time (catalog), then the summary again."""
    _answer_briefly(turn, ask_place=False)
    summary(turn)


def _answer_briefly(turn: Turn, *, ask_place: bool) -> None:
    """A question in the middle of a report: when (the category's committed time), cost, or "en cuanto registre tu
    reporte"; ``ask_place``: the place question follows."""
    category = turn.services.catalog.categories.get(turn.slots.get("category") or "")
    when = report_words.asks_when(turn.folded)
    kind = "when" if when else "cost" if report_words.asks_cost(turn.folded) else "question"
    turn.say("report_place_aside", kind=kind, sla=category.sla_text() if category and when else None,
             ask_place=ask_place)


#: "ya lo había reportado", "ya está reportado", "ya lo reporté": the citizen reported this before.
_REPORTED_BEFORE = re.compile(r"\bya\s+(?:lo|la|los|las)\s+(?:habia\s+|habiamos\s+|he\s+|hemos\s+)?report\w*|"
                              r"\bya\s+(?:esta|estaba)\s+reportad\w*|\bya\s+(?:habia|hice|habiamos)\s+(?:un\s+)?report\w*")


def _summary_words(turn: Turn, *, at_fix: bool = False) -> bool:
    """Words at the summary besides yes / no: a corrected house number ("sí, pero es el 45, no el 54"), a new place
    or category, a yes with a correction the bot cannot read (the fix menu, never sent as it is), the place again,
    "no tengo foto", "ya lo había reportado". True when taken."""
    s = turn.slots
    if _number_corrected(turn) or _replaced_place_or_category(turn, replace_place=at_fix):
        return True
    folded = turn.folded
    if report_words.yes_but(folded):
        turn.conv.step = "fix"
        ask_fix(turn)
        return True
    if _repeats_the_report(turn, place_only=True) and not is_yes(turn) and not is_no(turn):
        turn.say("report_place_aside", kind="known", place=turn.place(address_text(s), s.get("landmark"), s.get("lat")))
        summary(turn)
        return True
    if report_words.declines_photo(folded):
        if not s.get("photos"):
            s["photo_state"] = "declined"
        turn.say("report_place_aside", kind="no_photo", ask_place=False)
        _ask_to_send(turn)
        return True
    if _REPORTED_BEFORE.search(folded):
        _already_reported(turn)
        return True
    return False


def _already_reported(turn: Turn) -> None:
    """ "no eso no es, ya lo había reportado": the citizen's open report of this kind (else the newest open one) is
    shown, with "Cancelar este" and "Sí, enviar"."""
    s = turn.slots
    tickets = turn.tickets().open_tickets_for(turn.citizen.id)
    ticket = next((t for t in tickets if t.category_code == s.get("category")), tickets[0] if tickets else None)
    buttons = turn.buttons(("cancel", "cancel_this"), ("yes", "confirm"))
    if ticket is None:
        turn.say("report_already_reported", folio=None, buttons=buttons)
        return
    turn.say("report_already_reported", folio=ticket.folio, category=turn.services.category_name(ticket.category_code),
             status=turn.services.status_words(turn.channel, ticket.status), buttons=buttons)


def _step_fix(turn: Turn) -> bool:
    s = turn.slots
    _typed_fix(turn)
    choice = turn.choice
    if choice == "fix":  # "corregir" again at the fix menu: the menu again, not "no te entendí"
        ask_fix(turn)
        return True
    if choice == "fix:category":
        s.update(category=None, candidates=[], photo_state=None)
        turn.conv.step = "category"
        ask_category(turn, all_categories=True)
        return True
    if choice == "fix:location":
        s.update(address=None, landmark=None, colonia=None, lat=None, lon=None, location_ok=False,
                 location_followup=False, same_place_folio=None)
        ask_next(turn)
        return True
    if choice == "fix:photo":
        s.update(photos=[], photo_state="asked")
        turn.conv.step = "photo"
        ask_photo(turn)
        return True
    if choice == "fix:description":
        s.update(description="", description_asked=True)
        turn.conv.step = "description"
        ask_description(turn)
        return True
    # Free text: a correction ("es en la calle Hidalgo", "es una fuga") or a yes after all.
    turn.conv.step = "confirm"
    return _step_confirm(turn, at_fix=True)


def _submit(turn: Turn) -> None:
    """Confirmed: offer an open report of the same category at the same place first (near the pin, or written the
    same way when there is no pin); else create the ticket."""
    s = turn.slots
    if not s.get("duplicate_declined"):
        simulated = is_simulated(turn.inbound.channel)
        svc = turn.tickets()
        found: list[tuple[Ticket, float | None]] = []
        if s.get("lat") is not None:
            found = list(svc.find_duplicates(s["category"], s["lat"], s["lon"], limit=DUPLICATE_LOOKUP))
        elif place := " ".join(p for p in (address_text(s), s.get("landmark")) if p):
            found = [(ticket, None) for ticket in svc.find_written_duplicates(s["category"], place,
                                                                             limit=DUPLICATE_LOOKUP)]
        found = [(t, m) for t, m in found if is_simulated(t.channel) == simulated]  # simulator and real never mix
        if found:
            ticket, metres = found[0]
            s["duplicate_folio"] = ticket.folio
            turn.conv.step = "duplicate"
            turn.say("report_duplicate", folio=ticket.folio,
                     distance=distance_text(metres) if metres is not None else None,
                     status=turn.services.status_words(turn.channel, ticket.status),
                     category=turn.services.category_name(ticket.category_code),
                     buttons=turn.buttons(("yes", "duplicate_follow"), ("no", "duplicate_new")))
            return
    _create(turn)


def _step_duplicate(turn: Turn) -> bool:
    s = turn.slots
    if is_yes(turn):
        svc = turn.tickets()
        ticket = svc.get(s["duplicate_folio"])
        svc.subscribe(ticket, turn.identity, actor=turn.actor)
        for attachment_id in s.get("photos") or []:
            svc.attach(ticket, attachment_id, actor=turn.actor, kind="photo")
        done = dict(s)
        turn.end_flow()
        turn.say("report_subscribed", folio=ticket.folio,
                 status=turn.services.status_words(turn.channel, ticket.status), due=turn.due_text(ticket))
        _next_queued(turn, done)
        return True
    if is_no(turn):
        s["duplicate_declined"] = True
        _create(turn)
        return True
    misunderstood(turn)
    return True


def _create(turn: Turn) -> None:
    s = turn.slots
    category = turn.services.catalog.category(s["category"])
    description = (s.get("description") or "").strip() or category.name
    cue = urgent_cue(category, description)
    ticket = turn.tickets().create(
        category=category.code,
        description=description,
        channel=turn.inbound.channel,  # a simulator conversation's ticket stays a simulator ticket
        actor=turn.actor,
        lat=s.get("lat"),
        lon=s.get("lon"),
        address=address_text(s),
        landmark=s.get("landmark"),
        reporter_identity=turn.identity,
        attachment_ids=list(s.get("photos") or []),
        urgent=cue is not None,
    )
    done = dict(s)
    turn.end_flow()
    turn.say(
        "report_created",
        folio=ticket.folio,
        category=category.name,
        department=ticket.department.name,
        due=turn.due_text(ticket),
        urgent=category.urgent,
        urgent_words=cue,
        referral=category.referral.explanation if category.referral else None,
    )
    log.info("dialogue: conversation %s created ticket %s", turn.conv.id, ticket.folio)
    _next_queued(turn, done)


_STEPS = {
    "category": _step_category,
    "location": _step_location,
    "location_detail": _step_location_detail,
    "photo": _step_photo,
    "description": _step_description,
    "confirm": _step_confirm,
    "fix": _step_fix,
    "duplicate": _step_duplicate,
}
