"""The optional Rasa engine: intents from a Rasa server's ``POST /model/parse``, with the builtin engine as fallback.

Rasa (3.6 needs Python < 3.11) runs as its own service in its own environment; Reporta only speaks HTTP to it
(``REPORTA_NLU_ENGINE=rasa``, ``REPORTA_RASA_URL``).  When the server is down, slow (``rasa_timeout_seconds``) or
answers garbage, the message is parsed by the builtin engine instead, and Rasa is not tried again for
``retry_after`` seconds so a dead server does not add a timeout to every message.  Entities always come from the
builtin rules (folios need the Damm check; spans are exact); Rasa's own entities of our types are added when they
do not overlap.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx

from nlu.entities import extract
from nlu.types import ENTITY_TYPES, FALLBACK_INTENT, Entity, Parse, Parser

log = logging.getLogger(__name__)


def parse_rasa_response(text: str, body: dict[str, Any], threshold: float) -> Parse:
    """Turn Rasa's ``/model/parse`` JSON into a :class:`Parse` (raises ``KeyError``/``TypeError`` if malformed)."""
    intent = body["intent"] or {}
    name = str(intent.get("name") or FALLBACK_INTENT)
    confidence = float(intent.get("confidence") or 0.0)
    ranking = [
        (str(r["name"]), float(r["confidence"]))
        for r in body.get("intent_ranking") or []
        if r.get("name") and r["name"] != FALLBACK_INTENT
    ]
    if name != FALLBACK_INTENT and not any(n == name for n, _ in ranking):
        ranking.insert(0, (name, confidence))
    ranking.sort(key=lambda x: -x[1])
    if name == FALLBACK_INTENT and ranking:
        # Rasa's FallbackClassifier puts nlu_fallback first; the best real intent's confidence is what we report.
        confidence = ranking[0][1]
    understood = name != FALLBACK_INTENT and confidence >= threshold
    entities = extract(text)
    taken = [(e.start, e.end) for e in entities]
    for e in body.get("entities") or []:
        kind, start, end = e.get("entity"), e.get("start"), e.get("end")
        valid = kind in ENTITY_TYPES and isinstance(start, int) and isinstance(end, int)
        valid = valid and 0 <= start < end <= len(text)
        if valid and not any(start < b and a < end for a, b in taken):
            entities.append(Entity(kind, str(e.get("value") or text[start:end]), start, end))
    entities.sort(key=lambda e: (e.start, -e.end))
    for filler in ("out_of_scope", "help", "greet"):
        if len(ranking) >= 3:
            break
        if all(n != filler for n, _ in ranking):
            ranking.append((filler, 0.0))
    return Parse(
        text=text,
        intent=(ranking[0][0] if name == FALLBACK_INTENT else name) if understood else FALLBACK_INTENT,
        confidence=confidence,
        ranking=ranking,
        entities=entities,
        understood=understood,
    )


class RasaParser:
    """Parses with a Rasa server; falls back to ``fallback`` (the builtin parser) when Rasa fails."""

    def __init__(
        self, url: str, timeout: float, fallback: Parser, threshold: float = 0.5, retry_after: float = 30.0
    ) -> None:
        self.url = url.rstrip("/") + "/model/parse"
        self.timeout = timeout
        self.fallback = fallback
        self.threshold = threshold
        self.retry_after = retry_after
        self._client = httpx.Client(timeout=httpx.Timeout(timeout))
        self._down_until = 0.0
        self._lock = threading.Lock()

    def parse(self, text: str, *, pending: str | None = None) -> Parse:
        if time.monotonic() < self._down_until:
            return self.fallback.parse(text, pending=pending)
        try:
            resp = self._client.post(self.url, json={"text": text})
            resp.raise_for_status()
            return parse_rasa_response(text, resp.json(), self.threshold)
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("Rasa at %s failed (%s); using the builtin NLU for %.0f s", self.url, exc, self.retry_after)
            with self._lock:
                self._down_until = time.monotonic() + self.retry_after
            return self.fallback.parse(text, pending=pending)

    def close(self) -> None:
        self._client.close()
