"""The NLU's public contract: parse results, the parser protocol and how the rest of Reporta gets a parser.

``load_parser(settings)`` returns the engine chosen by ``settings.nlu_engine``: the in-process builtin engine
(default) or a Rasa server with the builtin engine as fallback.  The builtin model is trained on demand (seconds)
and cached under ``settings.nlu_cache_dir`` keyed by a hash of ``data_dir/nlu``; parsers are memoised per process.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlu.acts import worded_answer  # noqa: F401  (re-exported: the survey reads "¿ya quedó?" answered in words)
from nlu.types import (  # noqa: F401  (re-exported: the rest of Reporta imports the types from nlu.api)
    ALL_INTENTS,
    CONVERSATION_INTENTS,
    DIALOGUE_ACTS,
    ENTITY_TYPES,
    FALLBACK_INTENT,
    FALLBACK_THRESHOLD,
    HARMFUL_ACTS,
    PENDING_KINDS,
    SERVICE_INTENTS,
    Entity,
    Parse,
    Parser,
)

if TYPE_CHECKING:
    from reporta.settings import Settings

_LOCK = threading.Lock()
_PARSERS: dict[tuple[Any, ...], Parser] = {}


def ensure_model(settings: Settings) -> Path:
    """Train the builtin model if it is missing or stale; return the cached model's path."""
    from nlu import model

    return model.ensure_model(settings.data_dir / "nlu", settings.nlu_cache_dir, encoder=settings.nlu_sentence_encoder)


def load_parser(settings: Settings) -> Parser:
    """The parser ``settings`` ask for (builtin, or Rasa with builtin fallback), memoised per process."""
    from nlu import model

    data_hash = model.data_hash(settings.data_dir / "nlu", settings.nlu_sentence_encoder)
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
            model.load_or_train(
                settings.data_dir / "nlu", settings.nlu_cache_dir, encoder=settings.nlu_sentence_encoder
            ),
            threshold=settings.nlu_fallback_threshold,
        )
        builtin.warm()
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
