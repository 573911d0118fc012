"""Round-4 calibration study (not a test): confidence calibration and fallback policies, compared honestly.

    .venv/bin/python -m tests.nlu.calibration_study [--folds 5]

For every outer fold of the same stratified 5-fold split ``reporta nlu evaluate --cv 5`` uses, the model is fitted
on the training part (:func:`nlu.model.fit`); the SVM's out-of-fold decision values on the training part (inner
3-fold ``cross_val_predict``, as ``CalibratedClassifierCV(ensemble=False)`` does) fit each calibrator, and the test
part is scored with the parser's own rules (exact-match table, "no known word" fallback, threshold).  Held-out sets
are scored by a model fitted on all the training data with calibrators fitted the same way.  ``nlu_fallback`` is
always scored as ``out_of_scope``.

Calibrators: ``sigmoid`` (one-vs-rest Platt, normalised: the shipped one), ``isotonic`` (one-vs-rest, normalised),
``temp`` (softmax of decision / T, one T by NLL), ``temp_bias`` (softmax of decision / T + per-class bias).
Policies: a single threshold, or a lower threshold for 1–3-word messages whose top intent is conversational and
that match that intent's conversational lexicon / an exact training example.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from nlu.api import CONVERSATION_INTENTS, FALLBACK_INTENT, SERVICE_INTENTS
from nlu.data import load_training_data, read_labelled
from nlu.encoder import shared
from nlu.evaluate import score
from nlu.model import BuiltinParser, FastScorer, fit, prepare
from reporta.settings import DEFAULT_DATA_DIR
from tests.nlu.heldout import read_tagged

DATA = Path(__file__).parent / "data"
HELDOUT = ("dev.yml", "dev_short.tsv", "dev2.yml", "dev3.yml", "dev4.yml")
BUCKETS = ((1, 3), (4, 8), (9, 10_000))


# ---------------------------------------------------------------------------------------------- calibrators
def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_calibrators(dec: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    """Calibrators fitted on out-of-fold decision values ``dec`` (n, k) with integer labels ``y``."""
    from scipy.optimize import minimize
    from sklearn.calibration import _SigmoidCalibration
    from sklearn.isotonic import IsotonicRegression

    onehot = np.eye(n_classes)[y]
    sig = [_SigmoidCalibration().fit(dec[:, k], onehot[:, k]) for k in range(n_classes)]
    iso = [IsotonicRegression(out_of_bounds="clip").fit(dec[:, k], onehot[:, k]) for k in range(n_classes)]

    def nll_t(p: np.ndarray) -> float:
        pr = _softmax(dec / np.exp(p[0]))
        return -float(np.log(pr[np.arange(len(y)), y] + 1e-12).mean())

    t = float(np.exp(minimize(nll_t, [np.log(0.3)], method="L-BFGS-B").x[0]))

    def nll_tb(p: np.ndarray) -> float:
        pr = _softmax(dec / np.exp(p[0]) + p[1:])
        return -float(np.log(pr[np.arange(len(y)), y] + 1e-12).mean()) + 1e-3 * float(np.dot(p[1:], p[1:]))

    res = minimize(nll_tb, np.r_[np.log(t), np.zeros(n_classes)], method="L-BFGS-B")
    return {
        "sigmoid": lambda d: _norm(np.column_stack([c.predict(d[:, k]) for k, c in enumerate(sig)])),
        "isotonic": lambda d: _norm(np.column_stack([c.predict(d[:, k]) for k, c in enumerate(iso)])),
        "temp": lambda d, t=t: _softmax(d / t),
        "temp_bias": lambda d, p=res.x: _softmax(d / np.exp(p[0]) + p[1:]),
    }


def _norm(p: np.ndarray) -> np.ndarray:
    s = p.sum(axis=1, keepdims=True)
    s[s == 0] = 1.0
    out = p / s
    out[p.sum(axis=1) == 0] = 1.0 / p.shape[1]
    return out


def oof_decisions(model, texts: list[str], labels: list[str], folds: int = 3) -> np.ndarray:
    """Out-of-fold SVM decision values on the training texts, as CalibratedClassifierCV(ensemble=False) uses."""
    from scipy import sparse
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.svm import LinearSVC

    from nlu.model import SVM_C, prepare

    sk = model.sklearn
    w = model.weights
    texts_norm = [prepare(t) for t in texts]
    rows, cols = [], []
    for r, t in enumerate(texts_norm):
        for tag in model.lexicon.tags(t):
            rows.append(r)
            cols.append(sk["tags"][tag])
    tags = sparse.csr_matrix(
        (np.full(len(rows), w.tag_weight), (rows, cols)), shape=(len(texts_norm), max(1, len(sk["tags"])))
    )
    from sklearn.preprocessing import normalize as l2

    blocks = [l2(vec.transform(texts_norm)[:, kept]) for vec, kept in (sk["char"], sk["word"])]  # round 7: pruned
    x = sparse.hstack([*blocks, tags]).tocsr()
    cv = StratifiedKFold(folds)  # CalibratedClassifierCV's default splitter for an int cv on a classifier
    return cross_val_predict(
        LinearSVC(C=SVM_C, class_weight="balanced"), x, labels, cv=cv, method="decision_function"
    )


# ---------------------------------------------------------------------------------------------- scoring rows
class Row:
    __slots__ = ("dec", "exact", "gold", "known", "tags", "text", "words")

    def __init__(self, text, gold, dec, exact, known, words, tags):
        self.text, self.gold, self.dec, self.exact, self.known, self.words, self.tags = (
            text, gold, dec, exact, known, words, tags,
        )


def rows_for(model, examples: list[tuple[str, str]]) -> list[Row]:
    parser = BuiltinParser(model, threshold=0.0)
    scorer = FastScorer(model.weights)
    out = []
    for text, gold in examples:
        norm = prepare(text)
        tags = model.lexicon.tags(norm)
        vector = shared().vector(text) if scorer.reads_vectors else None
        dec = scorer.decision(norm, tags, vector) if norm.split() else model.weights.intercept.copy()
        _, known = parser.rank(text)
        out.append(Row(text, gold, dec, model.exact.get(norm), known and bool(norm.split()), len(text.split()), tags))
    return out


def predict(rows: list[Row], classes: list[str], cal, policy: dict) -> tuple[list[str], list[float]]:
    """Intent and confidence per row under calibrator ``cal`` (or a probability matrix) and fallback ``policy``."""
    proba = cal if isinstance(cal, np.ndarray) else cal(np.vstack([r.dec for r in rows]))
    out, confs = [], []
    for r, p in zip(rows, proba, strict=True):
        j = int(np.argmax(p))
        intent, conf = classes[j], float(p[j])
        if r.exact is not None:
            intent, conf = r.exact, max(0.98, float(p[classes.index(r.exact)]))
        thr = policy["threshold"]
        if intent in SERVICE_INTENTS and policy.get("service_threshold") is not None:
            thr = policy["service_threshold"]
        if (
            policy.get("short_threshold") is not None
            and r.words <= 3
            and intent in CONVERSATION_INTENTS
            and intent != "out_of_scope"
            and (f"kw_{intent}" in r.tags or r.exact == intent)
        ):
            thr = policy["short_threshold"]
        understood = r.known and conf >= thr
        out.append(intent if understood else FALLBACK_INTENT)
        confs.append(conf)
    return out, confs


def ece_by_bucket(rows: list[Row], classes: list[str], cal) -> dict[str, tuple[float, int]]:
    """Expected calibration error of the top confidence (10 equal-width bins), per message-length bucket."""
    preds, confs = predict(rows, classes, cal, {"threshold": 0.0})
    res = {}
    for lo, hi in BUCKETS:
        idx = [i for i, r in enumerate(rows) if lo <= r.words <= hi]
        c = np.array([confs[i] for i in idx])
        ok = np.array([preds[i] == rows[i].gold for i in idx], dtype=float)
        bins = np.minimum((c * 10).astype(int), 9)
        ece = sum(abs(ok[bins == b].mean() - c[bins == b].mean()) * (bins == b).sum() for b in range(10) if
                  (bins == b).any()) / max(1, len(idx))
        res[f"{lo}-{hi if hi < 10_000 else '+'}"] = (float(ece), len(idx))
    return res


def reliability(rows: list[Row], classes: list[str], cal, lo: int, hi: int) -> list[tuple[str, int, float, float]]:
    preds, confs = predict(rows, classes, cal, {"threshold": 0.0})
    idx = [i for i, r in enumerate(rows) if lo <= r.words <= hi]
    out = []
    for b0 in np.arange(0.0, 1.0, 0.1):
        sel = [i for i in idx if b0 <= confs[i] < b0 + 0.1 or (b0 >= 0.9 and confs[i] >= 1.0)]
        if sel:
            out.append((f"{b0:.1f}-{b0 + 0.1:.1f}", len(sel), float(np.mean([confs[i] for i in sel])),
                        float(np.mean([preds[i] == rows[i].gold for i in sel]))))
    return out


def fallback_rate(rows: list[Row], preds: list[str]) -> float:
    svc = [p for r, p in zip(rows, preds, strict=True) if r.gold in SERVICE_INTENTS]
    return sum(p == FALLBACK_INTENT for p in svc) / max(1, len(svc))


def main() -> None:
    from sklearn.model_selection import StratifiedKFold

    ap = argparse.ArgumentParser()
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--methods", default="", help="comma-separated calibrators for the policy table (default all)")
    args = ap.parse_args()
    argv_methods = tuple(m for m in args.methods.split(",") if m)
    nlu_dir = DEFAULT_DATA_DIR / "nlu"
    data = load_training_data(nlu_dir)
    texts = [t for t, _ in data.examples]
    gold = [y for _, y in data.examples]
    t0 = time.perf_counter()
    cv_rows: list[Row | None] = [None] * len(texts)
    methods = ("sigmoid", "isotonic", "temp", "temp_bias")
    cv_proba = {m: [None] * len(texts) for m in methods}
    for train_idx, test_idx in StratifiedKFold(args.folds, shuffle=True, random_state=0).split(texts, gold):
        ex = [data.examples[i] for i in train_idx]
        model = fit(ex, data.lookups)
        classes = model.classes
        dec = oof_decisions(model, [t for t, _ in ex], [y for _, y in ex])
        cals = fit_calibrators(dec, np.array([classes.index(y) for _, y in ex]), len(classes))
        rows = rows_for(model, [data.examples[i] for i in test_idx])
        decs = np.vstack([r.dec for r in rows])
        probas = {m: cals[m](decs) for m in methods}
        for k, (i, r) in enumerate(zip(test_idx, rows, strict=True)):
            cv_rows[i] = r
            for m in methods:
                cv_proba[m][i] = probas[m][k]
    full = fit(data.examples, data.lookups)
    classes = full.classes
    dec = oof_decisions(full, texts, gold)
    full_cals = fit_calibrators(dec, np.array([classes.index(y) for y in gold]), len(classes))
    held = {}
    for name in HELDOUT:
        path = DATA / name
        ex = read_labelled(path) if name.endswith(".tsv") else [(t, y) for t, y, _ in read_tagged(path)]
        held[name] = rows_for(full, ex)
    print(f"(fits and decisions: {time.perf_counter() - t0:.0f} s)")

    cv_mat = {m: np.vstack(cv_proba[m]) for m in methods}

    def cv_predict(method: str, policy: dict):
        # each cv row was calibrated with its own fold's calibrator
        return predict(cv_rows, classes, cv_mat[method], policy)

    print("\n== ECE of the top confidence by message length (words), cv out-of-fold / dev3+dev4")
    for m in methods:
        # cv: per-fold calibrators, so compute per row
        conf_ok = ece_by_bucket(cv_rows, classes, cv_mat[m])
        ho = ece_by_bucket(held["dev3.yml"] + held["dev4.yml"], classes, full_cals[m])
        print(f"{m:<10} cv " + "  ".join(f"{k}w: {v[0]:.3f} (n={v[1]})" for k, v in conf_ok.items())
              + " | held-out " + "  ".join(f"{k}w: {v[0]:.3f} (n={v[1]})" for k, v in ho.items()))

    print("\n== reliability, cv out-of-fold, 1-3 words (bin, n, mean confidence, accuracy)")
    for m in methods:
        preds, confs = cv_predict(m, {"threshold": 0.0})
        for lo, hi in ((1, 3), (9, 10_000)):
            idx = [i for i, r in enumerate(cv_rows) if lo <= r.words <= hi]
            line = []
            for b in range(10):
                sel = [i for i in idx if min(int(confs[i] * 10), 9) == b]
                if sel:
                    acc = np.mean([preds[i] == cv_rows[i].gold for i in sel])
                    line.append(f"{b / 10:.1f}:{len(sel)}/{np.mean([confs[i] for i in sel]):.2f}/{acc:.2f}")
            print(f"{m:<10} {lo}-{hi if hi < 10_000 else '+'}w  " + " ".join(line))

    print("\n== policies: cv macro-F1 | cv service fallback | held-out accuracy | held-out service fallback")
    policies = []
    for m in argv_methods or methods:
        for thr in (0.0, 0.2, 0.3, 0.4, 0.5, 0.6):
            policies.append((m, {"threshold": thr}))
        for thr, sthr in ((0.5, 0.3), (0.5, 0.0), (0.4, 0.2)):
            policies.append((m, {"threshold": thr, "short_threshold": sthr}))
        for thr, svc in ((0.5, 0.4), (0.5, 0.3), (0.4, 0.3), (0.6, 0.4)):
            policies.append((m, {"threshold": thr, "service_threshold": svc}))
    header = (
        f"{'calibration':<10} {'policy':<14} {'cv F1':>6} {'cv fb':>6} "
        + " ".join(f"{n.split('.')[0]:>9}" for n in HELDOUT)
        + f" {'ho fb':>6} {'oos F1':>6} {'cv wrong acc svc/conv':>22} {'ho wrong acc':>12}"
    )
    print(header)
    for m, pol in policies:
        preds, _ = cv_predict(m, pol)
        rep = score(texts, gold, preds, 0.0)
        fb = fallback_rate(cv_rows, preds)
        accs, ho_fb_n, ho_fb_d = [], 0, 0
        for name in HELDOUT:
            rows = held[name]
            p, _ = predict(rows, classes, full_cals[m], pol)
            accs.append(score([r.text for r in rows], [r.gold for r in rows], p, 0.0).accuracy)
            for r, q in zip(rows, p, strict=True):
                if r.gold in SERVICE_INTENTS:
                    ho_fb_d += 1
                    ho_fb_n += q == FALLBACK_INTENT
        pname = f"t={pol['threshold']}" + (f",s={pol['short_threshold']}" if "short_threshold" in pol else "") + (
            f",svc={pol['service_threshold']}" if "service_threshold" in pol else "")
        wsvc = sum(q in SERVICE_INTENTS and q != r.gold for r, q in zip(cv_rows, preds, strict=True))
        wconv = sum(q not in SERVICE_INTENTS and q != FALLBACK_INTENT and q != r.gold
                    for r, q in zip(cv_rows, preds, strict=True))
        ho_wrong = 0
        for name in HELDOUT:
            p, _ = predict(held[name], classes, full_cals[m], pol)
            ho_wrong += sum(q != FALLBACK_INTENT and q != r.gold for r, q in zip(held[name], p, strict=True))
        print(f"{m:<10} {pname:<14} {rep.macro_f1:6.4f} {fb:6.3f} " + " ".join(f"{a:9.3f}" for a in accs)
              + f" {ho_fb_n / ho_fb_d:6.3f} {rep.per_label['out_of_scope']['f1']:6.3f}"
              + f" {wsvc:>14}/{wconv:<7} {ho_wrong:>12}")


if __name__ == "__main__":
    main()
