"""Helper of scripts/compare_rasa: scores the builtin engine and a running Rasa server on one labelled file, or on
every held-out set of a folder (``tests/nlu/data``: the written sets by service and control intents, the pothole
free-text set, reports read as a dialogue act), with the same scoring as ``reporta nlu evaluate``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlu.api import load_parser
from nlu.data import read_labelled
from nlu.evaluate import POTHOLE_SETS, Report, evaluate, heldout_summary
from nlu.rasa import RasaParser
from reporta.settings import Settings


class _NoFallback:
    def parse(self, text: str) -> Any:
        raise RuntimeError("Rasa failed during the comparison; see var/rasa-server.log")


def rasa_engine(url: str, settings: Settings) -> RasaParser:
    """The Rasa server at ``url``, at Reporta's threshold, failing loudly instead of falling back to builtin."""
    return RasaParser(url, timeout=30.0, fallback=_NoFallback(), threshold=settings.nlu_fallback_threshold)


def print_scores(rows: list[tuple[str, Report]]) -> None:
    """One line per engine: accuracy, macro-F1, top candidate, fallback rate, service reports read as a dialogue
    act, milliseconds per message."""
    print(f"{'engine':<12}{'accuracy':>10}{'macro-F1':>10}{'top cand.':>10}{'fallback':>10}{'as act':>8}{'ms/msg':>10}")
    for name, r in rows:
        acts, reports = r.reports_read_as_acts
        print(
            f"{name:<12}{r.accuracy:>10.4f}{r.macro_f1:>10.4f}{r.top_accuracy:>10.4f}{r.fallback_rate:>10.3f}"
            f"{acts / max(1, reports):>8.4f}{r.ms_per_message:>10.3f}",
            flush=True,
        )


def _folder(engines: list[tuple[str, Any]], folder: Path) -> None:
    summaries = [(name, heldout_summary(parser.parse, folder)) for name, parser in engines]
    print(f"held-out sets in {folder}")
    print(f"{'engine':<12}{'service':>10}{'control':>10}{'as act':>8}  per set")
    for name, s in summaries:
        w = s["written"]
        sets = ", ".join(f"{k} {v:.3f}" for k, v in s["sets"].items())
        print(f"{name:<12}{w['service']:>10.4f}{w['control']:>10.4f}{w['reports_read_as_dialogue_act']:>8}  {sets}")
    print(
        f"(written sets: service n {summaries[0][1]['written']['service_n']}, control n "
        f"{summaries[0][1]['written']['control_n']}; 'as act': service reports read as cancel/deny/affirm/thanks)"
    )
    for set_name in POTHOLE_SETS:
        for name, s in summaries:
            if (p := s.get(Path(set_name).stem)) is not None:
                blocks = ", ".join(f"{k[6:]} {v:.3f}" for k, v in p.items() if k.startswith("block_"))
                print(
                    f"{set_name} {name}: accuracy {p['accuracy']:.4f} ({blocks}); pothole without 'bache' "
                    f"{p['without_bache']:.4f}; fallback {p['fallback']:.3f}; "
                    f"as act {p['reports_read_as_dialogue_act']}"
                )


def main() -> None:
    target, url = Path(sys.argv[1]), sys.argv[2]
    settings = Settings()
    builtin = load_parser(settings.model_copy(update={"nlu_engine": "builtin"}))
    engines: list[tuple[str, Any]] = [("builtin", builtin), ("rasa DIET", rasa_engine(url, settings))]
    if target.is_dir():
        _folder(engines, target)
        return
    examples = read_labelled(target)
    print(f"test file: {target} ({len(examples)} messages)")
    print_scores([(name, evaluate(parser.parse, examples)) for name, parser in engines])


if __name__ == "__main__":
    main()
