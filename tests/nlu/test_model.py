import shutil
from pathlib import Path

import numpy as np
import pytest

from nlu.api import FALLBACK_INTENT, SERVICE_INTENTS, Parse, ensure_model, load_parser
from nlu.data import load_training_data, read_labelled
from nlu.evaluate import cross_validate, evaluate
from nlu.model import BuiltinParser, data_hash, fit
from reporta.settings import DEFAULT_DATA_DIR, Settings
from tests.nlu.conftest import DATA


def test_training_data_covers_every_intent_with_60_examples() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu")
    counts: dict[str, int] = {}
    for _, intent in data.examples:
        counts[intent] = counts.get(intent, 0) + 1
    for intent in SERVICE_INTENTS:
        assert counts.get(intent, 0) >= 60, intent
    assert len(counts) == 26
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


@pytest.mark.parametrize("text, intent", [("1", "affirm"), ("2", "deny")])
def test_menu_numbers_answer_a_pending_question(parser, text: str, intent: str) -> None:
    """Round 7: a bare "1"/"2" is an answer only when a question is pending (it was affirm/deny always)."""
    for pending in ("yes_no", "choice"):
        result = parser.parse(text, pending=pending)
        assert result.intent == intent and result.understood
    assert not parser.parse(text).understood


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


def test_fast_scorer_equals_sklearn() -> None:
    from nlu.encoder import shared
    from nlu.model import FastScorer, prepare, sklearn_predict_proba

    data = load_training_data(DEFAULT_DATA_DIR / "nlu")
    model = fit(data.examples[::3], data.lookups)  # a fresh fit keeps the scikit-learn objects
    scorer = FastScorer(model.weights)
    texts = ["hay un bache", "si", "el semaforo no sirve en la avenida juarez", "zzzz qqq", "ai fuga d agua x la esq",
             "LA BANQUETA ESTA ROTA", "", "coladera coladera coladera tapada", "???", "¿ya vinieron?"]
    for text in texts:
        norm = prepare(text)
        expected = sklearn_predict_proba(model, text)
        got = scorer.predict_proba(norm, model.lexicon.tags(norm), shared()([text])[0])
        assert np.allclose(got, expected, atol=1e-6), text
        assert abs(got.sum() - 1.0) < 1e-9


def test_analyzers_equal_sklearn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlu.model import char_wb_ngrams, word_ngrams

    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), lowercase=False).build_analyzer()
    word = TfidfVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b", lowercase=False).build_analyzer()
    for text in ["", "a", "hay un  bache", "kw_x folionum num 1 2", "oyo  enorme   frente al oxxo", "ñandu ab"]:
        assert char_wb_ngrams(text) == char(text)
        assert word_ngrams(text) == word(text)


def test_parsing_does_not_import_sklearn(nlu_settings) -> None:
    import subprocess
    import sys

    ensure_model(nlu_settings)
    code = (
        "import sys\n"
        "from reporta.settings import Settings\n"
        "from nlu.api import load_parser\n"
        f"s = Settings(data_dir={str(nlu_settings.data_dir)!r}, nlu_cache_dir={str(nlu_settings.nlu_cache_dir)!r})\n"
        "p = load_parser(s).parse('hay un bache frente al oxxo')\n"
        "assert p.intent == 'pothole', p\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sklearn', 'scipy', 'joblib'))\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root, timeout=60)


def test_cache_file_is_not_a_pickle(nlu_settings) -> None:
    path = ensure_model(nlu_settings)
    assert path.suffix == ".npz"
    with np.load(path, allow_pickle=False) as z:  # raises if anything needs unpickling
        assert {"meta", "coef", "char_idf", "word_idf"} <= set(z.files)


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
    report = cross_validate(DEFAULT_DATA_DIR / "nlu", folds=5, threshold=0.0, real=False)
    assert report.n > 1500
    assert report.macro_f1 >= 0.93


def test_held_out_dev_set(parser) -> None:
    report = evaluate(parser.parse, read_labelled(DATA / "dev.yml"))
    assert report.accuracy >= 0.9, report.to_text()
    short = evaluate(parser.parse, read_labelled(DATA / "dev_short.tsv"))
    assert short.accuracy >= 0.9, short.to_text()
    dev2 = read_labelled(DATA / "dev2.yml")
    report2 = evaluate(parser.parse, dev2)
    assert report2.accuracy >= 0.95, report2.to_text()
    short2 = evaluate(parser.parse, [(t, y) for t, y in dev2 if len(t.split()) <= 4])
    assert short2.n >= 50 and short2.accuracy >= 0.9, short2.to_text()


def test_held_out_dev3(parser) -> None:
    """Round-3 held-out set (never trained on): overall, service reports, very short messages, English."""
    from tests.nlu.heldout import read_tagged, subsets

    parts = subsets(read_tagged(DATA / "dev3.yml"))
    assert len(parts["overall"]) >= 200 and len(parts["short"]) >= 60 and len(parts["english"]) >= 20
    floors = {"overall": 0.93, "service": 0.94, "short": 0.93, "english": 0.9}
    for name, floor in floors.items():
        report = evaluate(parser.parse, parts[name])
        assert report.accuracy >= floor, (name, report.to_text())


def test_held_out_dev4(parser) -> None:
    """Round-4 held-out set (formal/bureaucratic wording, idioms, indirect descriptions, English; never trained on)."""
    from tests.nlu.heldout import read_tagged, subsets

    parts = subsets(read_tagged(DATA / "dev4.yml"))
    assert len(parts["overall"]) >= 120 and len(parts["english"]) >= 20
    floors = {"overall": 0.95, "service": 0.95, "english": 0.9}
    for name, floor in floors.items():
        report = evaluate(parser.parse, parts[name])
        assert report.accuracy >= floor, (name, report.to_text())


def test_one_threshold_for_every_intent() -> None:
    """Round 7: service categories no longer pass below the threshold (0.448 passed a 0.5 threshold before)."""
    model = fit([("hay un bache", "pothole"), ("foco fundido", "streetlight"), ("hola", "greet")] * 5)
    parser = BuiltinParser(model, threshold=0.5)
    assert parser.threshold_for("pothole") == parser.threshold_for("greet") == 0.5


def test_threshold_controls_understood() -> None:
    model = fit([("hay un bache", "pothole"), ("foco fundido", "streetlight"), ("hola", "greet")] * 5)
    strict = BuiltinParser(model, threshold=0.99).parse("bache en la calle")
    assert not strict.understood and strict.intent == FALLBACK_INTENT
    assert strict.ranking[0][0] == "pothole"


# Round 5: problems seen in real conversations (dialogue QA). Several are dev-set messages (dev_short "okas",
# "no vino el camión"; dev3/dev4 "trámite", plomero, "k onda con la luz", hammering and brass-band noise): they
# were fixed by *other* sentences of the same class plus lexicon entries, so those dev figures are now optimistic.
@pytest.mark.parametrize(
    "text, intent",
    [
        # photo declines at the photo step: `deny` ("not now" too), never help or a service category
        ("no tengo foto", "deny"),
        ("sin foto", "deny"),
        ("no tengo", "deny"),
        ("despues", "deny"),
        ("después te la mando", "deny"),
        ("luego te la mando", "deny"),
        # wanting to report something, no category yet: its own intent (the dialogue shows the category list)
        ("quiero reportar algo", "report_problem"),
        ("quiero hacer un reporte", "report_problem"),
        ("reportar", "report_problem"),
        ("tengo una queja", "report_problem"),
        ("quiero levantar un reporte", "report_problem"),
        ("I want to report something", "report_problem"),
        # ...while asking *how* to report stays help, and a cancelled report stays cancel
        ("como hago un reporte", "help"),
        ("ya no quiero hacer el reporte", "cancel"),
        ("como va mi reporte", "check_status"),
        # laughter is chit-chat: confidently out_of_scope (never counts toward the "two misunderstood" handoff)
        ("jajaja", "out_of_scope"),
        ("jaja", "out_of_scope"),
        ("ntp", "thanks"),
        ("no te preocupes", "thanks"),
        ("okas", "affirm"),
        ("okis", "affirm"),
        ("no vino el camión", "garbage_collection"),
        ("¿en qué va mi trámite?", "check_status"),
        ("me pueden recomendar un buen plomero", "out_of_scope"),
        ("k onda con la luz d la calle, sigue apagada", "streetlight"),
        ("el taller de hojalatería martilla todo el día", "noise"),
        ("la banda de viento ensaya a medianoche", "noise"),
    ],
)
def test_round5_conversation_problems(parser, text: str, intent: str) -> None:
    result = parser.parse(text)
    assert result.intent == intent, result.ranking
    assert result.understood


@pytest.mark.parametrize("text", ["asdf qwer", "asdfghjkl", "qwerty", "sdfg hjkl"])
def test_keyboard_mash_falls_back(parser, text: str) -> None:
    assert parser.parse(text).intent == FALLBACK_INTENT


@pytest.mark.parametrize(
    "text",
    ["por mi casa", "en la esquina de mi casa", "hay algo raro en mi calle", "aqui en mi calle", "en la colonia"],
)
def test_vague_place_fragments_fall_back(parser, text: str) -> None:
    result = parser.parse(text)
    assert result.intent == FALLBACK_INTENT and not result.understood


@pytest.mark.parametrize("text, intent", [("esa es", "affirm"), ("de una", "affirm"), ("hay un bache en mi calle",
                                                                                        "pothole")])
def test_vague_rule_needs_only_vague_words(parser, text: str, intent: str) -> None:
    assert parser.parse(text).intent == intent


@pytest.mark.parametrize(
    "text, intent", [("?", "help"), ("???", "help"), ("si?", "affirm"), ("¿ya vinieron?", "check_status")]
)
def test_question_token(parser, text: str, intent: str) -> None:
    """Round 6: "?" is kept as a token (QUESTION_TOKEN); "?"-only messages are help, "si?" still matches "si"."""
    assert parser.parse(text).intent == intent


@pytest.mark.parametrize("text", ["qwpeoiru?", "¿por mi casa?", "xyz 123?"])
def test_question_token_is_not_a_word(parser, text: str) -> None:
    assert parser.parse(text).intent == FALLBACK_INTENT


def test_real_reports_train_the_model_and_keep_their_attribution() -> None:
    from nlu.data import REAL_ATTRIBUTION, real_files, training_files

    nlu_dir = DEFAULT_DATA_DIR / "nlu"
    assert real_files(nlu_dir) and set(real_files(nlu_dir)) <= set(training_files(nlu_dir))
    assert REAL_ATTRIBUTION in (nlu_dir / "real" / "README.md").read_text(encoding="utf-8")
    data = load_training_data(nlu_dir)
    assert len(data.real) > 50_000 and {y for _, y in data.real} <= SERVICE_INTENTS


def test_model_carries_the_attribution(nlu_settings) -> None:
    from nlu.model import load_model

    assert load_model(ensure_model(nlu_settings)).attribution == "Fuente: Ayuntamiento de Madrid"


def test_a_trained_model_is_shared_between_cache_directories(tmp_path: Path, monkeypatch) -> None:
    """Each test suite (and each child process) has its own cache directory: the model trains once per data version
    on a machine, the others copy it from the shared user cache."""
    from nlu import model as m

    data_dir = tmp_path / "data"
    (data_dir / "nlu").mkdir(parents=True)
    for name in ("pothole.yml", "greet.yml"):
        shutil.copy(DEFAULT_DATA_DIR / "nlu" / name, data_dir / "nlu" / name)
    monkeypatch.setattr(m, "SHARED_CACHE_DIR", tmp_path / "shared")
    monkeypatch.setattr(m, "_TRAINED", {})
    first = m.ensure_model(data_dir / "nlu", tmp_path / "a")
    assert (tmp_path / "shared" / first.name).is_file()
    trained = []
    monkeypatch.setattr(m, "train", lambda nlu_dir: trained.append(nlu_dir))
    second = m.ensure_model(data_dir / "nlu", tmp_path / "b")  # a new process would find it in the shared cache
    assert second.read_bytes() == first.read_bytes() and not trained


def test_cross_validation_folds_the_real_reports_too(tmp_path: Path) -> None:
    nlu_dir = tmp_path / "nlu"
    (nlu_dir / "real").mkdir(parents=True)
    for name in ("pothole.yml", "streetlight.yml", "greet.yml"):
        shutil.copy(DEFAULT_DATA_DIR / "nlu" / name, nlu_dir / name)
    rows = [(f"bache enorme en la calle {i}", "pothole") for i in range(20)]
    rows += [(f"farola apagada en el portal {i}", "streetlight") for i in range(20)]
    (nlu_dir / "real" / "x.tsv").write_text(
        "text\tintent\n" + "".join(f'"{t}"\t{y}\n' for t, y in rows), encoding="utf-8"
    )
    report = cross_validate(nlu_dir, folds=2, threshold=0.5)
    assert report.n == len(load_training_data(nlu_dir).examples) + 40
    assert len(report.extra["real_accuracy_per_fold"]) == 2 and report.extra["real_accuracy"] > 0.8
    assert {"written_macro_f1", "real_top_candidate_accuracy"} <= report.extra.keys()
    assert len(report.rows) == report.n
