"""The dialogue engine: one inbound message in, the replies out, conversation state saved in between.

``DialogueEngine.handle`` runs inside the caller's transaction (the inbound pipeline commits). It loads the
identity's ``Conversation`` row, decides what the message means in the current flow, fills slots, creates or
changes tickets through ``TicketService`` and returns ``OutboundMessage``s rendered from the es-MX templates for
the message's channel. Flows: first contact (privacy notice, tacit consent), opt-out/opt-in (STOP/BAJA/ALTO,
ALTA/START), report (category, location, photo, description, confirmation, duplicates), status, cancel / menu /
help, human handoff, the "¿Ya quedó?" survey answers and the "could not locate" location request (both started by
``dialogue.survey``).

Order of precedence for one message: opt-out → opted-out silence → handoff silence → first contact → idle
restart → unsupported media → escalation lexicon → cancel/menu/help → handoff request → the current flow's step
→ free intent (new report, status, greeting, ...). Odd input never raises: anything but a database error is
logged and answered with the ``error_generic`` template, and the turn's partial changes are rolled back to a
savepoint. Database errors propagate so the pipeline retries the message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from dialogue import state
from dialogue.escalation import EscalationLexicon
from dialogue.formatting import date_text, distance_text, shorten
from dialogue.render import Renderer, sms_segments, to_gsm7
from dialogue.text import (
    CANCEL_WORDS,
    HANDOFF_WORDS,
    HELP_WORDS,
    LAUGHTER,
    MENU_WORDS,
    NO_PHOTO_WORDS,
    NO_WORDS,
    OPT_IN_WORDS,
    OPT_OUT_WORDS,
    ORDINALS,
    SKIP_WORDS,
    UNSURE_WORDS,
    YES_WORDS,
    fold,
    is_correction,
    option_index,
    starts_with_one_of,
)
from nlu.api import FALLBACK_INTENT, SERVICE_INTENTS, Parse, Parser
from reporta.messages import Button, InboundMessage, OutboundMessage
from reporta.settings import Settings
from ticketing.catalog import Catalog
from ticketing.citizens import record_consent, record_opt_out
from ticketing.errors import TicketError, TicketNotFound
from ticketing.folio import normalise_folio
from ticketing.models import (
    ChannelIdentity,
    Citizen,
    Conversation,
    ConversationMode,
    Message,
    Ticket,
    TicketStatus,
    utcnow,
)
from ticketing.service import TicketListener, TicketService

log = logging.getLogger("reporta.dialogue")

#: Something typed like a folio (8 digits, maybe split 4-4): checked with the Damm digit before use.
FOLIO_LIKE = re.compile(r"(?<!\d)\d{4}[\s\-.]?\d{4}(?!\d)")

#: Characters of a message the NLU sees (the whole text is still kept as the report's description).
NLU_MAX_CHARS = 1000
#: Characters of the citizen's description kept on a ticket (a 5,000-character rant is kept whole up to this).
DESCRIPTION_MAX_CHARS = 4000
#: Media kinds the bot can use; everything else gets the ``media_unsupported`` reply.
USABLE_MEDIA = frozenset({"photo"})
#: Flows started by a proactive message: they wait for the survey timeout, not the idle restart.
PROACTIVE_FLOWS = frozenset({"survey", "relocate"})
#: How many consecutive misunderstood messages send the conversation to a person.
MISUNDERSTOOD_LIMIT = 2
#: Below this, the NLU's best service category is not offered as a candidate.
CANDIDATE_MIN_CONFIDENCE = 0.12
#: A category understood below this, with another category close behind, is confirmed with numbered options.
SURE_CONFIDENCE = 0.6
MAX_CANDIDATES = 3
#: Word beginnings of "I want to report something" when the NLU reads it as help or out of scope.
REPORT_WORDS = ("report", "queja", "denunci")
MAX_LISTED_TICKETS = 5


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

#: A landmark phrase ("frente al oxxo", "a un lado de la primaria"), used when the NLU found a street but no
#: landmark: the citizen's reference must not be lost from the report.
_LANDMARK_START = re.compile(
    r"\b(?:(?:justo\s+|casi\s+)?(?:en\s*frente|frente)\s+(?:a|al|de|del)"
    r"|(?:a\s+un|al|a)\s+(?:lado|costado)\s+(?:de|del)|junto\s+(?:a|al|de|del)|a\s+la\s+altura\s+(?:de|del)"
    r"|(?:atr[aá]s|detr[aá]s|cerca|enseguida|afuera|fuera|a\s+espaldas)\s+(?:de|del|al))\s+\S",
    re.IGNORECASE,
)
_LANDMARK_TAIL = re.compile(r"(?:\s+(?:de|del|en|la|el|los|las|sobre|por|y|calle|av|avenida|col|colonia))+\s*$",
                            re.IGNORECASE)
_LANDMARK_STOP = re.compile(r"[,.;:!?\n]")
LANDMARK_MAX_CHARS = 80


def clean_text(text: str | None) -> str:
    """The citizen's text without control characters (PostgreSQL refuses NUL in text columns)."""
    return _CONTROL.sub("", text or "").strip()


def _landmark_phrase(text: str, entity_starts: Sequence[int]) -> str | None:
    """ "frente al oxxo" out of "frente al oxxo de la calle morelos 120": up to the next place entity or comma."""
    m = _LANDMARK_START.search(text)
    if m is None:
        return None
    start = m.start()
    end = min([len(text), start + LANDMARK_MAX_CHARS, *(s for s in entity_starts if s > start)])
    stop = _LANDMARK_STOP.search(text, m.end() - 1, end)
    if stop:
        end = stop.start()
    phrase = _LANDMARK_TAIL.sub("", text[start:end]).strip()
    return phrase if len(phrase) > m.end() - 1 - start else None


@dataclass
class Turn:
    """Everything about the message being handled, and the replies collected so far."""

    session: Session
    conv: Conversation
    identity: ChannelIdentity
    citizen: Citizen
    inbound: InboundMessage
    message: Message | None
    now: datetime
    text: str
    slots: dict[str, Any]
    replies: list[OutboundMessage] = field(default_factory=list)
    offered: list[list[str]] | None = None
    misunderstood: bool = False
    choice: str | None = None  # payload of the option the citizen picked, if any
    parse_cache: Parse | None = None

    @property
    def channel(self) -> str:
        return self.inbound.channel

    @property
    def folded(self) -> str:
        return fold(self.text)

    @property
    def photos(self) -> list[int]:
        # Any stored attachment is an image the pipeline accepted (WhatsApp may send a photo as a document).
        return [m.attachment_id for m in self.inbound.media if m.attachment_id is not None]

    @property
    def rejected_photos(self) -> list[str]:
        return [m.content_type or "" for m in self.inbound.media if m.kind == "photo" and m.attachment_id is None]

    @property
    def unsupported_kinds(self) -> list[str]:
        kinds = [m.kind for m in self.inbound.media if m.kind not in USABLE_MEDIA and m.attachment_id is None]
        if not kinds and self.inbound.raw_kind not in ("text", "location", "photo") and not self.inbound.media:
            kinds = [self.inbound.raw_kind]
        return kinds

    @property
    def actor(self) -> str:
        return f"citizen:{self.citizen.id}"


class DialogueEngine:
    """Turns one inbound message into replies; stateless itself (state lives in ``conversations``)."""

    def __init__(
        self,
        *,
        settings: Settings,
        catalog: Catalog,
        parser: Parser,
        renderer: Renderer,
        listeners: Sequence[TicketListener] = (),
        escalation: EscalationLexicon | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.parser = parser
        self.renderer = renderer
        self.listeners = tuple(listeners)
        self.escalation = escalation or EscalationLexicon.load(settings.data_dir / "dialogue" / "escalation.yml")

    # --- entry point ------------------------------------------------------------------------------

    def handle(
        self, session: Session, message: Message | None, inbound: InboundMessage, identity: ChannelIdentity
    ) -> list[OutboundMessage]:
        """Handle one inbound message in the caller's transaction; return the replies to send (maybe none)."""
        conv = state.load_conversation(session, identity)
        if message is not None:
            message.conversation_id = conv.id
        now = inbound.received_at or utcnow()
        if now.tzinfo is None:
            now = now.replace(tzinfo=utcnow().tzinfo)
        turn = Turn(
            session=session, conv=conv, identity=identity, citizen=identity.citizen, inbound=inbound,
            message=message, now=now, text=clean_text(inbound.text), slots=state.slots(conv),
        )
        try:
            with session.begin_nested():
                silent = self._dispatch(turn)
                if not silent:
                    self._finish(turn)
        except SQLAlchemyError:
            raise
        except Exception:
            log.exception("dialogue: conversation %s failed on message %s; answered with error_generic",
                          conv.id, getattr(message, "id", None))
            turn.replies = []
            turn.offered = None
            self._say(turn, "error_generic")
            silent = False
        if not silent:
            state.touch(conv, now)
        log.info("dialogue: conversation %s flow=%s step=%s mode=%s replies=%d", conv.id, conv.flow, conv.step,
                 getattr(conv.mode, "value", conv.mode), len(turn.replies))
        return turn.replies

    def _finish(self, turn: Turn) -> None:
        """Save slots, offered options and the misunderstanding counter on the conversation."""
        conv = turn.conv
        if turn.misunderstood:
            conv.misunderstood_count = (conv.misunderstood_count or 0) + 1
        elif conv.mode == ConversationMode.BOT:
            conv.misunderstood_count = 0
        values = dict(turn.slots)
        values["options"] = turn.offered or []
        if conv.flow is None:
            values = {"options": values["options"]}
        state.set_slots(conv, values)

    # --- replies ----------------------------------------------------------------------------------

    def _context(self) -> dict[str, Any]:
        return {
            "municipality": self.settings.municipality_name,
            "privacy_url": self.settings.privacy_notice_url,
        }

    def _say(
        self, turn: Turn, name: str, *, buttons: Sequence[Button] = (), request_location: bool = False, **ctx: Any
    ) -> None:
        text = self.renderer.render(name, turn.channel, **{**self._context(), **ctx})
        if turn.channel == "sms":  # titles from the catalog too: numbered options must stay GSM-7
            buttons = [Button(to_gsm7(b.title), b.payload) for b in buttons]
        turn.replies.append(
            OutboundMessage(
                channel=turn.channel,
                external_id=turn.inbound.external_id,
                text=text,
                buttons=tuple(buttons),
                request_location=request_location,
            )
        )
        if buttons:
            turn.offered = [[b.payload, b.title] for b in buttons]

    def label(self, turn: Turn, name: str, **ctx: Any) -> str:
        return self.renderer.label(name, turn.channel, **ctx)

    def _buttons(self, turn: Turn, *pairs: tuple[str, str]) -> list[Button]:
        """Buttons from (payload, label name) pairs; titles come from the ``labels`` template."""
        return [Button(self.label(turn, name), payload) for payload, name in pairs]

    def _menu_buttons(self, turn: Turn) -> list[Button]:
        return self._buttons(turn, ("menu:report", "menu_report"), ("menu:status", "menu_status"),
                             ("menu:handoff", "menu_handoff"))

    def _yes_no(self, turn: Turn, yes: str = "yes", no: str = "no") -> list[Button]:
        return self._buttons(turn, ("yes", yes), ("no", no))

    # --- understanding ----------------------------------------------------------------------------

    def parse(self, turn: Turn) -> Parse:
        """The NLU's reading of the text (cached per turn); a parser failure reads as "not understood"."""
        if turn.parse_cache is None:
            text = turn.text[:NLU_MAX_CHARS]
            if not text:
                turn.parse_cache = Parse(text="", intent=FALLBACK_INTENT, confidence=0.0, ranking=[], entities=[],
                                         understood=False)
            else:
                try:
                    turn.parse_cache = self.parser.parse(text)
                except Exception:
                    log.exception("dialogue: the NLU failed; treating the message as not understood")
                    turn.parse_cache = Parse(text=text, intent=FALLBACK_INTENT, confidence=0.0, ranking=[],
                                             entities=[], understood=False)
        return turn.parse_cache

    def _intent(self, turn: Turn) -> str | None:
        parse = self.parse(turn)
        return parse.intent if parse.understood else None

    def _short(self, turn: Turn, max_words: int = 5) -> bool:
        return 0 < len(turn.folded.split()) <= max_words

    def _is_yes(self, turn: Turn) -> bool:
        if turn.choice is not None:
            return turn.choice == "yes"
        if starts_with_one_of(turn.text, YES_WORDS) and not starts_with_one_of(turn.text, NO_WORDS):
            return True
        return self._short(turn) and self._intent(turn) == "affirm"

    def _is_no(self, turn: Turn) -> bool:
        if turn.choice is not None:
            return turn.choice == "no"
        if starts_with_one_of(turn.text, NO_WORDS):
            return True
        return self._short(turn) and self._intent(turn) == "deny"

    def _folio_in(self, turn: Turn) -> str | None:
        for entity in self.parse(turn).entities:
            if entity.type == "folio":
                folio = normalise_folio(entity.value)
                if folio:
                    return folio
        return normalise_folio(turn.text) if turn.text else None

    def _location_parts(self, turn: Turn) -> dict[str, Any]:
        """What the NLU found about a place: address, colonia, landmark and whether it is precise."""
        found: dict[str, str] = {}
        starts: list[int] = []
        for entity in self.parse(turn).entities:
            if entity.type in ("address", "street", "number", "cross_street", "colonia", "landmark"):
                found.setdefault(entity.type, entity.value.strip())
                starts.append(entity.start)
        if found and not found.get("landmark"):
            landmark = _landmark_phrase(turn.text[:NLU_MAX_CHARS], starts)
            if landmark:
                found["landmark"] = landmark
        address = found.get("address")
        if not address and found.get("street"):
            address = found["street"] + (f" {found['number']}" if found.get("number") else "")
        if found.get("cross_street") and (not address or fold(found["cross_street"]) not in fold(address)):
            address = f"{address} esquina con {found['cross_street']}" if address else found["cross_street"]
        precise = bool(address or found.get("number") or found.get("landmark"))
        colonia = found.get("colonia")
        if colonia and not fold(colonia).startswith(("col", "fracc", "barrio", "sector", "unidad", "residencial")):
            colonia = f"col. {colonia}"
        return {"address": address, "colonia": colonia, "landmark": found.get("landmark"),
                "precise": precise, "any": bool(found)}

    # --- the decision tree ------------------------------------------------------------------------

    def _dispatch(self, turn: Turn) -> bool:
        """Decide and reply; returns True when the bot must stay silent (nothing saved, nothing touched)."""
        conv, citizen, folded = turn.conv, turn.citizen, turn.folded

        if folded in OPT_OUT_WORDS:
            record_opt_out(citizen, turn.now)
            state.reset(conv)
            conv.mode = ConversationMode.BOT
            self._say(turn, "opted_out")
            log.info("dialogue: citizen %s opted out", citizen.id)
            return False
        if citizen.opted_out_at is None and folded in OPT_IN_WORDS and citizen.consent_at is not None:
            self._say(turn, "opted_in")
            return False
        if citizen.opted_out_at is not None:
            if folded in OPT_IN_WORDS:
                record_consent(citizen, turn.now)
                state.reset(conv)
                self._say(turn, "opted_in")
                self._say(turn, "menu", buttons=self._menu_buttons(turn))
                return False
            return True  # opted out: the bot answers only ALTA / START
        if conv.mode == ConversationMode.HANDOFF:
            return True  # staff answer; the message is in the log for them

        first_contact = citizen.consent_at is None
        if first_contact:
            # Tacit consent (LFPDPPP art. 8): the notice is shown before anything is kept beyond this message,
            # and STOP/BAJA withdraws it at any time.
            record_consent(citizen, turn.now)
            self._say(turn, "welcome")
        elif conv.flow and self._idle(turn):
            log.info("dialogue: conversation %s idle, restarting", conv.id)
            state.reset(conv)
            turn.slots = {}
            self._say(turn, "idle_restart")

        offered = turn.slots.get("options") or []
        index = option_index(turn.text, turn.inbound.button_payload, offered)
        if index is not None:
            turn.choice = offered[index][0]
        elif turn.inbound.button_payload:
            turn.choice = turn.inbound.button_payload  # a button from an older message

        has_content = bool(turn.text or turn.inbound.location or turn.photos)
        if turn.unsupported_kinds:
            self._say(turn, "media_unsupported", kind=turn.unsupported_kinds[0])
            if not has_content:
                self._reprompt(turn)
                return False
        if turn.rejected_photos and not turn.photos:
            self._say(turn, "media_rejected", too_big=any(True for m in turn.inbound.media
                                                          if m.kind == "photo" and m.size_bytes
                                                          and m.size_bytes > self.settings.max_media_bytes),
                      max_mb=int(self.settings.max_media_bytes // (1024 * 1024)))
            if not (turn.text or turn.inbound.location):
                self._reprompt(turn)
                return False
        if not has_content and not turn.choice:
            if first_contact:
                self._say(turn, "menu", buttons=self._menu_buttons(turn))
            else:
                self._reprompt(turn, fallback_menu=True)
            return False

        escalation = self.escalation.classify(turn.text)
        if escalation:
            self._start_handoff(turn, escalation)
            return False

        if turn.choice in ("menu:cancel", "cancel") or (turn.choice is None and folded in CANCEL_WORDS):
            self._cancel(turn)
            return False
        if turn.choice is None and folded in MENU_WORDS:
            dropped_report = conv.flow == "report"
            state.reset(conv)
            self._say(turn, "menu", buttons=self._menu_buttons(turn), dropped_report=dropped_report)
            return False
        if turn.choice is None and folded in HELP_WORDS:  # exact words only: "no tengo foto" is not a command
            self._say(turn, "help")
            self._reprompt(turn)
            return False
        if turn.choice == "menu:handoff" or (turn.choice is None and self._wants_person(turn)):
            self._start_handoff(turn, "requested")
            return False

        if conv.flow and self._continue_flow(turn):
            return False
        if conv.flow:
            state.reset(conv)
            turn.slots = {}
        self._free(turn, first_contact)
        return False

    def _idle(self, turn: Turn) -> bool:
        last = turn.conv.last_activity_at
        if last is None:
            return False
        hours = (self.settings.survey_timeout_hours if turn.conv.flow in PROACTIVE_FLOWS
                 else self.settings.conversation_idle_hours)
        return turn.now - last > timedelta(hours=hours)

    def _wants_person(self, turn: Turn) -> bool:
        if turn.folded in HANDOFF_WORDS:
            return True
        return self._intent(turn) == "human_handoff"

    def _reprompt(self, turn: Turn, *, fallback_menu: bool = False) -> None:
        """Ask again what the current step is waiting for (after help, an unusable photo, a sticker...)."""
        flow = turn.conv.flow
        if flow == "report":
            self._report_reask(turn)
        elif flow == "survey":
            self._survey_question(turn)
        elif flow == "relocate":
            self._say(turn, "relocate_ask", folio=turn.slots.get("folio"), request_location=True)
        elif flow == "status":
            self._say(turn, "lookup_ask_folio")
        elif fallback_menu:
            self._say(turn, "menu", buttons=self._menu_buttons(turn))

    def _cancel(self, turn: Turn) -> None:
        had_flow = turn.conv.flow in ("report", "status", "relocate", "survey")
        was_report = turn.conv.flow == "report"
        state.reset(turn.conv)
        turn.slots = {}
        self._say(turn, "cancelled", had_flow=had_flow, was_report=was_report)
        self._say(turn, "menu", buttons=self._menu_buttons(turn))

    def _misunderstood(self, turn: Turn) -> None:
        """Not understood in a step: count it; the second in a row goes to a person, else ask again."""
        if (turn.conv.misunderstood_count or 0) + 1 >= MISUNDERSTOOD_LIMIT:
            self._start_handoff(turn, "not_understood")
            return
        turn.misunderstood = True
        self._say(turn, "not_understood_step")
        self._reprompt(turn)

    # --- free intent (no flow waiting for an answer) -----------------------------------------------

    def _free(self, turn: Turn, first_contact: bool) -> None:
        choice = turn.choice
        if choice == "menu:report":
            self._start_report(turn, category=None, description="")
            return
        if choice == "menu:status":
            self._status(turn, None)
            return
        folio = self._folio_in(turn) if turn.text else None
        intent = self._intent(turn)
        if folio is None and FOLIO_LIKE.search(turn.text):
            state.start_flow(turn.conv, "status", "folio")
            turn.slots = {}
            self._say(turn, "lookup_bad_folio", typed=FOLIO_LIKE.search(turn.text).group(0))
            return
        if folio or intent == "check_status":
            self._status(turn, folio)
            return
        parse = self.parse(turn)
        candidates = self._candidates(parse)
        if intent in SERVICE_INTENTS:
            unsure = parse.confidence < SURE_CONFIDENCE and len(candidates) >= 2
            self._start_report(turn, category=None if unsure else intent, description=turn.text,
                               candidates=candidates if unsure else ())
            return
        if turn.photos or turn.inbound.location:
            self._start_report(turn, category=None, description=turn.text if candidates else "",
                               candidates=candidates)
            return
        if intent == "greet" or (first_contact and intent is None and not candidates):
            self._say(turn, "menu", buttons=self._menu_buttons(turn), greeting=not first_contact)
            return
        if intent in ("thanks", "goodbye"):
            self._say(turn, "farewell", thanks=intent == "thanks")
            return
        if intent in ("affirm", "deny", "cancel"):
            self._say(turn, "menu", buttons=self._menu_buttons(turn))
            return
        if not candidates and any(word.startswith(REPORT_WORDS) for word in turn.folded.split()):
            self._start_report(turn, category=None, description="")  # "quiero reportar algo", "tengo una queja"
            return
        if intent == "help":
            self._say(turn, "help")
            return
        if intent == "out_of_scope":
            self._say(turn, "out_of_scope")
            self._say(turn, "menu", buttons=self._menu_buttons(turn))
            return
        if candidates:
            self._start_report(turn, category=None, description=turn.text, candidates=candidates)
            return
        if (turn.conv.misunderstood_count or 0) + 1 >= MISUNDERSTOOD_LIMIT:
            self._start_handoff(turn, "not_understood")
            return
        turn.misunderstood = True
        self._say(turn, "not_understood", buttons=self._menu_buttons(turn))

    def _candidates(self, parse: Parse) -> list[str]:
        found = [name for name, conf in parse.ranking if name in SERVICE_INTENTS
                 and conf >= CANDIDATE_MIN_CONFIDENCE and name in self.catalog.categories]
        if not parse.ranking or parse.ranking[0][0] not in SERVICE_INTENTS:
            return []
        return found[:MAX_CANDIDATES]

    def _continue_flow(self, turn: Turn) -> bool:
        """Let the current flow take the message; False when the message is not an answer to it."""
        flow = turn.conv.flow
        if flow == "report":
            return self._report_step(turn)
        if flow == "status":
            return self._status_step(turn)
        if flow == "survey":
            return self._survey_step(turn)
        if flow == "relocate":
            return self._relocate_step(turn)
        return False

    # --- handoff ----------------------------------------------------------------------------------

    def _start_handoff(self, turn: Turn, reason: str) -> None:
        conv = turn.conv
        unsent_report = conv.flow == "report"  # the draft is not kept: say so rather than lose it silently
        state.reset(conv)
        turn.slots = {}
        conv.mode = ConversationMode.HANDOFF
        conv.handoff_reason = reason
        conv.handoff_requested_at = turn.now
        conv.handoff_staff_id = None
        turn.misunderstood = False
        self._say(turn, "handoff_started", reason=reason, unsent_report=unsent_report)
        log.info("dialogue: conversation %s handed to staff (%s)", conv.id, reason)

    # --- report flow ------------------------------------------------------------------------------

    def _start_report(self, turn: Turn, *, category: str | None, description: str,
                      candidates: Sequence[str] = ()) -> None:
        state.start_flow(turn.conv, "report", None)
        turn.slots = {
            "category": category if category in self.catalog.categories else None,
            "candidates": [c for c in candidates if c in self.catalog.categories],
            "description": (description or "")[:DESCRIPTION_MAX_CHARS],
            "photos": [],
        }
        self._absorb(turn, replace_location=False)
        self._report_next(turn)

    def _absorb(self, turn: Turn, *, replace_location: bool, raw_text_as_location: bool = False) -> bool:
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
                s.update(address=None, landmark=None, colonia=None)
            s["lat"], s["lon"] = location.lat, location.lon
            if location.address and not s.get("landmark"):
                s["landmark"] = location.address[:300]
            s["location_ok"] = True
            took = True
        elif turn.text:
            parts = self._location_parts(turn)
            if parts["any"]:
                if replace_location:
                    s.update(address=None, landmark=None, colonia=None, lat=None, lon=None, location_ok=False)
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

    def _has_location(self, s: dict[str, Any]) -> bool:
        return s.get("lat") is not None or bool(s.get("address") or s.get("landmark") or s.get("colonia"))

    def _photo_policy(self, turn: Turn) -> str:
        category = self.catalog.categories.get(turn.slots.get("category") or "")
        if category is None or turn.channel == "sms":
            return "never"
        return category.photo

    def _report_next(self, turn: Turn) -> None:
        """Ask for the first missing slot, or show the summary when nothing is missing."""
        s, conv = turn.slots, turn.conv
        if not s.get("category"):
            conv.step = "category"
            self._ask_category(turn)
            return
        if not self._has_location(s):
            conv.step = "location"
            self._say(turn, "report_ask_location", category=self._category_name(s["category"]),
                      can_pin=turn.channel != "sms", request_location=turn.channel == "telegram")
            return
        if not s.get("location_ok") and not s.get("location_followup"):
            conv.step = "location_detail"
            s["location_followup"] = True
            place = self._place(turn.channel, s.get("address") or s.get("colonia"), s.get("landmark"), None)
            self._say(turn, "report_ask_location_detail", place=place,
                      request_location=turn.channel == "telegram")
            return
        policy = self._photo_policy(turn)
        if policy != "never" and not s.get("photos") and s.get("photo_state") not in ("declined",):
            if s.get("photo_state") is None:
                s["photo_state"] = "asked"
                conv.step = "photo"
                self._say(turn, "report_ask_photo", required=policy == "required",
                          buttons=self._buttons(turn, ("no_photo", "no_photo")))
                return
            if conv.step == "photo":
                self._say(turn, "report_ask_photo", required=policy == "required", again=True,
                          buttons=self._buttons(turn, ("no_photo", "no_photo")))
                return
        if not s.get("description") and not s.get("description_asked"):
            s["description_asked"] = True
            conv.step = "description"
            self._say(turn, "report_ask_description", category=self._category_name(s["category"]),
                      buttons=self._buttons(turn, ("skip", "skip")))
            return
        conv.step = "confirm"
        self._summary(turn)

    def _status_words(self, channel: str | None, status: TicketStatus | str) -> str:
        return self.renderer.label(f"status_{TicketStatus(status).value}", channel)

    def _place(self, channel: str | None, address: str | None, landmark: str | None, lat: float | None) -> str:
        """The place as the citizen reads it: written address and landmark, else "the pin you sent"."""
        parts = [p for p in (address, landmark) if p]
        if parts:
            return ", ".join(parts)
        return self.renderer.label("place_pin" if lat is not None else "place_none", channel)

    def _category_name(self, code: str | None) -> str:
        category = self.catalog.categories.get(code or "")
        return category.name if category else ""

    def _ask_category(self, turn: Turn, *, all_categories: bool = False) -> None:
        candidates = [] if all_categories else list(turn.slots.get("candidates") or [])
        if candidates:
            buttons = [Button(self._category_name(c), f"cat:{c}") for c in candidates]
            buttons.append(Button(self.label(turn, "other"), "cat:other"))
            self._say(turn, "report_ask_category", candidates=True, buttons=buttons)
        else:
            buttons = [Button(c.name, f"cat:{code}") for code, c in self.catalog.categories.items()]
            self._say(turn, "report_ask_category", candidates=False, buttons=buttons)
        turn.slots["category_all"] = not candidates

    def _summary(self, turn: Turn) -> None:
        s = turn.slots
        buttons = self._buttons(turn, ("yes", "confirm"), ("fix", "fix"), ("cancel", "cancel"))
        context = {
            "category": self._category_name(s["category"]),
            "place": self._place(turn.channel, self._address_text(s), s.get("landmark"), s.get("lat")),
            "has_pin": s.get("lat") is not None and bool(self._address_text(s) or s.get("landmark")),
            "photos": len(s.get("photos") or []),
        }
        description = shorten(s.get("description"), 200)
        if turn.channel == "sms":
            # One segment when possible: the citizen's words are echoed shorter (or not at all) before the place.
            options = sum(len(f"{i}. {b.title}") + 1 for i, b in enumerate(buttons, start=1)) + 1
            for size in (60, 40, 0):
                description = shorten(s.get("description"), size) if size else None
                text = self.renderer.render("report_summary", "sms", **{**self._context(), **context},
                                            description=description)
                if sms_segments(text) == 1 and len(text) + options <= 160:
                    break
        self._say(turn, "report_summary", description=description, buttons=buttons, **context)

    @staticmethod
    def _address_text(s: dict[str, Any]) -> str | None:
        parts = [p for p in (s.get("address"), s.get("colonia")) if p]
        if len(parts) == 2 and fold(parts[1]) in fold(parts[0]):
            parts = parts[:1]
        return ", ".join(parts) or None

    def _report_step(self, turn: Turn) -> bool:
        step, s = turn.conv.step, turn.slots
        if turn.choice is None and turn.text and (FOLIO_LIKE.search(turn.text) or self._intent(turn) == "check_status"):
            return self._side_status(turn)  # answered; the unsent report is kept and recalled
        if step == "category":
            return self._step_category(turn)
        if step in ("location", "location_detail") and self._correction(turn):
            return True
        if step == "location":
            if turn.text and not turn.inbound.location and self._not_a_place(turn):
                self._absorb(turn, replace_location=False)  # a photo sent with "no sé" is kept
                if starts_with_one_of(turn.text, UNSURE_WORDS) or self._intent(turn) == "deny":
                    self._say(turn, "report_location_unsure", can_pin=turn.channel != "sms",
                              request_location=turn.channel == "telegram")
                else:
                    self._misunderstood(turn)
                return True
            self._absorb(turn, replace_location=False, raw_text_as_location=True)
            if not self._has_location(s):
                self._misunderstood(turn)
                return True
            self._report_next(turn)
            return True
        if step == "location_detail":
            before = self._address_text(s)
            if turn.text and self._not_a_place(turn):
                self._absorb(turn, replace_location=False)  # "no sé": we go on with what we have
            elif turn.text and not self._location_parts(turn)["any"]:
                s["address"] = ", ".join(p for p in (before, turn.text[:200]) if p)
                self._absorb(turn, replace_location=False)
            else:
                self._absorb(turn, replace_location=False)
            s["location_ok"] = True
            self._report_next(turn)
            return True
        if step == "photo":
            return self._step_photo(turn)
        if step == "description":
            self._absorb(turn, replace_location=False)
            if turn.text and turn.choice != "skip" and not starts_with_one_of(turn.text, SKIP_WORDS):
                s["description"] = turn.text[:DESCRIPTION_MAX_CHARS]
            self._report_next(turn)
            return True
        if step == "confirm":
            return self._step_confirm(turn)
        if step == "fix":
            return self._step_fix(turn)
        if step == "duplicate":
            return self._step_duplicate(turn)
        return False

    def _step_category(self, turn: Turn) -> bool:
        s = turn.slots
        if turn.choice == "cat:other":
            self._ask_category(turn, all_categories=True)
            return True
        if turn.choice and turn.choice.startswith("cat:") and turn.choice[4:] in self.catalog.categories:
            s["category"] = turn.choice[4:]
            self._absorb(turn, replace_location=False)
            self._report_next(turn)
            return True
        intent = self._intent(turn)
        took = self._absorb(turn, replace_location=False)
        if intent in SERVICE_INTENTS and intent in self.catalog.categories:
            s["category"] = intent
            if not s.get("description"):
                s["description"] = turn.text[:DESCRIPTION_MAX_CHARS]
            self._report_next(turn)
            return True
        if intent == "check_status" or self._folio_in(turn):
            return False  # a different request: handled as a fresh message
        if took and not turn.text:
            if turn.photos:
                self._say(turn, "report_photo_received", count=len(s.get("photos") or []))
            self._ask_category(turn, all_categories=bool(s.get("category_all")))
            return True
        if (turn.conv.misunderstood_count or 0) + 1 >= MISUNDERSTOOD_LIMIT:
            self._start_handoff(turn, "not_understood")
            return True
        turn.misunderstood = True
        self._say(turn, "not_understood_step")
        self._ask_category(turn, all_categories=True)
        return True

    def _step_photo(self, turn: Turn) -> bool:
        s = turn.slots
        if turn.photos:
            self._absorb(turn, replace_location=False)
            self._say(turn, "report_photo_received", count=len(s["photos"]))
            self._report_next(turn)
            return True
        if not turn.text and turn.choice is None:
            self._absorb(turn, replace_location=False)  # e.g. a pin while we wait for the photo
            self._report_next(turn)
            return True
        if self._correction(turn):
            return True
        declined = turn.choice == "no_photo" or (turn.choice is None and starts_with_one_of(turn.text, NO_PHOTO_WORDS))
        if not declined and (turn.choice == "yes" or (turn.choice is None and self._is_yes(turn))):
            # "Sí" to "¿Tienes una foto?": they have one; wait for it (never part of the description).
            self._say(turn, "report_photo_wait", buttons=self._buttons(turn, ("no_photo", "no_photo")))
            return True
        if not declined and turn.choice is None and self._short(turn, 4) and self._intent(turn) == "help":
            self._say(turn, "help")
            self._report_reask(turn)
            return True
        self._absorb(turn, replace_location=False)
        if self._photo_policy(turn) == "required" and s.get("photo_state") == "asked":
            s["photo_state"] = "reminded"
            self._say(turn, "report_photo_reminder", buttons=self._buttons(turn, ("no_photo", "no_photo")))
            return True
        if not declined and turn.choice is None and not self._control_word(turn) and not s.get("description_extra"):
            s["description_extra"] = True
            s["description"] = " ".join(p for p in (s.get("description"), turn.text[:1000]) if p)
        s["photo_state"] = "declined"
        self._report_next(turn)
        return True

    def _not_a_place(self, turn: Turn) -> bool:
        """ "no sé", "ok", "jajaja", "gracias", emojis: not a written place (no place words, no digit)."""
        if self._location_parts(turn)["any"] or any(ch.isdigit() for ch in turn.text):
            return False
        folded = turn.folded
        if not any(ch.isalpha() for ch in folded) or LAUGHTER.match(folded.replace(" ", "")):
            return True
        if starts_with_one_of(turn.text, UNSURE_WORDS):
            return True
        return self._control_word(turn) or (self._short(turn, 4) and self._intent(turn) in (
            "affirm", "deny", "thanks", "greet", "goodbye", "help"))

    def _control_word(self, turn: Turn) -> bool:
        """A short answer (sí, no, ok, 1, gracias...) that is never part of the citizen's description."""
        folded = turn.folded
        if not folded or folded.isdigit() or folded in ORDINALS:
            return True
        if folded in YES_WORDS or folded in NO_WORDS or folded in SKIP_WORDS or folded in UNSURE_WORDS:
            return True
        return self._short(turn, 3) and self._intent(turn) in (
            "affirm", "deny", "thanks", "greet", "goodbye", "cancel", "help")

    def _correction(self, turn: Turn) -> bool:
        """A correction in words before the summary ("no, es en la calle Hidalgo", "me equivoqué, es una fuga"):
        the new place replaces the old one, a different category replaces the category. True when taken."""
        if turn.choice is not None or not turn.text or not is_correction(turn.text):
            return False
        s = turn.slots
        if self._location_parts(turn)["any"]:
            self._absorb(turn, replace_location=True)
            s["location_followup"] = True
            self._report_next(turn)
            return True
        intent = self._intent(turn)
        if intent in SERVICE_INTENTS and intent != s.get("category") and intent in self.catalog.categories:
            self._change_category(turn, intent)
            self._report_next(turn)
            return True
        return False

    def _change_category(self, turn: Turn, code: str) -> None:
        """A new category; a declined photo is not asked again unless the new category requires one. The
        citizen's correction joins the description ("hay un bache. me equivoqué, es una fuga")."""
        s = turn.slots
        s["category"] = code
        if turn.text and turn.choice is None:
            before = (s.get("description") or "").rstrip()
            joiner = " " if not before or before[-1] in ".!?" else ". "
            s["description"] = (before + joiner + turn.text).strip()[:DESCRIPTION_MAX_CHARS]
        if s.get("photo_state") != "declined" or self._photo_policy(turn) == "required":
            s["photo_state"] = None

    def _report_reask(self, turn: Turn) -> None:
        """The pending question of the report again (after help, a side question, a sticker...)."""
        s = turn.slots
        if turn.conv.step == "location_detail":
            place = self._place(turn.channel, s.get("address") or s.get("colonia"), s.get("landmark"), None)
            self._say(turn, "report_ask_location_detail", place=place, request_location=turn.channel == "telegram")
            return
        if turn.conv.step == "description":
            self._say(turn, "report_ask_description", category=self._category_name(s.get("category")),
                      buttons=self._buttons(turn, ("skip", "skip")))
            return
        if turn.conv.step == "fix":
            self._ask_fix(turn)
            return
        if turn.conv.step == "duplicate":
            turn.conv.step = "confirm"
        self._report_next(turn)

    def _side_status(self, turn: Turn) -> bool:
        """A status question in the middle of a report: answered, and the unsent report is kept and recalled."""
        conv = turn.conv
        flow, step, slots = conv.flow, conv.step, dict(turn.slots)
        folio = self._folio_in(turn)
        typed = FOLIO_LIKE.search(turn.text)
        if folio is None and typed:
            self._say(turn, "lookup_bad_folio", typed=typed.group(0))
        elif folio:
            self._show_ticket(turn, self._service(turn), folio)
        else:
            tickets = self._service(turn).open_tickets_for(turn.citizen.id)
            if not tickets:
                self._say(turn, "lookup_none")
            elif len(tickets) == 1:
                self._show_ticket(turn, self._service(turn), tickets[0].folio)
            else:
                shown = tickets[:MAX_LISTED_TICKETS]
                self._say(turn, "lookup_list", count=len(tickets), side=True,
                          tickets=[{"folio": t.folio, "category": self._category_name(t.category_code),
                                    "status": self._status_words(turn.channel, t.status)} for t in shown])
        state.start_flow(conv, flow, step, slots)
        turn.slots = slots
        category = self._category_name(slots.get("category"))
        if step == "confirm":
            self._say(turn, "report_pending", category=category, confirm=True,
                      buttons=self._buttons(turn, ("yes", "confirm"), ("fix", "fix"), ("cancel", "cancel")))
        else:
            self._say(turn, "report_pending", category=category, confirm=False)
            self._report_reask(turn)
        return True

    def _step_confirm(self, turn: Turn) -> bool:
        s = turn.slots
        if turn.choice == "cancel":
            self._cancel(turn)
            return True
        if turn.photos or turn.inbound.location:
            self._absorb(turn, replace_location=True)
            self._report_next(turn)
            return True
        if turn.choice is None and turn.text:
            parts = self._location_parts(turn)
            intent = self._intent(turn)
            if parts["any"]:
                self._absorb(turn, replace_location=True)
                s["location_followup"] = True
                self._report_next(turn)
                return True
            if intent in SERVICE_INTENTS and intent != s.get("category") and intent in self.catalog.categories:
                self._change_category(turn, intent)
                self._report_next(turn)
                return True
        if self._is_yes(turn):
            self._finalize(turn)
            return True
        if self._is_no(turn) or turn.choice == "fix":
            turn.conv.step = "fix"
            self._ask_fix(turn)
            return True
        self._misunderstood(turn)
        return True

    def _ask_fix(self, turn: Turn) -> None:
        pairs = [("fix:category", "fix_category"), ("fix:location", "fix_location")]
        if turn.channel != "sms":
            pairs.append(("fix:photo", "fix_photo"))
        pairs += [("fix:description", "fix_description"), ("cancel", "cancel")]
        self._say(turn, "report_ask_fix", buttons=self._buttons(turn, *pairs))

    def _step_fix(self, turn: Turn) -> bool:
        s = turn.slots
        choice = turn.choice
        if choice == "cancel":
            self._cancel(turn)
            return True
        if choice == "fix:category":
            s.update(category=None, candidates=[], photo_state=None)
            turn.conv.step = "category"
            self._ask_category(turn, all_categories=True)
            return True
        if choice == "fix:location":
            s.update(address=None, landmark=None, colonia=None, lat=None, lon=None, location_ok=False,
                     location_followup=False)
            self._report_next(turn)
            return True
        if choice == "fix:photo":
            s.update(photos=[], photo_state="asked")
            turn.conv.step = "photo"
            policy = self._photo_policy(turn)
            self._say(turn, "report_ask_photo", required=policy == "required",
                      buttons=self._buttons(turn, ("no_photo", "no_photo")))
            return True
        if choice == "fix:description":
            s.update(description="", description_asked=True)
            turn.conv.step = "description"
            self._say(turn, "report_ask_description", category=self._category_name(s.get("category")),
                      buttons=self._buttons(turn, ("skip", "skip")))
            return True
        # Free text: a correction ("es en la calle Hidalgo", "es una fuga") or a yes after all.
        turn.conv.step = "confirm"
        return self._step_confirm(turn)

    def _service(self, turn: Turn) -> TicketService:
        return TicketService(turn.session, self.catalog, timezone=self.settings.timezone, listeners=self.listeners)

    def _finalize(self, turn: Turn) -> None:
        s = turn.slots
        svc = self._service(turn)
        if s.get("lat") is not None and not s.get("duplicate_declined"):
            found = svc.find_duplicates(s["category"], s["lat"], s["lon"], limit=1)
            if found:
                ticket, metres = found[0]
                s["duplicate_folio"] = ticket.folio
                turn.conv.step = "duplicate"
                self._say(turn, "report_duplicate", folio=ticket.folio, distance=distance_text(metres),
                          status=self._status_words(turn.channel, ticket.status),
                          category=self._category_name(ticket.category_code),
                          buttons=self._buttons(turn, ("yes", "duplicate_follow"), ("no", "duplicate_new")))
                return
        self._create(turn, svc)

    def _step_duplicate(self, turn: Turn) -> bool:
        s = turn.slots
        if turn.choice == "cancel":
            self._cancel(turn)
            return True
        svc = self._service(turn)
        if self._is_yes(turn):
            ticket = svc.get(s["duplicate_folio"])
            svc.subscribe(ticket, turn.identity, actor=turn.actor)
            for attachment_id in s.get("photos") or []:
                svc.attach(ticket, attachment_id, actor=turn.actor, kind="photo")
            state.reset(turn.conv)
            turn.slots = {}
            self._say(turn, "report_subscribed", folio=ticket.folio,
                      status=self._status_words(turn.channel, ticket.status), due=self._due_text(ticket, turn))
            return True
        if self._is_no(turn):
            s["duplicate_declined"] = True
            self._create(turn, svc)
            return True
        self._misunderstood(turn)
        return True

    def _due_text(self, ticket: Ticket, turn: Turn) -> str:
        category = self.catalog.categories.get(ticket.category_code)
        with_time = bool(category and category.sla_hours)
        return date_text(ticket.revised_due_at or ticket.due_at, self.settings.timezone, with_time=with_time,
                         now=turn.now)

    def _create(self, turn: Turn, svc: TicketService) -> None:
        s = turn.slots
        category = self.catalog.category(s["category"])
        description = (s.get("description") or "").strip() or category.name
        ticket = svc.create(
            category=category.code,
            description=description,
            channel=turn.channel,
            actor=turn.actor,
            lat=s.get("lat"),
            lon=s.get("lon"),
            address=self._address_text(s),
            landmark=s.get("landmark"),
            reporter_identity=turn.identity,
            attachment_ids=list(s.get("photos") or []),
        )
        state.reset(turn.conv)
        turn.slots = {}
        self._say(
            turn, "report_created",
            folio=ticket.folio,
            category=category.name,
            department=ticket.department.name,
            due=self._due_text(ticket, turn),
            urgent=category.urgent,
            referral=category.referral.explanation if category.referral else None,
        )
        log.info("dialogue: conversation %s created ticket %s", turn.conv.id, ticket.folio)

    # --- status flow ------------------------------------------------------------------------------

    def _status(self, turn: Turn, folio: str | None) -> None:
        svc = self._service(turn)
        if folio:
            self._show_ticket(turn, svc, folio)
            return
        tickets = svc.open_tickets_for(turn.citizen.id)
        if not tickets:
            state.start_flow(turn.conv, "status", "folio")
            turn.slots = {}
            self._say(turn, "lookup_none")
            return
        if len(tickets) == 1:
            self._show_ticket(turn, svc, tickets[0].folio)
            return
        state.start_flow(turn.conv, "status", "choose")
        turn.slots = {}
        shown = tickets[:MAX_LISTED_TICKETS]
        self._say(turn, "lookup_list", count=len(tickets),
                  tickets=[{"folio": t.folio, "category": self._category_name(t.category_code),
                            "status": self._status_words(turn.channel, t.status)} for t in shown],
                  buttons=[Button(f"{t.folio} {self._category_name(t.category_code)}"[:40], f"folio:{t.folio}")
                           for t in shown])

    def _status_step(self, turn: Turn) -> bool:
        folio = None
        if turn.choice and turn.choice.startswith("folio:"):
            folio = turn.choice[6:]
        elif turn.text:
            folio = self._folio_in(turn)
        if folio:
            self._show_ticket(turn, self._service(turn), folio)
            return True
        typed = FOLIO_LIKE.search(turn.text)
        if typed:
            self._say(turn, "lookup_bad_folio", typed=typed.group(0))
            return True
        return False

    def _show_ticket(self, turn: Turn, svc: TicketService, folio: str) -> None:
        try:
            ticket = svc.get(folio)
        except TicketNotFound:
            state.start_flow(turn.conv, "status", "folio")
            turn.slots = {}
            self._say(turn, "lookup_not_found", folio=folio)
            return
        state.reset(turn.conv)
        turn.slots = {}
        self._say(turn, "lookup_status", **self.ticket_view(ticket, turn.now, turn.channel))

    def ticket_view(self, ticket: Ticket, now: datetime, channel: str | None = None) -> dict[str, Any]:
        """What the status templates show about a ticket, in plain words (for ``channel``'s labels)."""
        category = self.catalog.categories.get(ticket.category_code)
        reason_text = None
        if ticket.reason_code and ticket.reason_code in self.catalog.reasons:
            duplicate_of = None
            if ticket.duplicate_of_id:
                duplicate_of = self._folio_of(ticket)
            reason_text = self.catalog.reasons[ticket.reason_code].explain(
                referred_to=ticket.referred_to or (category.referral.agency if category and category.referral
                                                   else None),
                agency_contact=category.referral.contact if category and category.referral else None,
                scheduled_for=date_text(ticket.scheduled_for, self.settings.timezone) if ticket.scheduled_for
                else None,
                duplicate_of=duplicate_of,
            )
        note = None
        for event in reversed(ticket.events or []):
            if event.public_note:
                note = event.public_note
                break
        with_time = bool(category and category.sla_hours)
        return {
            "folio": ticket.folio,
            "category": category.name if category else ticket.category_code,
            "status": str(TicketStatus(ticket.status).value),
            "status_text": self._status_words(channel, ticket.status),
            "is_open": ticket.is_open,
            "reason": reason_text,
            "note": shorten(note, 300) if note else None,
            "due": date_text(ticket.revised_due_at or ticket.due_at, self.settings.timezone, with_time=with_time,
                             now=now),
            "overdue": bool(ticket.is_open and (ticket.revised_due_at or ticket.due_at) < now),
            "revised": ticket.revised_due_at is not None,
            "department": ticket.department.name if ticket.department else "",
            "place": self._place(channel, ticket.address, ticket.landmark, ticket.lat),
        }

    def _folio_of(self, ticket: Ticket) -> str | None:
        session = Session.object_session(ticket)
        if session is None or ticket.duplicate_of_id is None:
            return None
        return session.scalars(select(Ticket.folio).where(Ticket.id == ticket.duplicate_of_id)).first()

    # --- survey ("¿Ya quedó?") and location request ---------------------------------------------

    def _survey_ticket(self, turn: Turn) -> Ticket | None:
        try:
            return self._service(turn).get(turn.slots.get("folio") or "")
        except TicketNotFound:
            return None

    def _survey_question(self, turn: Turn) -> None:
        ticket = self._survey_ticket(turn)
        if ticket is None:
            state.reset(turn.conv)
            turn.slots = {}
            return
        step = turn.conv.step
        if step == "rating":
            self._ask_rating(turn, ticket.folio)
        elif step == "answer":
            self._say(turn, "survey_question", folio=ticket.folio,
                      category=self._category_name(ticket.category_code),
                      place=self._place(turn.channel, ticket.address, ticket.landmark, ticket.lat),
                      buttons=survey_buttons(self.renderer, turn.channel))

    def _ask_rating(self, turn: Turn, folio: str) -> None:
        buttons = [Button(str(n), f"rate:{n}") for n in range(1, 6)] if turn.channel == "telegram" else []
        self._say(turn, "survey_ask_rating", folio=folio, buttons=buttons)

    def _survey_step(self, turn: Turn) -> bool:
        s = turn.slots
        svc = self._service(turn)
        ticket = self._survey_ticket(turn)
        if ticket is None:
            return False
        step = turn.conv.step
        if step == "answer":
            yes = turn.choice == "survey:yes" or (turn.choice is None and self._is_yes(turn))
            unsure = turn.choice == "survey:unsure" or (turn.choice is None and starts_with_one_of(turn.text,
                                                                                                UNSURE_WORDS))
            no = turn.choice == "survey:no" or (turn.choice is None and not unsure and self._is_no(turn))
            if yes:
                try:
                    svc.close(ticket, actor=turn.actor, confirmation="confirmed")
                except TicketError:
                    return self._survey_stale(turn, ticket)
                turn.conv.step = "rating"
                self._ask_rating(turn, ticket.folio)
                return True
            if no:
                words = turn.text if turn.choice is None and len(turn.folded.split()) > 1 else None
                try:
                    svc.reopen(ticket, actor=turn.actor, public_note=words, attachment_ids=turn.photos)
                except TicketError:
                    return self._survey_stale(turn, ticket)
                wants_photo = not turn.photos and turn.channel != "sms"
                if wants_photo:
                    state.start_flow(turn.conv, "survey", "photo", {"folio": ticket.folio})
                    turn.slots = {"folio": ticket.folio}
                else:
                    state.reset(turn.conv)
                    turn.slots = {}
                self._say(turn, "survey_reopened", folio=ticket.folio, due=self._due_text(ticket, turn),
                          ask_photo=wants_photo, asked_words=words is None)
                return True
            if unsure:
                state.reset(turn.conv)
                turn.slots = {}
                self._say(turn, "survey_unsure", folio=ticket.folio)
                return True
            if s.get("reasked"):
                return False
            s["reasked"] = True
            turn.misunderstood = True
            self._say(turn, "not_understood_step")
            self._survey_question(turn)
            return True
        if step == "rating":
            score = None
            if turn.choice and turn.choice.startswith("rate:"):
                score = int(turn.choice[5:])
            else:
                folded = turn.folded
                words = {"uno": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5}
                if folded.isdigit():
                    score = int(folded)
                elif folded in words:
                    score = words[folded]
                if score is not None and not 1 <= score <= 5:
                    if s.get("reasked"):
                        return False
                    s["reasked"] = True
                    self._ask_rating(turn, ticket.folio)
                    return True
            if score is None:
                return False
            try:
                svc.set_satisfaction(ticket, score, actor=turn.actor)
            except TicketError:
                return self._survey_stale(turn, ticket)
            state.reset(turn.conv)
            turn.slots = {}
            self._say(turn, "survey_rating_thanks", score=score)
            return True
        if step == "photo":
            if not turn.photos:
                return False
            for attachment_id in turn.photos:
                svc.attach(ticket, attachment_id, actor=turn.actor, kind="photo")
            state.reset(turn.conv)
            turn.slots = {}
            self._say(turn, "report_photo_received", count=len(turn.photos), added_to=ticket.folio)
            return True
        return False

    def _survey_stale(self, turn: Turn, ticket: Ticket) -> bool:
        """The ticket moved on since the question (staff reopened or closed it): say so and show it."""
        state.reset(turn.conv)
        turn.slots = {}
        self._say(turn, "lookup_status", **self.ticket_view(ticket, turn.now, turn.channel))
        return True

    def _relocate_step(self, turn: Turn) -> bool:
        ticket = self._survey_ticket(turn)
        if ticket is None:
            return False
        svc = self._service(turn)
        location = turn.inbound.location
        parts = self._location_parts(turn) if turn.text else {"any": False}
        if location is None and not parts["any"] and not turn.text:
            if turn.photos:
                return False
            self._say(turn, "relocate_ask", folio=ticket.folio, request_location=turn.channel == "telegram")
            return True
        if location is None and not parts["any"] and self._intent(turn) in ("check_status", *SERVICE_INTENTS):
            return False
        if location is not None:
            where = f"https://www.openstreetmap.org/?mlat={location.lat:.6f}&mlon={location.lon:.6f}#map=19/" \
                    f"{location.lat:.6f}/{location.lon:.6f}"
            place = location.address or None
        else:
            where = None
            place = turn.text[:300]
        note = self.renderer.render("relocate_note", None, place=place, map_url=where)
        try:
            svc.reopen(ticket, actor=turn.actor, public_note=note, attachment_ids=turn.photos)
            svc.update_location(ticket, actor=turn.actor, lat=location.lat if location else None,
                                lon=location.lon if location else None, address=place)
        except TicketError:
            return self._survey_stale(turn, ticket)
        state.reset(turn.conv)
        turn.slots = {}
        self._say(turn, "relocate_done", folio=ticket.folio, due=self._due_text(ticket, turn))
        return True


def survey_buttons(renderer: Renderer, channel: str) -> list[Button]:
    return [Button(renderer.label("yes", channel), "survey:yes"), Button(renderer.label("no", channel), "survey:no"),
            Button(renderer.label("unsure", channel), "survey:unsure")]
