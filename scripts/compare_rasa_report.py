"""Helper of scripts/compare_rasa: scores the builtin engine and a running Rasa server on one test file."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlu.api import load_parser
from nlu.data import read_labelled
from nlu.evaluate import evaluate
from nlu.rasa import RasaParser
from reporta.settings import Settings


class _NoFallback:
    def parse(self, text: str):
        raise RuntimeError("Rasa failed during the comparison; see var/rasa-server.log")


def main() -> None:
    test_file, url = Path(sys.argv[1]), sys.argv[2]
    examples = read_labelled(test_file)
    settings = Settings()
    builtin = load_parser(settings.model_copy(update={"nlu_engine": "builtin"}))
    rasa = RasaParser(url, timeout=30.0, fallback=_NoFallback(), threshold=settings.nlu_fallback_threshold)
    rows = [("builtin", evaluate(builtin.parse, examples)), ("rasa DIET", evaluate(rasa.parse, examples))]
    print(f"test file: {test_file} ({len(examples)} messages)")
    print(f"{'engine':<12}{'accuracy':>10}{'macro-F1':>10}{'ms/msg':>10}")
    for name, r in rows:
        print(f"{name:<12}{r.accuracy:>10.4f}{r.macro_f1:>10.4f}{r.ms_per_message:>10.3f}")


if __name__ == "__main__":
    main()
