import json

from typer.testing import CliRunner

from reporta.cli import app
from reporta.settings import get_settings
from tests.nlu.conftest import DATA

runner = CliRunner()


def env(nlu_cache) -> dict[str, str]:
    get_settings.cache_clear()
    return {"REPORTA_NLU_CACHE_DIR": str(nlu_cache)}


def test_cli_parse(nlu_cache) -> None:
    res = runner.invoke(app, ["nlu", "parse", "mi folio es 1234-5671"], env=env(nlu_cache))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["intent"] == "check_status"
    assert out["entities"] == [{"type": "folio", "value": "1234-5671", "start": 12, "end": 21}]


def test_cli_evaluate_json_tsv(nlu_cache) -> None:
    res = runner.invoke(app, ["nlu", "evaluate", str(DATA / "dev_short.tsv"), "--json"], env=env(nlu_cache))
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"accuracy", "macro_f1", "per_label", "ms_per_message", "n"} <= out.keys()
    assert out["n"] > 50 and out["accuracy"] > 0.9


def test_cli_evaluate_text_yaml(nlu_cache) -> None:
    res = runner.invoke(app, ["nlu", "evaluate", str(DATA / "dev.yml")], env=env(nlu_cache))
    assert res.exit_code == 0, res.output
    assert "accuracy:" in res.output and "macro-F1:" in res.output


def test_cli_train(nlu_cache) -> None:
    res = runner.invoke(app, ["nlu", "train"], env=env(nlu_cache))
    assert res.exit_code == 0, res.output
    assert str(nlu_cache) in res.output
