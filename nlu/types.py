"""The NLU's shared types: intent names, `Entity`, `Parse`, the `Parser` protocol, ``PENDING_KINDS``.

This module imports no engine (nor anything else of Reporta), so the engines (:mod:`nlu.model`, :mod:`nlu.rasa`), the
entity rules (:mod:`nlu.entities`) and the rest of Reporta can all depend on it without an import circle.
:mod:`nlu.api` re-exports everything here; other rooms keep importing from ``nlu.api``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

SERVICE_INTENTS: frozenset[str] = frozenset(
    {
        "pothole",
        "streetlight",
        "garbage_collection",
        "illegal_dumping",
        "water_leak",
        "sewer",
        "tree",
        "park",
        "stray_animal",
        "traffic_signal",
        "sidewalk",
        "graffiti",
        "noise",
        "abandoned_vehicle",
        "street_cleaning",
    }
)
CONVERSATION_INTENTS: frozenset[str] = frozenset(
    {
        "check_status",
        "human_handoff",
        "greet",
        "goodbye",
        "thanks",
        "affirm",
        "deny",
        "cancel",
        "help",
        "report_problem",
        "out_of_scope",
    }
)
ALL_INTENTS: frozenset[str] = SERVICE_INTENTS | CONVERSATION_INTENTS
#: Conversational intents that answer or steer the conversation rather than report anything.  A message that
#: describes a problem is never read as one of these (``nlu.acts``); ``cancel``/``deny``/``affirm``/``thanks`` on a
#: report are the harmful errors counted by ``reporta nlu evaluate`` ("reports read as a dialogue act").
DIALOGUE_ACTS: frozenset[str] = frozenset({"affirm", "deny", "cancel", "thanks", "greet", "goodbye", "help"})
HARMFUL_ACTS: frozenset[str] = frozenset({"affirm", "deny", "cancel", "thanks"})
FALLBACK_INTENT = "nlu_fallback"
#: The builtin engine's default fallback threshold (``REPORTA_NLU_FALLBACK_THRESHOLD``; round 9: 0.4, from the
#: reliability table in docs/nlu.md — below it a calibrated answer is right less than 40 % of the time on Madrid).
FALLBACK_THRESHOLD = 0.4
ENTITY_TYPES = ("folio", "address", "street", "number", "cross_street", "colonia", "landmark")


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity found in a message; ``start``/``end`` index the original text."""

    type: str  # "folio" | "address" | "street" | "number" | "cross_street" | "colonia" | "landmark"
    value: str  # folio as "NNNN-NNNN"; others: the text as the citizen wrote it, trimmed
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "value": self.value, "start": self.start, "end": self.end}


@dataclass(frozen=True, slots=True)
class Parse:
    """What the NLU understood of one message."""

    text: str
    intent: str  # "nlu_fallback" when not understood
    confidence: float
    ranking: list[tuple[str, float]]  # top candidates, best first (at least 3)
    entities: list[Entity]
    understood: bool  # False when below the fallback threshold
    #: Every service category the message reports, in the order mentioned ("hay un bache y además la lámpara
    #: está fundida" -> ("pothole", "streetlight")); one entry for a single report, () when no problem is named.
    problems: tuple[str, ...] = ()
    #: The service category a status question or news of a fix is about, when the message is one ("¿ya taparon el
    #: bache?" -> ``check_status`` about "pothole"; "ya prendió la lámpara" -> ``thanks`` about "streetlight"); such a
    #: message reports no new problem (``problems`` is empty). None otherwise.
    about: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``reporta nlu parse`` prints."""
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "understood": self.understood,
            "ranking": [{"intent": name, "confidence": round(conf, 4)} for name, conf in self.ranking],
            "entities": [e.to_dict() for e in self.entities],
            "problems": list(self.problems),
            "about": self.about,
        }


#: What the conversation is waiting for when a message arrives (``Parser.parse(text, pending=...)``): a bare
#: "sí"/"1" is an answer only when a question is pending.
PENDING_KINDS = ("yes_no", "choice", "location", "photo", "detail")


class Parser(Protocol):
    def parse(self, text: str, *, pending: str | None = None) -> Parse:
        """Read ``text``; ``pending`` is one of ``PENDING_KINDS`` when the bot asked a question, else None."""
        ...
