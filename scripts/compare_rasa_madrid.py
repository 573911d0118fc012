"""Helper of ``scripts/compare_rasa --madrid-fold K``: Rasa DIET and the builtin engine on the same training data,
scored on one fold of the real Madrid reports (Fuente: Ayuntamiento de Madrid).

    prepare OUT K [N]  writes OUT/nlu/ (every Rasa YAML file of data/nlu, plus the Madrid reports of the other four
                    folds as one more YAML file; only N of them, drawn with seed 0, when N is given) and OUT/test.tsv
                    (fold K), the same 5 stratified folds (seed 0) as benchmarks/nlu_reference.py
    score OUT URL K [N]  scores the Rasa server at URL and the builtin engine trained on the same data on OUT/test.tsv

DIET on all 46k training reports did not finish one epoch in 10 minutes on this 2-core machine (7.4 GB resident):
``scripts/compare_rasa --madrid-sample N`` trains both engines on N of them.

The builtin engine gives the real reports their shipped weight (``REAL_WEIGHT``); Rasa has no sample weights, so it
sees them at weight 1 beside the hand-written examples.  Both are scored by ``nlu.evaluate.evaluate`` (a fallback
counts as wrong), with the top candidate, the fallback rate and reports read as a dialogue act.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nlu.data import load_training_data, read_labelled, training_files
from nlu.evaluate import evaluate
from reporta.settings import DEFAULT_DATA_DIR

FOLDS = 5


def _split(real: list[tuple[str, str]], k: int, sample: int = 0) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    gold = np.array([y for _, y in real])
    train, test = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(real, gold))[k]
    if sample and sample < len(train):
        train = np.random.default_rng(0).permutation(train)[:sample]
    return [real[i] for i in train], [real[i] for i in test]


def _yaml_line(text: str) -> str:
    # One example per line; square brackets would be read by Rasa as entity markup.
    return " ".join(text.replace("[", "(").replace("]", ")").split())


def _write(path: Path, text: str) -> None:
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def prepare(out: Path, k: int, sample: int = 0) -> None:
    # Files are only rewritten when their content changes, so scripts/compare_rasa keeps a model that is newer.
    nlu_dir = out / "nlu"
    nlu_dir.mkdir(parents=True, exist_ok=True)
    sources = [p for p in training_files(DEFAULT_DATA_DIR / "nlu") if p.suffix == ".yml"]
    for stale in set(nlu_dir.glob("*.yml")) - {nlu_dir / p.name for p in sources} - {nlu_dir / "madrid_train.yml"}:
        stale.unlink()
    for path in sources:
        _write(nlu_dir / path.name, path.read_text(encoding="utf-8"))
    train, test = _split(load_training_data(DEFAULT_DATA_DIR / "nlu").real, k, sample)
    by_intent: dict[str, list[str]] = {}
    for text, intent in train:
        line = _yaml_line(text)
        if line:
            by_intent.setdefault(intent, []).append(line)
    lines = ['version: "3.1"', "# Madrid reports of the training folds. Fuente: Ayuntamiento de Madrid.", "nlu:"]
    for intent, texts in sorted(by_intent.items()):
        lines += [f"- intent: {intent}", "  examples: |"] + [f"    - {t}" for t in texts]
    _write(nlu_dir / "madrid_train.yml", "\n".join(lines) + "\n")
    _write(out / "test.tsv", "text\tintent\n" + "".join(f"{' '.join(t.split())}\t{i}\n" for t, i in test))
    print(f"fold {k}: {len(train)} Madrid reports to train on, {len(test)} to test", file=sys.stderr)


def score(out: Path, url: str, k: int, sample: int = 0) -> None:
    from compare_rasa_report import print_scores, rasa_engine  # this folder: the script's own sys.path[0]

    from nlu.model import BuiltinParser, fit
    from reporta.settings import Settings

    settings = Settings()
    test = read_labelled(out / "test.tsv")
    data = load_training_data(DEFAULT_DATA_DIR / "nlu")
    train, _ = _split(data.real, k, sample)
    t0 = time.perf_counter()
    builtin = BuiltinParser(fit(data.examples, data.lookups, train), threshold=settings.nlu_fallback_threshold)
    print(f"builtin training: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(
        f"Madrid fold {k} of {FOLDS}: {len(test)} reports to test, both engines trained on the hand-written examples "
        f"and {len(train)} Madrid reports (Fuente: Ayuntamiento de Madrid)"
    )
    print_scores(
        [
            (name, evaluate(parser.parse, test))
            for name, parser in (("builtin", builtin), ("rasa DIET", rasa_engine(url, settings)))
        ]
    )


def main() -> None:
    command, out = sys.argv[1], Path(sys.argv[2])
    if command == "prepare":
        prepare(out, int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0)
    elif command == "score":
        score(out, sys.argv[3], int(sys.argv[4]), int(sys.argv[5]) if len(sys.argv) > 5 else 0)
    else:
        raise SystemExit(f"unknown command {command!r}: prepare or score")


if __name__ == "__main__":
    main()
