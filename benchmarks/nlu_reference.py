"""Reporta's NLU against the plain reference on the real Madrid reports, on the same k folds.

    .venv/bin/python benchmarks/nlu_reference.py [--folds 5] [--only 1] [--thresholds 0.4,0.5] [--no-reference]

Reference (issue 12): TF-IDF word 1–2 grams + character 2–5 grams, LinearSVC (scikit-learn defaults), trained on the
Madrid reports of the other folds only.  Reporta: the builtin engine trained on the same Madrid folds *plus* every
hand-written example (it also serves Mexico and the conversation), parsed with its rules at each threshold (the
first is the headline; round 9 ships 0.4).  Printed per fold and overall: accuracy of the understood answer (a
fallback counts as wrong), accuracy of the top candidate (what the dialogue offers below the threshold), the
fallback rate, Madrid reports read as a dialogue act (cancel/deny/affirm/thanks) and reliability (share right among
answers of confidence 0.8–0.9), and at the end the reliability table per threshold (understood answers per
confidence bin, folds pooled).
Data: ``data/nlu/real/madrid.tsv`` — Fuente: Ayuntamiento de Madrid.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    import numpy as np
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC

    from nlu.api import HARMFUL_ACTS
    from nlu.data import load_training_data
    from nlu.model import SHARED_CACHE_DIR, BuiltinParser, fit, training_vectors
    from reporta.settings import DEFAULT_DATA_DIR

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "nlu")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--only", type=int, default=0, help="run only the first N folds (0: all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--thresholds", default="0.4", help="comma-separated; the first one is the headline")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference (its figures are known)")
    ap.add_argument("--encoder", action="store_true", help="the classifier reads the sentence encoder (round 11)")
    args = ap.parse_args()

    data = load_training_data(args.data)
    # --encoder: every message encoded once, the reports' vectors kept in the shared cache
    vectors = training_vectors(data, SHARED_CACHE_DIR) if args.encoder else None
    texts = [t for t, _ in data.real]
    gold = np.array([y for _, y in data.real])
    print(f"Madrid reports: {len(texts)} (Fuente: Ayuntamiento de Madrid); hand-written examples: {len(data.examples)}")
    split = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    thresholds = [float(x) for x in args.thresholds.split(",")]
    rows: list[tuple[float, ...]] = []
    others: dict[float, list[float]] = {th: [] for th in thresholds}
    bins = {th: [[0, 0] for _ in range(10)] for th in thresholds}
    for k, (train, test) in enumerate(split.split(texts, gold)):
        if args.only and k >= args.only:
            break
        t0 = time.perf_counter()
        tr = [texts[i] for i in train]
        te = [texts[i] for i in test]
        ref = float("nan")
        if not args.no_reference:
            word = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
            char = TfidfVectorizer(analyzer="char", ngram_range=(2, 5), sublinear_tf=True)
            x_tr = sparse.hstack([word.fit_transform(tr), char.fit_transform(tr)]).tocsr()
            x_te = sparse.hstack([word.transform(te), char.transform(te)]).tocsr()
            ref = float((LinearSVC().fit(x_tr, gold[train]).predict(x_te) == gold[test]).mean())
        ref_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        model = fit(data.examples, data.lookups, [data.real[i] for i in train], vectors=vectors, encoder=args.encoder)
        ours_s = time.perf_counter() - t0
        g = gold[test]
        for j, threshold in enumerate(thresholds):
            parser = BuiltinParser(model, threshold=threshold, vectors=vectors)
            parses = [parser.parse(t) for t in te]
            right = [p.intent == y for p, y in zip(parses, g, strict=True)]
            acc = float(np.mean(right))
            top = float(np.mean([p.ranking[0][0] == y for p, y in zip(parses, g, strict=True)]))
            fb = float(np.mean([not p.understood for p in parses]))
            acts = float(np.mean([p.intent in HARMFUL_ACTS for p in parses]))
            for p, ok in zip(parses, right, strict=True):
                if p.understood:
                    b = min(9, int(p.confidence * 10))
                    bins[threshold][b][0] += 1
                    bins[threshold][b][1] += int(ok)
            band = [ok for p, ok in zip(parses, right, strict=True) if p.understood and 0.8 <= p.confidence < 0.9]
            rel = float(np.mean(band)) if band else float("nan")
            if j == 0:
                rows.append((ref, acc, top, fb, acts, rel, len(band)))
            else:
                others[threshold].append(acc)
            print(
                f"fold {k} threshold {threshold}: reference {ref:.4f} ({ref_s:.0f} s) | Reporta understood {acc:.4f}, "
                f"top candidate {top:.4f}, fallback {fb:.3f}, read as act {acts:.4f}, 0.8-0.9 right {rel:.3f} "
                f"(n {len(band)}) ({ours_s:.0f} s)",
                flush=True,
            )
    cols = list(zip(*rows, strict=True))
    print(
        f"mean over {len(rows)} folds: reference {statistics.mean(cols[0]):.4f} | Reporta understood "
        f"{statistics.mean(cols[1]):.4f}, top candidate {statistics.mean(cols[2]):.4f}, fallback "
        f"{statistics.mean(cols[3]):.4f}, read as act {statistics.mean(cols[4]):.4f}, "
        f"0.8-0.9 right {sum(a * n for a, n in zip(cols[5], cols[6], strict=True)) / max(1, sum(cols[6])):.3f}"
    )
    for th in thresholds[1:]:
        print(f"threshold {th}: Reporta understood {statistics.mean(others[th]):.4f}")
    for th in thresholds:
        print(f"reliability at threshold {th} (confidence bin: n, share right): " + ", ".join(
            f"{b / 10:.1f}-{(b + 1) / 10:.1f}: {n}, {r / n:.3f}" for b, (n, r) in enumerate(bins[th]) if n))


if __name__ == "__main__":
    main()
