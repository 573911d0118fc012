"""Detection of anguished or abusive messages that go straight to a person, and of frustration, which gets a calm
answer from the bot instead (lexicon: data/dialogue/escalation.yml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dialogue.text import fold
from reporta.yamlfiles import load_yaml


@dataclass(frozen=True)
class EscalationLexicon:
    """Whole-word phrase lists; ``classify`` answers ``"anguished"``, ``"abusive"``, ``"frustrated"`` or None."""

    abusive: tuple[str, ...] = ()
    anguished: tuple[str, ...] = ()
    frustrated: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_abusive_re", _compile(self.abusive))
        object.__setattr__(self, "_anguished_re", _compile(self.anguished))
        object.__setattr__(self, "_frustrated_re", _compile(self.frustrated))

    @classmethod
    def load(cls, path: Path) -> EscalationLexicon:
        """Read the YAML lexicon; a missing file means no keyword escalation (the NLU still offers handoff)."""
        if not path.exists():
            return cls()
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping with 'abusive' and 'anguished' lists")
        return cls(
            abusive=tuple(fold(str(w)) for w in raw.get("abusive") or ()),
            anguished=tuple(fold(str(w)) for w in raw.get("anguished") or ()),
            frustrated=tuple(fold(str(w)) for w in raw.get("frustrated") or ()),
        )

    def classify(self, text: str | None) -> str | None:
        folded = fold(text)
        if not folded:
            return None
        if self._anguished_re is not None and self._anguished_re.search(folded):  # type: ignore[attr-defined]
            return "anguished"
        if self._abusive_re is not None and self._abusive_re.search(folded):  # type: ignore[attr-defined]
            return "abusive"
        if self._frustrated_re is not None and self._frustrated_re.search(folded):  # type: ignore[attr-defined]
            return "frustrated"
        return None


def _compile(phrases: tuple[str, ...]) -> re.Pattern[str] | None:
    cleaned = [p for p in phrases if p]
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(cleaned, key=len, reverse=True))
    return re.compile(rf"(?<![\wñ])(?:{alternatives})(?![\wñ])")
