"""Classifier variants of the builtin NLU on one fold of the real Madrid reports (issue 12, round 8).

    .venv/bin/python benchmarks/nlu_variants.py [--fold 0] [--variants base,w1,...] [--list]

Same fold as ``benchmarks/nlu_reference.py`` (5 stratified folds of ``data/nlu/real/madrid.tsv``, seed 0). Each
variant trains on every hand-written example plus the Madrid reports of the other folds, with the shipped features
(``nlu.model``: ``prepare()`` of the place-masked text, char_wb 2–5 + word 1–2 TF-IDF, ``kw_*`` tags) unless the
variant changes them, the shipped two-fit calibration (SVM on 80 %, calibrator on the other 20 %, SVM refitted on
everything), and is scored on the held-out fold with the classifier alone (no ``nlu.acts`` rules, which move Madrid
by < 0.001): accuracy of the answer at the 0.5 threshold (a fallback counts as wrong), accuracy of the top
candidate, fallback rate, and the share right among answers of confidence 0.8–0.9.
Calibrators: ``platt`` (shipped: per-class sigmoids, renormalised), ``multinomial`` (logistic regression on the 25
decision values), ``temperature`` (softmax of the decision values with one fitted temperature).
``nbsvm``: NB-SVM (Wang & Manning 2012): per class, features scaled by the log-count ratio, a binary LinearSVC.
Data: Fuente: Ayuntamiento de Madrid.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: name -> (Madrid weight, SVM C, highest word n-gram, char analyzer, classifier, calibrators)
VARIANTS: dict[str, tuple[float, float, int, str, str, tuple[str, ...]]] = {
    "base": (0.25, 0.5, 2, "char_wb", "svm", ("platt", "multinomial", "temperature")),
    "w1": (1.0, 0.5, 2, "char_wb", "svm", ("platt", "multinomial", "temperature")),
    "c03": (0.25, 0.3, 2, "char_wb", "svm", ("platt",)),
    "w3": (0.25, 0.5, 3, "char_wb", "svm", ("platt",)),
    "w3_c03_r04": (0.4, 0.3, 3, "char_wb", "svm", ("platt",)),
    "w1_c03": (1.0, 0.3, 2, "char_wb", "svm", ("platt",)),
    "w1_c1": (1.0, 1.0, 2, "char_wb", "svm", ("platt",)),
    "w1_w3": (1.0, 0.5, 3, "char_wb", "svm", ("platt",)),
    "w1_char": (1.0, 0.5, 2, "char", "svm", ("platt",)),
    "nbsvm_r025": (0.25, 0.1, 2, "char_wb", "nbsvm", ("platt",)),
    "nbsvm_r05": (0.5, 0.1, 2, "char_wb", "nbsvm", ("platt",)),
    "nbsvm_w1": (1.0, 0.1, 2, "char_wb", "nbsvm", ("platt",)),
    # Round 9: wider character n-grams, word 1-3, ensembles averaged after calibration.
    "r05": (0.5, 0.5, 2, "char_wb", "svm", ("platt",)),
    "r05_w3": (0.5, 0.5, 3, "char_wb", "svm", ("platt",)),
    "w1_w3_p": (1.0, 0.5, 3, "char_wb", "svm", ("platt",)),
    "c16": (0.25, 0.5, 2, "char_wb16", "svm", ("platt",)),
    "c16_w3": (0.25, 0.5, 3, "char_wb16", "svm", ("platt",)),
    "c16_w3_r05": (0.5, 0.5, 3, "char_wb16", "svm", ("platt",)),
    "ens_cnb": (0.25, 0.5, 2, "char_wb", "svm+cnb", ("platt",)),
    "ens_sgd": (0.25, 0.5, 2, "char_wb", "svm+sgd", ("platt",)),
    "ens_nbsvm": (0.25, 0.5, 2, "char_wb", "svm+nbsvm", ("platt",)),
    "ens_all": (0.25, 0.5, 2, "char_wb", "svm+nbsvm+sgd+cnb", ("platt",)),
}
#: Thresholds at which the understood accuracy is printed (``--sweep``).
SWEEP = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)


def main() -> None:
    import numpy as np
    from scipy import sparse
    from scipy.optimize import minimize_scalar
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, train_test_split
    from sklearn.preprocessing import normalize as l2
    from sklearn.svm import LinearSVC

    from nlu import acts
    from nlu.data import load_training_data
    from nlu.features import Lexicon
    from nlu.model import (
        CALIBRATION_SHARE,
        CHAR_NGRAMS,
        TAG_WEIGHT,
        _block,
        _platt,
        _tag_names,
        char_wb_ngrams,
        prepare,
        word_ngrams,
        written_weights,
    )
    from reporta.settings import DEFAULT_DATA_DIR

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR / "nlu")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--variants", default="base,w1", help="comma-separated names (--list)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--sweep", action="store_true", help="understood accuracy at several thresholds + reliability")
    args = ap.parse_args()
    if args.list:
        for name, spec in VARIANTS.items():
            print(name, spec)
        return

    data = load_training_data(args.data)
    written = [prepare(acts.mask_places(t)) for t, _ in data.examples]
    written_y = [y for _, y in data.examples]
    real = [prepare(acts.mask_places(t)) for t, _ in data.real]
    gold = np.array([y for _, y in data.real])
    train, test = list(StratifiedKFold(5, shuffle=True, random_state=0).split(real, gold))[args.fold]
    texts = written + [real[i] for i in train]
    y = np.asarray(written_y + [gold[i] for i in train])
    held = [real[i] for i in test]
    y_held = gold[test]
    n_written = len(written)
    classes = sorted(set(y.tolist()))
    lexicon = Lexicon(data.lookups)
    tag_names = _tag_names(data.lookups)
    tag_index = {t: i for i, t in enumerate(tag_names)}

    def tag_matrix(rows: list[str]) -> Any:
        r, c = [], []
        for i, t in enumerate(rows):
            for tag in lexicon.tags(t):
                r.append(i)
                c.append(tag_index[tag])
        return sparse.csr_matrix((np.full(len(r), TAG_WEIGHT), (r, c)), shape=(len(rows), len(tag_names)))

    cache: dict[tuple[int, str], tuple[Any, Any]] = {}

    def features(word_hi: int, char: str) -> tuple[Any, Any]:
        if (word_hi, char) not in cache:
            if char == "char_wb16":
                analyzer: Any = lambda t: char_wb_ngrams(t, 1, 6)  # noqa: E731
            else:
                analyzer = char_wb_ngrams if char == "char_wb" else "char"
            cv = TfidfVectorizer(
                analyzer=analyzer, ngram_range=CHAR_NGRAMS, sublinear_tf=True, lowercase=False, norm=None
            )
            wv = TfidfVectorizer(
                analyzer=lambda t: word_ngrams(t, 1, word_hi), sublinear_tf=True, lowercase=False, norm=None
            )
            keep = np.arange(n_written)
            xc, _, _, cc = _block(cv, texts, keep)
            xw, _, _, wc = _block(wv, texts, keep)
            x = sparse.hstack([xc, xw, tag_matrix(texts)]).tocsr()
            xt = sparse.hstack(
                [l2(cv.transform(held)[:, cc]), l2(wv.transform(held)[:, wc]), tag_matrix(held)]
            ).tocsr()
            cache[(word_hi, char)] = (x, xt)
        return cache[(word_hi, char)]

    counts: dict[str, int] = defaultdict(int)
    for lab in written_y:
        counts[lab] += 1

    def sample_weight(real_weight: float) -> Any:
        return np.concatenate([written_weights(written_y), np.full(len(train), real_weight)])

    everything = np.arange(len(y))
    fit_idx, cal_idx = train_test_split(everything, test_size=CALIBRATION_SHARE, random_state=0, stratify=y)

    def fit_linear(kind: str, x: Any, w: Any, idx: Any, c: float) -> tuple[Any, Any]:
        """(coef (n_features, n_classes), intercept) of a one-vs-rest linear model."""
        xs, ws, ys = x[idx], w[idx], y[idx]
        if kind == "sgd":
            from sklearn.linear_model import SGDClassifier

            m = SGDClassifier(loss="modified_huber", alpha=2e-5, max_iter=30, tol=None, random_state=0)
            m.fit(xs, ys, sample_weight=ws)
            return m.coef_.T, m.intercept_
        if kind == "cnb":
            from sklearn.naive_bayes import ComplementNB

            m = ComplementNB(alpha=0.3).fit(xs, ys, sample_weight=ws)
            coef = m.feature_log_prob_.T
            return coef - coef.mean(1, keepdims=True), np.zeros(len(classes))
        if kind == "svm":
            m = LinearSVC(C=c).fit(xs, ys, sample_weight=ws)
            return m.coef_.T, m.intercept_
        binary = xs.copy()
        binary.data[:] = 1.0
        coefs, bias = [], []
        for cl in classes:
            pos = ys == cl
            p = 1.0 + np.asarray(binary[pos].multiply(ws[pos][:, None]).sum(0)).ravel()
            q = 1.0 + np.asarray(binary[~pos].multiply(ws[~pos][:, None]).sum(0)).ravel()
            ratio = np.log((p / p.sum()) / (q / q.sum()))
            m = LinearSVC(C=c).fit(xs.multiply(ratio).tocsr(), pos.astype(int), sample_weight=ws)
            coefs.append(m.coef_.ravel() * ratio)
            bias.append(m.intercept_[0])
        return np.array(coefs).T, np.array(bias)

    def calibrate(name: str, d_cal: Any, y_cal: Any, w_cal: Any, d: Any) -> Any:
        if name == "platt":
            a, b = _platt(d_cal, y_cal, classes, w_cal)
            p = 1.0 / (1.0 + np.exp(a * d + b))
            return p / p.sum(1, keepdims=True)
        if name == "multinomial":
            return LogisticRegression(max_iter=2000).fit(d_cal, y_cal, sample_weight=w_cal).predict_proba(d)
        yi = np.searchsorted(classes, y_cal)

        def softmax(z: Any) -> Any:
            z = z - z.max(1, keepdims=True)
            e = np.exp(z)
            return e / e.sum(1, keepdims=True)

        def nll(log_t: float) -> float:
            return float(-(w_cal * np.log(softmax(d_cal * np.exp(log_t))[np.arange(len(yi)), yi] + 1e-12)).sum())

        return softmax(d * np.exp(minimize_scalar(nll, bounds=(-3, 5), method="bounded").x))

    print(f"fold {args.fold}: {len(texts)} training messages ({n_written} hand-written), {len(held)} held out")
    for name in args.variants.split(","):
        real_weight, c, word_hi, char, kind, calibrators = VARIANTS[name]
        t0 = time.perf_counter()
        x, xt = features(word_hi, char)
        w = sample_weight(real_weight)
        members = kind.split("+")
        out = []
        for cal in calibrators:
            probs = []
            for member in members:
                mc = 0.1 if member == "nbsvm" else c
                coef, bias = fit_linear(member, x, w, fit_idx, mc)
                d_cal = np.asarray(x[cal_idx] @ coef + bias)
                coef, bias = fit_linear(member, x, w, everything, mc)
                d = np.asarray(xt @ coef + bias)
                probs.append(calibrate(cal, d_cal, y[cal_idx], w[cal_idx], d))
            p = np.mean(probs, axis=0)
            pred = np.array(classes)[p.argmax(1)]
            conf = p.max(1)
            right = pred == y_held
            band = (conf >= 0.8) & (conf < 0.9)
            out.append(
                f"{cal}: understood {np.mean(right & (conf >= 0.5)):.4f} top {np.mean(right):.4f} "
                f"fallback {np.mean(conf < 0.5):.3f} 0.8-0.9 right {np.mean(right[band]):.3f}"
            )
            if args.sweep:
                out.append("understood at " + " ".join(f"{th}:{np.mean(right & (conf >= th)):.4f}" for th in SWEEP))
                bins = []
                for lo in np.arange(0.1, 1.0, 0.1):
                    sel = (conf >= lo) & (conf < lo + 0.1 + (1e-9 if lo > 0.85 else 0))
                    bins.append(f"{lo:.1f}-{lo + 0.1:.1f}: {np.mean(right[sel]) if sel.any() else float('nan'):.3f} "
                                f"(n {int(sel.sum())})")
                out.append("reliability " + ", ".join(bins))
        print(f"{name} {VARIANTS[name][:5]}: " + " | ".join(out) + f" ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
