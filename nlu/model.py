"""The builtin (in-process) NLU engine: training, the on-disk model cache, and parsing.

Classifier: TF-IDF over character n-grams (2–5, word-bounded) and word uni/bi-grams of the normalised text
(:mod:`nlu.normalize`), plus one weighted indicator feature per topic lexicon (``kw_*`` lookup tables,
:mod:`nlu.features`), plus (round 11) the 512 dimensions of a pretrained multilingual sentence encoder's vector of
the message (:mod:`nlu.encoder`: what the sentence means, beyond the words our data has), a linear SVM, and
sigmoid (Platt) calibration by cross-validation so that confidences mean something and a fallback threshold can be
applied.  Very short messages that match a training example exactly
("si", "no", "1", "menu") take that example's intent.  Messages with no known word at all are not understood.

Training uses scikit-learn; parsing does not.  The fitted vocabularies, idf weights, SVM coefficients and sigmoid
calibrators are exported as plain arrays and JSON (``builtin-<hash>.npz`` under the cache directory, loaded with
``allow_pickle=False``) and :class:`FastScorer` does the same arithmetic as scikit-learn's ``predict_proba`` with
numpy alone, so a process that only parses never imports scikit-learn or SciPy (≈ 100 MB less resident memory;
the encoder, numpy too, adds ≈ 150 MB once per process).
The hash covers the training data files and ``MODEL_VERSION``; nothing is written to the repository.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from nlu import acts
from nlu import encoder as sentence_encoder
from nlu import entities as entity_rules
from nlu.data import REAL_ATTRIBUTION, NluData, load_training_data, training_files
from nlu.features import Lexicon
from nlu.normalize import normalize, truncate
from nlu.types import FALLBACK_INTENT, FALLBACK_THRESHOLD, SERVICE_INTENTS, Parse

MODEL_VERSION = "10"
#: Messages of at most this many normalised tokens may be answered from the exact-match table.
EXACT_MAX_TOKENS = 4
#: Length of the prefix a word must share with a training word to count as known (see ``BuiltinParser``).
KNOWN_PREFIX = 5
RANKING_SIZE = 5
CHAR_NGRAMS = (2, 5)
WORD_NGRAMS = (1, 2)
#: Weight of one lexicon tag (``kw_*``) relative to the L2-normalised character and word blocks.
TAG_WEIGHT = 0.3
SVM_C = 0.5
#: Weight of the sentence encoder's (L2-normalised) vector beside the character and word blocks (round 11).
ENCODER_WEIGHT = 1.0
#: Weight of one real report (``data/nlu/real``) relative to the hand-written examples, which are balanced per intent.
REAL_WEIGHT = 0.25
#: Hand-written examples are balanced per intent (``n / (k * n_intent)``) with this floor per example (round 9): an
#: intent with more examples than the average (pothole, after the road-damage examples of round 9) keeps 1.0 per
#: example instead of being scaled down to the same total as every other intent, so new examples add weight.
WRITTEN_WEIGHT_FLOOR = 1.0
#: Words of the real reports that count as known: those in at least this many reports.
REAL_MIN_DF = 3
#: N-grams kept: those in at least ``MIN_DF`` messages, or in any hand-written example.
MIN_DF = 2
#: Share of the training data held out to fit the sigmoid calibrators.
CALIBRATION_SHARE = 0.2
#: Round 4 accepted service categories this much below the fallback threshold; round 7 removed the margin (the
#: threshold is respected everywhere; the dialogue offers the ranking's candidates instead). Kept for importers.
SERVICE_THRESHOLD_MARGIN = 0.0

#: Words that say where or that something is, never what: function words (``VAGUE_GLUE``) and place or vague nouns
#: (``VAGUE_NOUNS``: casa, calle, esquina, algo raro...).  A message made of these words only, with at least one of
#: the nouns ("por mi casa", "en la esquina de mi casa", "hay algo raro en mi calle"), is a fragment of a place or of
#: a report with nothing in it to act on: not understood (unless it is a training example verbatim), instead of
#: confidently ``out_of_scope`` because "mi casa" occurs there.  "esa es", "de una" (no noun) are not affected.
VAGUE_GLUE = (
    "a al el la los las lo un una unos unas de del en por para con sobre mi mis tu su sus nuestra nuestro y o que "
    "es esta ahi aqui aca alla cerca frente enfrente junto lado atras hay este esa ese esto "
    # Round 9: hedges ("no sé, algo de la calle", "ni idea, algo por aquí") are no more a report than the rest.
    "no se ni idea"
)
VAGUE_NOUNS = (
    "algo raro rara extraño extraña cosa cosas casa casita calle calles esquina cuadra colonia col barrio "
    "fraccionamiento privada avenida cerrada andador manzana domicilio rumbo zona"
)
_NUMBER_TOKENS = frozenset({"num", "folionum"})
#: Confidences of a message with no known word (or only vague words) are multiplied by this (round 7).
UNKNOWN_DAMPING = 0.1
#: Appended to the classifier's text of a message with "?" or "¿" (round 6), which normalisation drops: questions
#: ("ya vinieron?" check_status vs "ya vinieron y lo arreglaron" affirm, "puedo mandar foto?" help vs "no puedo
#: mandar foto" deny).  As a token (char n-grams + word bigrams such as "binieron qmark") it was worth +0.002-0.004 cv
#: macro-F1; as a plain indicator feature nothing.  It is not a word: it never makes a message "known", and a
#: message of question marks only ("?", "???") is just this token (help, from its training examples).
QUESTION_TOKEN = "qmark"
_WHITESPACE = re.compile(r"\s\s+")
_WORD_TOKEN = re.compile(r"(?u)\b\w+\b")


def char_wb_ngrams(text: str, lo: int = CHAR_NGRAMS[0], hi: int = CHAR_NGRAMS[1]) -> list[str]:
    """Character n-grams inside word boundaries, exactly as scikit-learn's ``analyzer="char_wb"``."""
    out: list[str] = []
    append = out.append
    for w in _WHITESPACE.sub(" ", text).split():
        w = f" {w} "
        wl = len(w)
        for n in range(lo, hi + 1):
            offset = 0
            append(w[0:n])
            while offset + n < wl:
                offset += 1
                append(w[offset : offset + n])
            if offset == 0:
                break
    return out


def word_ngrams(text: str, lo: int = WORD_NGRAMS[0], hi: int = WORD_NGRAMS[1]) -> list[str]:
    """Word n-grams, exactly as scikit-learn's ``analyzer="word"`` with ``token_pattern=r"(?u)\\b\\w+\\b"``."""
    tokens = _WORD_TOKEN.findall(text)
    if hi == 1:
        return tokens
    out = list(tokens) if lo == 1 else []
    n_tok = len(tokens)
    for n in range(max(lo, 2), min(hi, n_tok) + 1):
        out.extend(" ".join(tokens[i : i + n]) for i in range(n_tok - n + 1))
    return out


@dataclass
class Weights:
    """The fitted classifier as plain data: what :class:`FastScorer` needs, nothing from scikit-learn."""

    classes: list[str]
    char_vocab: list[str]
    word_vocab: list[str]
    tags: list[str]
    char_idf: Any  # (n_char,) float64
    word_idf: Any  # (n_word,) float64
    coef: Any  # (n_char + n_word + n_tags, n_classes) float32: SVM coefficients, transposed
    intercept: Any  # (n_classes,) float64
    cal_a: Any  # (n_classes,) float64: sigmoid calibrator slopes
    cal_b: Any  # (n_classes,) float64
    tag_weight: float = TAG_WEIGHT
    #: Rows of ``coef`` after the tags that read the sentence encoder's vector (0: a model without it).
    n_dense: int = 0
    dense_weight: float = ENCODER_WEIGHT


@dataclass
class BuiltinModel:
    """Everything the builtin parser needs; saved as arrays + JSON, never pickled."""

    weights: Weights
    classes: list[str]
    exact: dict[str, str]
    vocabulary: frozenset[str]
    data_hash: str = ""
    train_seconds: float = 0.0
    n_examples: int = 0
    lookups: dict[str, list[str]] = field(default_factory=dict)
    lexicon: Lexicon | None = None
    #: Attribution of the real reports trained on ("Fuente: Ayuntamiento de Madrid"), saved with the model.
    attribution: str = ""
    #: The fitted scikit-learn objects (vectorizers, calibrated SVM) right after training; ``None`` once loaded.
    sklearn: Any = None


def _tag_names(lookups: dict[str, list[str]]) -> list[str]:
    from nlu.features import LEXICON_PREFIX

    return sorted(name for name in lookups if name.startswith(LEXICON_PREFIX))


def encoder_text(text: str) -> str:
    """What the sentence encoder reads of a training message: the message as written, place names masked, cut as
    the parser cuts it (:func:`nlu.normalize.truncate`)."""
    return truncate(acts.mask_places(text))


def prepare(text: str) -> str:
    """The text the classifier sees: :func:`nlu.normalize.normalize`, plus ``QUESTION_TOKEN`` for a question."""
    norm = normalize(text)
    if "?" in text or "¿" in text:
        return f"{norm} {QUESTION_TOKEN}" if norm else QUESTION_TOKEN
    return norm



def _block(vec: Any, texts: list[str], keep_rows: Any) -> tuple[Any, Any, list[str], Any]:
    """One TF-IDF block (sublinear tf, idf, no norm yet) pruned to the n-grams seen in two messages or in one
    hand-written example (``keep_rows``), then L2-normalised per row: what :class:`FastScorer` recomputes."""
    import numpy as np
    from sklearn.preprocessing import normalize as l2

    x = vec.fit_transform(texts).tocsc()
    df = np.diff(x.indptr)
    in_written = np.asarray((x[keep_rows] != 0).sum(axis=0)).ravel() > 0
    cols = np.flatnonzero((df >= MIN_DF) | in_written)
    vocab = _vocab_list(vec.vocabulary_)
    x = l2(x[:, cols].tocsr())
    return x, np.asarray(vec.idf_, dtype=np.float64)[cols], [vocab[j] for j in cols], cols


def _platt(decision: Any, y: Any, classes: list[str], weight: Any) -> tuple[Any, Any]:
    """Per-class sigmoid p = 1 / (1 + exp(a d + b)) fitted on held-out decision values (Platt scaling)."""
    from sklearn.linear_model import LogisticRegression

    a, b = np.zeros(len(classes)), np.zeros(len(classes))
    for k, c in enumerate(classes):
        target = (y == c).astype(int)
        if target.min() == target.max():
            a[k], b[k] = -1.0, 0.0
            continue
        lr = LogisticRegression(C=1e4).fit(decision[:, k : k + 1], target, sample_weight=weight)
        a[k], b[k] = -float(lr.coef_[0, 0]), -float(lr.intercept_[0])
    return a, b


def fit(
    examples: list[tuple[str, str]],
    lookups: dict[str, list[str]] | None = None,
    real: list[tuple[str, str]] | None = None,
    *,
    real_weight: float | None = None,
    c: float | None = None,
    vectors: sentence_encoder.VectorFn | None = None,
    encoder: bool | None = None,
) -> BuiltinModel:
    """Train a model on hand-written (text, intent) pairs plus real reports (imports scikit-learn).

    Hand-written examples are weighted so that each intent has the same total weight (``class_weight="balanced"``
    over them, as before); a real report weighs ``REAL_WEIGHT``.  Calibration: the SVM is fitted on
    ``1 - CALIBRATION_SHARE`` of the data, per-class sigmoids on its decision values for the rest, then the SVM is
    refitted on everything (two fits instead of ``CalibratedClassifierCV``'s four).
    ``encoder`` (default: when ``vectors`` are given) adds the sentence encoder's block; ``vectors`` gives its vectors
    of the messages (default: the shared encoder, :mod:`nlu.encoder`; :func:`train` and cross-validation pass cached
    or precomputed ones).
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.model_selection import train_test_split
    from sklearn.svm import LinearSVC

    t0 = time.perf_counter()
    real = list(real or [])
    real_weight = REAL_WEIGHT if real_weight is None else real_weight
    c = SVM_C if c is None else c
    lookups = dict(lookups or {})
    lexicon = Lexicon(lookups)
    # Place names do not vote: the classifier learns from (and reads) messages with their sure places blanked.
    masked = [acts.mask_places(t) for t, _ in examples] + [acts.mask_places(t) for t, _ in real]
    texts = [prepare(t) for t in masked]
    written = texts[: len(examples)]
    labels = [y for _, y in examples] + [y for _, y in real]
    n_written = len(written)
    keep_rows = np.arange(n_written)
    char_vec = TfidfVectorizer(analyzer=char_wb_ngrams, sublinear_tf=True, lowercase=False, norm=None)
    word_vec = TfidfVectorizer(analyzer=word_ngrams, sublinear_tf=True, lowercase=False, norm=None)
    x_char, char_idf, char_vocab, char_cols = _block(char_vec, texts, keep_rows)
    x_word, word_idf, word_vocab, word_cols = _block(word_vec, texts, keep_rows)
    tag_names = _tag_names(lookups)
    tag_index = {t: i for i, t in enumerate(tag_names)}
    rows, cols = [], []
    for r, t in enumerate(texts):
        for tag in lexicon.tags(t):
            rows.append(r)
            cols.append(tag_index[tag])
    tags = sparse.csr_matrix(
        (np.full(len(rows), TAG_WEIGHT), (rows, cols)), shape=(len(texts), max(1, len(tag_names)))
    )
    blocks = [x_char, x_word, tags]
    n_dense = 0
    if vectors is not None if encoder is None else encoder:
        encode = vectors or sentence_encoder.shared().encode
        dense = np.asarray(encode([truncate(t) for t in masked]), dtype=np.float64) * ENCODER_WEIGHT
        blocks.append(sparse.csr_matrix(dense))
        n_dense = dense.shape[1]
    x = sparse.hstack(blocks).tocsr()
    y = np.asarray(labels)
    # Sample weights: hand-written examples balanced per intent (with a floor), real reports REAL_WEIGHT each.
    weight = np.concatenate([written_weights(labels[:n_written]), np.full(len(real), real_weight)])
    classes = sorted(set(labels))

    def svm(idx: Any) -> Any:
        model = LinearSVC(C=c)
        model.fit(x[idx], y[idx], sample_weight=weight[idx])
        return model

    everything = np.arange(len(labels))
    fit_idx, cal_idx = train_test_split(
        everything, test_size=CALIBRATION_SHARE, random_state=0, stratify=_stratify(labels)
    )
    first = svm(fit_idx)
    if [str(cl) for cl in first.classes_] != classes:
        raise RuntimeError("a class is missing from the calibration split")
    cal_a, cal_b = _platt(_decision_matrix(first, x[cal_idx], classes), y[cal_idx], classes, weight[cal_idx])
    final = svm(everything)
    coef = np.asarray(final.coef_, dtype=np.float64)
    intercept = np.atleast_1d(np.asarray(final.intercept_, dtype=np.float64))
    if len(classes) == 2:  # binary LinearSVC: one decision function for the positive class
        coef = np.vstack([-coef[0], coef[0]])
        intercept = np.array([-intercept[0], intercept[0]])
    weights = Weights(
        classes=classes,
        char_vocab=char_vocab,
        word_vocab=word_vocab,
        tags=tag_names,
        char_idf=char_idf,
        word_idf=word_idf,
        coef=np.ascontiguousarray(coef.T, dtype=np.float32),
        intercept=intercept,
        cal_a=cal_a,
        cal_b=cal_b,
        tag_weight=TAG_WEIGHT,
        n_dense=n_dense,
        dense_weight=ENCODER_WEIGHT,
    )
    by_text: dict[str, set[str]] = defaultdict(set)
    for t, lab in zip(written, labels[:n_written], strict=True):
        if 0 < len(t.split()) <= EXACT_MAX_TOKENS:
            by_text[t].add(lab)
    exact = {t: next(iter(ys)) for t, ys in by_text.items() if len(ys) == 1}
    # Words that make a message "known": every word of a hand-written example, and the words of at least
    # ``REAL_MIN_DF`` real reports (one resident's typo or keyboard mash, "bnm", is no word).
    real_df: dict[str, int] = defaultdict(int)
    for t in texts[n_written:]:
        for tok in set(t.split()):
            real_df[tok] += 1
    vocabulary = frozenset(tok for t in written for tok in t.split()) | frozenset(
        tok for tok, n in real_df.items() if n >= REAL_MIN_DF
    )
    return BuiltinModel(
        weights=weights,
        classes=classes,
        exact=exact,
        vocabulary=vocabulary,
        train_seconds=time.perf_counter() - t0,
        n_examples=len(labels),
        lookups=lookups,
        lexicon=lexicon,
        sklearn={"char": (char_vec, char_cols), "word": (word_vec, word_cols), "tags": tag_index, "clf": final},
    )


def written_weights(labels: list[str], floor: float | None = None) -> Any:
    """Per hand-written example: ``max(n / (k * n_intent), WRITTEN_WEIGHT_FLOOR)`` (balanced per intent, floored)."""
    floor = WRITTEN_WEIGHT_FLOOR if floor is None else floor
    counts: dict[str, int] = defaultdict(int)
    for lab in labels:
        counts[lab] += 1
    k = max(1, len(counts))
    return np.array([max(len(labels) / (k * counts[lab]), floor) for lab in labels], dtype=np.float64)


def _stratify(labels: list[str]) -> list[str] | None:
    counts = defaultdict(int)
    for lab in labels:
        counts[lab] += 1
    return labels if min(counts.values()) >= 2 else None


def _decision_matrix(model: Any, x: Any, classes: list[str]) -> Any:
    d = model.decision_function(x)
    if d.ndim == 1:
        d = np.column_stack([-d, d])
    return d


def _vocab_list(vocab: dict[str, int]) -> list[str]:
    out = [""] * len(vocab)
    for gram, j in vocab.items():
        out[j] = gram
    return out


def sklearn_predict_proba(model: BuiltinModel, text: str) -> Any:
    """scikit-learn's own probabilities for one message (tests and checks only; needs a fresh model)."""
    from scipy import sparse

    sk = model.sklearn
    norm = prepare(text)
    tags = np.zeros((1, max(1, len(sk["tags"]))))
    for tag in model.lexicon.tags(norm) if model.lexicon else []:
        tags[0, sk["tags"][tag]] = model.weights.tag_weight
    from sklearn.preprocessing import normalize as l2

    blocks = [l2(vec.transform([norm])[:, cols]) for vec, cols in (sk["char"], sk["word"])]
    blocks.append(sparse.csr_matrix(tags))
    if model.weights.n_dense:
        blocks.append(sparse.csr_matrix(sentence_encoder.shared()([text]) * model.weights.dense_weight))
    x = sparse.hstack(blocks).tocsr()
    d = _decision_matrix(sk["clf"], x, model.classes)[0]
    p = 1.0 / (1.0 + np.exp(model.weights.cal_a * d + model.weights.cal_b))
    return p / p.sum()


def save_model(model: BuiltinModel, path: Path) -> None:
    """Write the model as one ``.npz`` of arrays plus a JSON header (no pickle)."""
    w = model.weights
    meta = {
        "format": MODEL_VERSION,
        "classes": w.classes,
        "char_vocab": w.char_vocab,
        "word_vocab": w.word_vocab,
        "tags": w.tags,
        "tag_weight": w.tag_weight,
        "n_dense": w.n_dense,
        "dense_weight": w.dense_weight,
        "encoder": sentence_encoder.encoder_id() if w.n_dense else "",
        "exact": model.exact,
        "vocabulary": sorted(model.vocabulary),
        "data_hash": model.data_hash,
        "train_seconds": model.train_seconds,
        "n_examples": model.n_examples,
        "lookups": model.lookups,
        "attribution": model.attribution,
    }
    blob = np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(
            f, meta=blob, char_idf=w.char_idf, word_idf=w.word_idf, coef=w.coef, intercept=w.intercept,
            cal_a=w.cal_a, cal_b=w.cal_b,
        )


def load_model(path: Path) -> BuiltinModel:
    """Read a model written by :func:`save_model` (numpy only)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode("utf-8"))
        if meta.get("format") != MODEL_VERSION:
            raise ValueError(f"{path}: model format {meta.get('format')!r}, expected {MODEL_VERSION!r}")
        weights = Weights(
            classes=meta["classes"],
            char_vocab=meta["char_vocab"],
            word_vocab=meta["word_vocab"],
            tags=meta["tags"],
            char_idf=z["char_idf"],
            word_idf=z["word_idf"],
            coef=z["coef"],
            intercept=z["intercept"],
            cal_a=z["cal_a"],
            cal_b=z["cal_b"],
            tag_weight=float(meta["tag_weight"]),
            n_dense=int(meta["n_dense"]),
            dense_weight=float(meta["dense_weight"]),
        )
        if weights.n_dense and meta.get("encoder") != sentence_encoder.encoder_id():
            raise ValueError(
                f"{path}: trained with encoder {meta.get('encoder')!r}, this is {sentence_encoder.encoder_id()!r}"
            )
    lookups = meta["lookups"]
    return BuiltinModel(
        weights=weights,
        classes=meta["classes"],
        exact=meta["exact"],
        vocabulary=frozenset(meta["vocabulary"]),
        data_hash=meta["data_hash"],
        train_seconds=meta["train_seconds"],
        n_examples=meta["n_examples"],
        lookups=lookups,
        lexicon=Lexicon(lookups),
        attribution=str(meta.get("attribution", "")),
    )


def data_hash(nlu_dir: Path, encoder: bool = False) -> str:
    """Hash of the training files (names and bytes), the model version and settings, and (``encoder``) the sentence
    encoder's identity."""
    dense = f"{ENCODER_WEIGHT}|{sentence_encoder.encoder_key()}" if encoder else "no-encoder"
    h = hashlib.sha256(
        f"{MODEL_VERSION}|{CHAR_NGRAMS}|{WORD_NGRAMS}|{TAG_WEIGHT}|{SVM_C}|{REAL_WEIGHT}|{WRITTEN_WEIGHT_FLOOR}|{MIN_DF}|"
        f"{REAL_MIN_DF}|{CALIBRATION_SHARE}|{dense}".encode()
    )
    for p in training_files(nlu_dir):
        h.update(str(p.relative_to(nlu_dir)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:20]


def model_path(nlu_dir: Path, cache_dir: Path, encoder: bool = False) -> Path:
    return Path(cache_dir) / f"builtin-{data_hash(nlu_dir, encoder)}.npz"


def train(nlu_dir: Path, cache_dir: Path | None = None, encoder: bool = False) -> BuiltinModel:
    """Train on everything under ``nlu_dir`` (``encoder``: with the sentence encoder's block; the vectors of the real
    reports are kept in ``cache_dir``: they change only with the reports, so an edit of the hand-written data
    re-encodes a few thousand messages, not 57,000)."""
    data: NluData = load_training_data(nlu_dir)
    if not data.examples:
        raise ValueError(f"no NLU training examples under {nlu_dir}")
    vectors = training_vectors(data, cache_dir) if encoder else None
    model = fit(data.examples, data.lookups, data.real, vectors=vectors, encoder=encoder)
    model.attribution = REAL_ATTRIBUTION if data.real else ""
    model.data_hash = data_hash(nlu_dir, encoder)
    return model


def training_vectors(data: NluData, cache_dir: Path | None = None) -> sentence_encoder.VectorFn:
    """The encoder's vectors of every training message, computed once (the real reports' kept in ``cache_dir``):
    what :func:`fit` and a :class:`BuiltinParser` read, for training and for cross-validation folds."""
    real = [encoder_text(t) for t, _ in data.real]
    written = [encoder_text(t) for t, _ in data.examples]
    vectors = np.vstack([sentence_encoder.cached(real, cache_dir), sentence_encoder.shared().encode(written)])
    return sentence_encoder.table(real + written, vectors)


_TRAIN_LOCK = threading.Lock()
#: A model trained into any cache directory is also kept here (the default ``nlu_cache_dir``), and a cache directory
#: that lacks the current model copies it from here: every process and test run on a machine trains once per data
#: version (the file name carries the data hash; the files are arrays + JSON, loaded without pickle).
SHARED_CACHE_DIR = Path.home() / ".cache" / "reporta" / "nlu"
SHARED_CACHE_KEEP = 8
#: Model file name (it carries the data hash) -> where this process last wrote it.
_TRAINED: dict[str, Path] = {}


def ensure_model(nlu_dir: Path, cache_dir: Path, force: bool = False, encoder: bool = False) -> Path:
    """Train and cache the model when it is missing or stale (or ``force``); return its path."""
    path = model_path(nlu_dir, cache_dir, encoder)
    with _TRAIN_LOCK:
        if path.exists() and not force:
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        os.close(fd)
        try:
            twin = None if force else _twin(path)
            if twin is not None:
                # The same data and model version, trained before into another cache directory (each test suite
                # and each test process has its own): copy it, training takes tens of seconds.
                shutil.copyfile(twin, tmp)
            else:
                save_model(train(nlu_dir, path.parent, encoder), Path(tmp))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        _TRAINED[path.name] = path
        if twin is None:
            _share(path)
        keep = {path.name}
        # The current data's model with and without the encoder both stay (not installed: there is no such model).
        with contextlib.suppress(RuntimeError):
            keep.add(model_path(nlu_dir, cache_dir, not encoder).name)
        for pattern in ("builtin-*.npz", "builtin-*.joblib"):
            for old in path.parent.glob(pattern):
                if old.name not in keep:
                    old.unlink(missing_ok=True)
    return path


def _twin(path: Path) -> Path | None:
    """A file of the same name (same data hash) trained by this process or kept in the shared user cache."""
    for candidate in (_TRAINED.get(path.name), SHARED_CACHE_DIR / path.name):
        if candidate is not None and candidate != path and candidate.is_file():
            return candidate
    return None


def _share(path: Path) -> None:
    """Keep a copy in the shared user cache (best effort; the newest ``SHARED_CACHE_KEEP`` files stay)."""
    if path.parent == SHARED_CACHE_DIR:
        return
    try:
        SHARED_CACHE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=SHARED_CACHE_DIR, prefix=".tmp-", suffix=".npz")
        os.close(fd)
        shutil.copyfile(path, tmp)
        os.replace(tmp, SHARED_CACHE_DIR / path.name)
        files = sorted(SHARED_CACHE_DIR.glob("builtin-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[SHARED_CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass


def load_or_train(nlu_dir: Path, cache_dir: Path, encoder: bool = False) -> BuiltinModel:
    """The cached model for the current data, training it first when needed."""
    path = ensure_model(nlu_dir, cache_dir, encoder=encoder)
    try:
        return load_model(path)
    except Exception:  # a corrupt or incompatible cache file: rebuild it
        path = ensure_model(nlu_dir, cache_dir, force=True, encoder=encoder)
        return load_model(path)


class FastScorer:
    """Single-message inference with numpy only, equal to the fitted scikit-learn model's ``predict_proba``.

    scikit-learn's per-call overhead (input validation, sparse matrix construction, one Python call per class
    calibrator) costs milliseconds for one short message, and importing it costs ~100 MB; here the same arithmetic
    is done from :class:`Weights`: sublinear TF-IDF per block, L2 norm per block, weighted lexicon indicators,
    SVM decision values, sigmoid calibration, normalisation.  ``tests/nlu`` checks it against scikit-learn.
    """

    def __init__(self, weights: Weights) -> None:
        w = weights
        n_char = len(w.char_vocab)
        self._blocks = (
            (char_wb_ngrams, {g: j for j, g in enumerate(w.char_vocab)}, w.char_idf, 0),
            (word_ngrams, {g: j for j, g in enumerate(w.word_vocab)}, w.word_idf, n_char),
        )
        tag_offset = n_char + len(w.word_vocab)
        self._tags = {t: tag_offset + i for i, t in enumerate(w.tags)}
        self._tag_weight = w.tag_weight
        dense_offset = tag_offset + max(1, len(w.tags))
        self._dense = w.coef[dense_offset : dense_offset + w.n_dense].astype(np.float64) * w.dense_weight
        self.reads_vectors = w.n_dense > 0
        self._coef = w.coef
        self._intercept = w.intercept
        self._a = w.cal_a
        self._b = w.cal_b

    def decision(self, norm: str, tags: list[str] | tuple[str, ...] = (), vector: Any = None) -> Any:
        """SVM decision values of a prepared text, its lexicon tags and (a model with an encoder block) the
        encoder's vector of the message."""
        if self.reads_vectors:
            if vector is None:
                raise ValueError("this model reads the sentence encoder's vector of the message: pass it")
            base = self._intercept + vector @ self._dense
        else:
            base = self._intercept
        idx: list[int] = []
        vals: list[float] = []
        for analyzer, vocab, idf, offset in self._blocks:
            counts: dict[int, int] = {}
            get = vocab.get
            for gram in analyzer(norm):
                j = get(gram)
                if j is not None:
                    counts[j] = counts.get(j, 0) + 1
            if not counts:
                continue
            cols = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
            w = (1.0 + np.log(tf)) * idf[cols]
            w /= np.sqrt(np.dot(w, w))
            idx.extend((cols + offset).tolist())
            vals.extend(w.tolist())
        for tag in tags:
            j = self._tags.get(tag)
            if j is not None:
                idx.append(j)
                vals.append(self._tag_weight)
        if not idx:
            return base.copy()
        return np.asarray(vals) @ self._coef[idx].astype(np.float64) + base

    def predict_proba(self, norm: str, tags: list[str] | tuple[str, ...] = (), vector: Any = None) -> Any:
        decision = self.decision(norm, tags, vector)
        proba = 1.0 / (1.0 + np.exp(self._a * decision + self._b))
        total = proba.sum()
        return proba / total if total > 0 else np.full_like(proba, 1.0 / len(proba))


class BuiltinParser:
    """The in-process parser: classifier + rules."""

    def __init__(
        self, model: BuiltinModel, threshold: float = FALLBACK_THRESHOLD,
        vectors: sentence_encoder.VectorFn | None = None,
    ) -> None:
        self.model = model
        self.threshold = threshold
        self._scorer = FastScorer(model.weights)
        #: The sentence encoder's vectors (the shared encoder and its memo, or a precomputed table).
        self._vectors = vectors or sentence_encoder.shared()
        # A word counts as known when it shares its first KNOWN_PREFIX letters with a training word of at least
        # that length: "exactamente" (exacto), "confirmar" (confirmo), "agent" (agente) are words, "qwpeoiru" is not.
        self._prefixes = frozenset(
            w[:KNOWN_PREFIX] for w in model.vocabulary if len(w) >= KNOWN_PREFIX and w.isalpha()
        )
        self._vague_nouns = frozenset(normalize(VAGUE_NOUNS).split())
        self._vague = self._vague_nouns | frozenset(normalize(VAGUE_GLUE).split()) | _NUMBER_TOKENS | {QUESTION_TOKEN}

    def warm(self) -> None:
        """Load the sentence encoder now (≈ 1 s and 150 MB, once per process), not at the first citizen's message."""
        if self._scorer.reads_vectors:
            self._vectors(["hola"])

    def _known_word(self, tok: str) -> bool:
        if tok in _NUMBER_TOKENS or tok == QUESTION_TOKEN or tok.isdigit():
            return False
        return tok in self.model.vocabulary or (len(tok) >= KNOWN_PREFIX and tok[:KNOWN_PREFIX] in self._prefixes)

    def rank(self, text: str) -> tuple[list[tuple[str, float]], bool]:
        """Intent probabilities (best first) and whether the message contains any known word."""
        ranking, known, _ = self.rank_tags(text)
        return ranking, known

    def rank_tags(self, text: str) -> tuple[list[tuple[str, float]], bool, list[str]]:
        """:meth:`rank` plus the lexicon tags (``kw_*``) of the message."""
        norm = prepare(text)
        tokens = norm.split()
        if not tokens:
            return [("out_of_scope", 0.0), *((c, 0.0) for c in self.model.classes[:2])], False, []
        tags = self.model.lexicon.tags(norm) if self.model.lexicon else []
        vector = self._vectors([text])[0] if self._scorer.reads_vectors else None
        proba = self._scorer.predict_proba(norm, tags, vector)
        ranking = sorted(zip(self.model.classes, proba.tolist(), strict=True), key=lambda x: -x[1])
        exact = self.model.exact.get(norm)
        if exact is None and len(tokens) > 1 and tokens[-1] == QUESTION_TOKEN:  # "si?" as "si"
            exact = self.model.exact.get(norm[: -len(QUESTION_TOKEN) - 1])
        if exact is not None:
            rest = [(c, p * 0.02) for c, p in ranking if c != exact]
            ranking = [(exact, max(0.98, dict(ranking)[exact])), *rest]
        # Numbers ("num", "folionum", digits) are not words: "xyz 123" is not understood, "1" (a menu answer) is.
        # A place or report fragment with no word of what ("por mi casa", "hay algo raro en mi calle") is not either.
        vague = all(t in self._vague or t.isdigit() for t in tokens) and any(t in self._vague_nouns for t in tokens)
        known = exact is not None or (not vague and (bool(tags) or any(self._known_word(t) for t in tokens)))
        if not known:
            # No word of what: the probabilities are the classifier's priors, not evidence ("qwerty" would offer
            # street_cleaning). The order is kept, the confidences are scaled down so no candidate is offered.
            ranking = [(c, p * UNKNOWN_DAMPING) for c, p in ranking]
        return ranking, known, tags

    def _lexicon_tags(self, text: str) -> list[str]:
        return self.model.lexicon.tags(normalize(text)) if self.model.lexicon else []

    def lexicon_categories(self, text: str) -> frozenset[str]:
        """The service categories whose ``kw_*`` lexicon the text names ("una coladera sin tapa" -> sewer; "una
        sola calle" -> none): what the dialogue asks before taking a clause's category as meant."""
        return frozenset(t[3:] for t in self._lexicon_tags(text) if t[3:] in SERVICE_INTENTS)

    def threshold_for(self, intent: str) -> float:
        """The fallback threshold: the same for every intent (round 7: no lower bar for service categories, so a
        0.448 guess never passes a 0.5 threshold)."""
        return self.threshold

    def parse(self, text: str, *, pending: str | None = None) -> Parse:
        entities = entity_rules.extract(text)
        # The classifier reads the head and tail of a long message (``truncate``), so the rules do too.
        masked = acts.mask_places(text, entities)
        if not acts.names_something(masked):
            masked = text  # "parque descuidado" taken for a landmark: masking never leaves nothing to read
        reading = acts.decide(
            truncate(masked), pending, self.rank_tags, self.threshold, self._lexicon_tags,
            self._vectors if self._scorer.reads_vectors else None,
        )
        if (reading.understood and reading.intent in SERVICE_INTENTS and acts.only_a_place(text, entities)
                and not any(t.startswith("kw_") for t in self._lexicon_tags(text))):
            # A place and nothing else names no problem: the candidates are offered, nothing is guessed.
            reading = replace(reading, intent=FALLBACK_INTENT, understood=False, problems=())
        return Parse(
            text=text,
            intent=reading.intent,
            confidence=reading.confidence,
            ranking=reading.ranking[: max(3, RANKING_SIZE)],
            entities=entities,
            understood=reading.understood,
            problems=reading.problems,
            about=reading.about,
        )
