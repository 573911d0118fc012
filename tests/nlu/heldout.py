"""Held-out figures by subset (overall / service / short / English) for the Rasa-YAML dev sets.

    .venv/bin/python -m tests.nlu.heldout [tests/nlu/data/dev3.yml ...]

"short" = at most ``SHORT_WORDS`` words; "english" = examples of intent blocks with ``metadata: {lang: en}``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from nlu.api import SERVICE_INTENTS
from nlu.data import _block_items, strip_annotations

SHORT_WORDS = 4


def read_tagged(path: Path) -> list[tuple[str, str, str]]:
    """(text, intent, lang) for every example of a Rasa NLU YAML file; lang from the block's metadata, "es" else."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    out = []
    for item in doc.get("nlu", []) or []:
        if "intent" not in item:
            continue
        lang = str((item.get("metadata") or {}).get("lang", "es"))
        out.extend((strip_annotations(t), str(item["intent"]), lang) for t in _block_items(item.get("examples")))
    return out


def subsets(rows: list[tuple[str, str, str]]) -> dict[str, list[tuple[str, str]]]:
    return {
        "overall": [(t, y) for t, y, _ in rows],
        "service": [(t, y) for t, y, _ in rows if y in SERVICE_INTENTS],
        "short": [(t, y) for t, y, _ in rows if len(t.split()) <= SHORT_WORDS],
        "english": [(t, y) for t, y, lang in rows if lang == "en"],
    }


def main(argv: list[str]) -> None:
    from nlu.api import load_parser
    from nlu.evaluate import evaluate
    from reporta.settings import get_settings

    parser = load_parser(get_settings())
    paths = [Path(a) for a in argv] or [Path(__file__).parent / "data" / "dev3.yml"]
    for path in paths:
        print(f"== {path}")
        for name, examples in subsets(read_tagged(path)).items():
            if examples:
                r = evaluate(parser.parse, examples)
                print(f"{name:<8} n={r.n:<4} accuracy={r.accuracy:.3f} macro-F1={r.macro_f1:.3f}")
        r = evaluate(parser.parse, subsets(read_tagged(path))["overall"])
        print(r.to_text(max_errors=200).split("\n\n", 1)[1])


if __name__ == "__main__":
    main(sys.argv[1:])
