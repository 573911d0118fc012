"""The NLU's public contract: parse results, the parser protocol and how the rest of Reporta gets a parser.

``load_parser(settings)`` returns the engine chosen by ``settings.nlu_engine``: the in-process builtin engine
(default) or a Rasa server with the builtin engine as fallback.  The builtin model is trained on demand (seconds)
and cached under ``settings.nlu_cache_dir`` keyed by a hash of ``data_dir/nlu``; parsers are memoised per process.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from reporta.settings import Settings

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
FALLBACK_INTENT = "nlu_fallback"
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
        }


#: What the conversation is waiting for when a message arrives (``Parser.parse(text, pending=...)``): a bare
#: "sí"/"1" is an answer only when a question is pending.
PENDING_KINDS = ("yes_no", "choice", "location", "photo", "detail")


class Parser(Protocol):
    def parse(self, text: str, *, pending: str | None = None) -> Parse:
        """Read ``text``; ``pending`` is one of ``PENDING_KINDS`` when the bot asked a question, else None."""
        ...


_LOCK = threading.Lock()
_PARSERS: dict[tuple[Any, ...], Parser] = {}


def ensure_model(settings: Settings) -> Path:
    """Train the builtin model if it is missing or stale; return the cached model's path."""
    from nlu import model

    return model.ensure_model(settings.data_dir / "nlu", settings.nlu_cache_dir)


def load_parser(settings: Settings) -> Parser:
    """The parser ``settings`` ask for (builtin, or Rasa with builtin fallback), memoised per process."""
    from nlu import model

    data_hash = model.data_hash(settings.data_dir / "nlu")
    key = (
        settings.nlu_engine,
        str(settings.nlu_cache_dir),
        data_hash,
        settings.nlu_fallback_threshold,
        settings.rasa_url,
        settings.rasa_timeout_seconds,
    )
    with _LOCK:
        parser = _PARSERS.get(key)
        if parser is not None:
            return parser
        builtin = model.BuiltinParser(
            model.load_or_train(settings.data_dir / "nlu", settings.nlu_cache_dir),
            threshold=settings.nlu_fallback_threshold,
        )
        if settings.nlu_engine == "rasa":
            from nlu.rasa import RasaParser

            parser = RasaParser(
                settings.rasa_url,
                timeout=settings.rasa_timeout_seconds,
                fallback=builtin,
                threshold=settings.nlu_fallback_threshold,
            )
        else:
            parser = builtin
        _PARSERS[key] = parser
        return parser
