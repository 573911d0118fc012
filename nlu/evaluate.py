"""Evaluation of the NLU: scores on a labelled file, and k-fold cross-validation on the training data.

Scoring uses the intent the parser returns; a ``nlu_fallback`` answer counts as ``out_of_scope`` (both mean "this
is not something I can file"), so low-confidence guesses on service messages count as errors.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlu.types import FALLBACK_INTENT


@dataclass
class Report:
    n: int
    accuracy: float
    macro_f1: float
    per_label: dict[str, dict[str, float]]
    confusions: list[tuple[str, str, int]]
    errors: list[tuple[str, str, str]]  # text, gold, predicted
    ms_per_message: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "ms_per_message": round(self.ms_per_message, 4),
            "per_label": self.per_label,
            "confusions": [{"gold": g, "predicted": p, "count": c} for g, p, c in self.confusions],
            "errors": [{"text": t, "gold": g, "predicted": p} for t, g, p in self.errors],
        }

    def to_text(self, max_errors: int = 60) -> str:
        lines = [
            f"messages: {self.n}",
            f"accuracy: {self.accuracy:.4f}",
            f"macro-F1: {self.macro_f1:.4f}",
            f"ms/message: {self.ms_per_message:.3f}",
            "",
            f"{'label':<20}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>10}",
        ]
        for label, m in sorted(self.per_label.items()):
            lines.append(
                f"{label:<20}{m['precision']:>10.3f}{m['recall']:>10.3f}{m['f1']:>10.3f}{int(m['support']):>10d}"
            )
        if self.confusions:
            lines += ["", "top confusions (gold -> predicted: count):"]
            lines += [f"  {g} -> {p}: {c}" for g, p, c in self.confusions]
        if self.errors:
            lines += ["", f"misclassified ({len(self.errors)}):"]
            lines += [f"  [{g} -> {p}] {t}" for t, g, p in self.errors[:max_errors]]
            if len(self.errors) > max_errors:
                lines.append(f"  ... {len(self.errors) - max_errors} more")
        return "\n".join(lines)


def _score(label: str) -> str:
    return "out_of_scope" if label == FALLBACK_INTENT else label


def score(texts: list[str], gold: list[str], predicted: list[str], seconds: float) -> Report:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    gold = [_score(g) for g in gold]
    predicted = [_score(p) for p in predicted]
    labels = sorted(set(gold))
    p, r, f, s = precision_recall_fscore_support(gold, predicted, labels=labels, zero_division=0)
    per_label = {
        lab: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4), "f1": round(float(f[i]), 4),
              "support": int(s[i])}
        for i, lab in enumerate(labels)
    }
    conf = Counter((g, q) for g, q in zip(gold, predicted, strict=True) if g != q)
    return Report(
        n=len(gold),
        accuracy=float(accuracy_score(gold, predicted)) if gold else 0.0,
        macro_f1=float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0)) if gold else 0.0,
        per_label=per_label,
        confusions=[(g, q, c) for (g, q), c in conf.most_common(10)],
        errors=[(t, g, q) for t, g, q in zip(texts, gold, predicted, strict=True) if g != q],
        ms_per_message=1000.0 * seconds / max(1, len(gold)),
    )


def evaluate(parse: Callable[[str], Any], examples: list[tuple[str, str]]) -> Report:
    """Score a parser (anything with ``parse(text) -> Parse``) on labelled examples."""
    texts = [t for t, _ in examples]
    gold = [y for _, y in examples]
    predicted = []
    t0 = time.perf_counter()
    for t in texts:
        predicted.append(parse(t).intent)
    return score(texts, gold, predicted, time.perf_counter() - t0)


def cross_validate(nlu_dir: Path, folds: int = 5, threshold: float = 0.0, seed: int = 0) -> Report:
    """Stratified k-fold cross-validation of the builtin engine on the training data."""
    from sklearn.model_selection import StratifiedKFold

    from nlu.data import load_training_data
    from nlu.model import BuiltinParser, fit

    data = load_training_data(nlu_dir)
    texts = [t for t, _ in data.examples]
    gold = [y for _, y in data.examples]
    predicted = [""] * len(texts)
    seconds = 0.0
    for train_idx, test_idx in StratifiedKFold(folds, shuffle=True, random_state=seed).split(texts, gold):
        model = fit([data.examples[i] for i in train_idx], data.lookups)
        parser = BuiltinParser(model, threshold=threshold)
        t0 = time.perf_counter()
        for i in test_idx:
            predicted[i] = parser.parse(texts[i]).intent
        seconds += time.perf_counter() - t0
    return score(texts, gold, predicted, seconds)
