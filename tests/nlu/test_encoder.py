"""The sentence encoder beside the n-grams (nlu/encoder.py): real vectors, the memo, the training-set cache, and a
model that refuses to run with another encoder than the one it was trained with."""

from pathlib import Path

import numpy as np
import pytest

from nlu import encoder
from nlu.api import load_parser
from nlu.data import load_training_data
from nlu.model import BuiltinParser, FastScorer, fit, load_model, prepare, save_model, sklearn_predict_proba
from reporta.settings import DEFAULT_DATA_DIR, Settings


def test_vectors_are_unit_length_and_mean_something() -> None:
    v = encoder.shared()(["hay un bache enorme en mi calle", "la calle está llena de hoyos", "el foco no prende"])
    assert v.shape == (3, encoder.DIM) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    # two ways of saying road damage are nearer each other than a dark streetlight
    assert v[0] @ v[1] > v[0] @ v[2] + 0.05


def test_memo_returns_the_same_vector_and_blank_text_is_encoded() -> None:
    enc = encoder.SentenceEncoder(memo_size=2)
    a = enc.vector("se cayó un árbol")
    enc(["uno dos", "tres cuatro", "se cayó un árbol"])
    assert np.array_equal(enc.vector("se cayó un árbol"), a)
    assert enc(["", "   "]).shape == (2, encoder.DIM)
    assert enc([]).shape == (0, encoder.DIM)


def test_training_cache_is_keyed_by_the_texts(tmp_path: Path) -> None:
    calls: list[int] = []

    def counting(texts):
        calls.append(len(texts))
        return encoder.shared().encode(texts)

    texts = ["basura en la esquina", "fuga de agua"]
    first = encoder.cached(texts, tmp_path, counting)
    again = encoder.cached(texts, tmp_path, counting)
    assert calls == [2] and np.array_equal(first, again)
    encoder.cached([*texts, "otro"], tmp_path, counting)
    assert calls == [2, 3]
    (next(tmp_path.glob("encoder-*.npy"))).write_bytes(b"not numpy")  # a broken file is encoded again
    assert encoder.cached(texts, tmp_path, counting).shape == (2, encoder.DIM)


def test_table_answers_known_texts_and_encodes_the_rest() -> None:
    known = np.zeros((1, encoder.DIM), dtype=np.float32)
    lookup = encoder.table(["conocido"], known)
    out = lookup(["conocido", "hay un bache"])
    assert not out[0].any() and abs(np.linalg.norm(out[1]) - 1.0) < 1e-3


def test_the_encoder_votes(tmp_path: Path) -> None:
    examples = [("hay un bache en la calle", "pothole"), ("el foco no prende", "streetlight"), ("hola", "greet")] * 5
    assert fit(examples).weights.n_dense == 0  # off unless asked for (REPORTA_NLU_SENTENCE_ENCODER)
    model = fit(examples, encoder=True)
    assert model.weights.n_dense == encoder.DIM
    parser = BuiltinParser(model, threshold=0.0)
    zero = encoder.table(["la lámpara está apagada"], np.zeros((1, encoder.DIM), dtype=np.float32))
    with_vectors = dict(parser.rank("la lámpara está apagada")[0])
    without = dict(BuiltinParser(model, threshold=0.0, vectors=zero).rank("la lámpara está apagada")[0])
    assert with_vectors["streetlight"] > without["streetlight"]


def test_a_model_refuses_another_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = fit([("hay un bache", "pothole"), ("foco fundido", "streetlight")] * 3, encoder=True)
    path = tmp_path / "m.npz"
    save_model(model, path)
    assert load_model(path).weights.n_dense == encoder.DIM
    monkeypatch.setattr(encoder, "encoder_id", lambda: "another-encoder/1")
    with pytest.raises(ValueError, match="encoder"):
        load_model(path)


def test_fast_scorer_equals_sklearn_with_the_encoder() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu")
    model = fit(data.examples[::4], data.lookups, encoder=True)
    scorer = FastScorer(model.weights)
    for text in ["hay un bache", "si", "la calle está hecha pedazos", "zzzz", "¿ya vinieron?"]:
        norm = prepare(text)
        got = scorer.predict_proba(norm, model.lexicon.tags(norm), encoder.shared().vector(text))
        assert np.allclose(got, sklearn_predict_proba(model, text), atol=1e-6), text
    with pytest.raises(ValueError, match="vector"):
        scorer.predict_proba("hay un bache")


def test_the_setting_turns_it_on_and_both_models_stay_cached(tmp_path: Path) -> None:
    nlu_dir = tmp_path / "data" / "nlu"
    nlu_dir.mkdir(parents=True)
    for name in ("pothole.yml", "streetlight.yml", "greet.yml", "lookups.yml"):
        if (DEFAULT_DATA_DIR / "nlu" / name).exists():
            (nlu_dir / name).write_bytes((DEFAULT_DATA_DIR / "nlu" / name).read_bytes())
    common = {"data_dir": tmp_path / "data", "nlu_cache_dir": tmp_path / "cache"}
    plain = load_parser(Settings(**common))
    read = load_parser(Settings(**common, nlu_sentence_encoder=True))
    assert not plain.model.weights.n_dense and read.model.weights.n_dense == encoder.DIM
    assert read.parse("la calle está llena de hoyos").intent == "pothole"
    assert len(list((tmp_path / "cache").glob("builtin-*.npz"))) == 2
