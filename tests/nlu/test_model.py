import shutil
from pathlib import Path

import numpy as np
import pytest

from nlu.api import FALLBACK_INTENT, SERVICE_INTENTS, Parse, ensure_model, load_parser
from nlu.data import load_training_data, read_labelled
from nlu.evaluate import cross_validate, evaluate
from nlu.model import BuiltinParser, data_hash, fit
from nlu.normalize import normalize
from reporta.settings import DEFAULT_DATA_DIR, Settings
from tests.nlu.conftest import DATA


def test_training_data_covers_every_intent_with_60_examples() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu")
    counts: dict[str, int] = {}
    for _, intent in data.examples:
        counts[intent] = counts.get(intent, 0) + 1
    for intent in SERVICE_INTENTS:
        assert counts.get(intent, 0) >= 60, intent
    assert len(counts) == 25
    assert data.lookups and data.synonyms


@pytest.mark.parametrize(
    "text, intent",
    [
        ("ai un oyo enorme frente al oxxo de morelos", "pothole"),
        ("Buenas tardes, la luminaria de mi calle lleva 3 días apagada", "streetlight"),
        ("el drenaje esta tapado y huele horrible", "sewer"),
        ("hay una fuga de agua limpia en la calle", "water_leak"),
        ("si", "affirm"),
        ("no", "deny"),
        ("1", "affirm"),
        ("2", "deny"),
        ("hola", "greet"),
        ("ok", "affirm"),
        ("gracias", "thanks"),
        ("menu", "help"),
        ("stop", "cancel"),
        ("ya quedó", "affirm"),
        ("sigue igual", "deny"),
        ("no lo han arreglado", "deny"),
    ],
)
def test_parse_examples(parser, text: str, intent: str) -> None:
    result = parser.parse(text)
    assert isinstance(result, Parse)
    assert result.intent == intent, result.ranking
    assert result.understood


@pytest.mark.parametrize("text", ["asdkjh qwpeoiru", "zzzz", "xyz 123", "...", ""])
def test_gibberish_is_not_understood(parser, text: str) -> None:
    result = parser.parse(text)
    assert result.intent == FALLBACK_INTENT
    assert not result.understood
    assert len(result.ranking) >= 3


def test_ranking_and_json_shape(parser) -> None:
    d = parser.parse("ai un oyo enorme frente al oxxo de morelos").to_dict()
    assert set(d) >= {"intent", "confidence", "ranking", "entities"}
    confs = [r["confidence"] for r in d["ranking"]]
    assert confs == sorted(confs, reverse=True) and len(confs) >= 3
    assert d["entities"][0]["type"] == "landmark"


def test_long_message_parses(parser) -> None:
    text = "Buenas tardes, les escribo porque la luminaria de mi calle no prende. " + "Estamos muy molestos. " * 230
    assert len(text) > 5000
    assert parser.parse(text).intent == "streetlight"


def test_fast_scorer_equals_sklearn(parser: BuiltinParser) -> None:
    model = parser.model
    for text in ["hay un bache", "si", "el semaforo no sirve en la avenida juarez", "zzzz qqq"]:
        norm = normalize(text)
        feats = model.lexicon.featurize(norm)
        expected = model.pipeline.predict_proba([feats])[0]
        assert np.allclose(parser._scorer.predict_proba(feats), expected, atol=1e-9)


def test_load_parser_is_memoised(nlu_settings) -> None:
    assert load_parser(nlu_settings) is load_parser(nlu_settings)


def test_cache_keyed_by_data_hash(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "nlu").mkdir(parents=True)
    for name in ("pothole.yml", "streetlight.yml", "greet.yml", "lookups.yml"):
        shutil.copy(DEFAULT_DATA_DIR / "nlu" / name, data_dir / "nlu" / name)
    settings = Settings(data_dir=data_dir, nlu_cache_dir=tmp_path / "cache")
    first = ensure_model(settings)
    assert first.exists() and ensure_model(settings) == first
    assert not str(first).startswith(str(DEFAULT_DATA_DIR.parent))
    before = data_hash(data_dir / "nlu")
    with (data_dir / "nlu" / "greet.yml").open("a") as f:
        f.write("    - buenas buenas vecinos\n")
    assert data_hash(data_dir / "nlu") != before
    second = ensure_model(settings)
    assert second != first and second.exists() and not first.exists()


def test_cross_validated_macro_f1_floor() -> None:
    report = cross_validate(DEFAULT_DATA_DIR / "nlu", folds=5, threshold=0.0)
    assert report.n > 1500
    assert report.macro_f1 >= 0.85


def test_held_out_dev_set(parser) -> None:
    report = evaluate(parser.parse, read_labelled(DATA / "dev.yml"))
    assert report.accuracy >= 0.9, report.to_text()
    short = evaluate(parser.parse, read_labelled(DATA / "dev_short.tsv"))
    assert short.accuracy >= 0.9, short.to_text()


def test_threshold_controls_understood() -> None:
    model = fit([("hay un bache", "pothole"), ("foco fundido", "streetlight"), ("hola", "greet")] * 5)
    strict = BuiltinParser(model, threshold=0.99).parse("bache en la calle")
    assert not strict.understood and strict.intent == FALLBACK_INTENT
    assert strict.ranking[0][0] == "pothole"
