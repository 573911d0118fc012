"""The installable package: data/ ships as ``reporta_data`` (every file, no top-level ``data``), the settings find
it, ``REPORTA_DATA_DIR`` points elsewhere, and ``reporta init`` copies the editable data.

The full install (``pip install .`` in a fresh venv, then the CLI from outside the checkout) is ``.ci/package-smoke``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reporta import init_cli
from reporta.datadir import InitError, init_data_dir, packaged_data_dir
from reporta.settings import DEFAULT_DATA_DIR, REPO_ROOT, Settings
from ticketing.catalog import load_catalog

DATA = REPO_ROOT / "data"


def test_a_checkout_reads_its_own_data_and_reporta_data_dir_overrides_it(tmp_path: Path, monkeypatch) -> None:
    assert DEFAULT_DATA_DIR == DATA
    assert (packaged_data_dir() / "catalog.yml").is_file()
    monkeypatch.setenv("REPORTA_DATA_DIR", str(tmp_path))
    settings = Settings(_env_file=None)
    assert settings.catalog_path == tmp_path / "catalog.yml" and settings.templates_dir == tmp_path / "templates"


@pytest.mark.slow
def test_the_wheel_ships_every_data_file_as_reporta_data(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy: no stale build/ output, nothing written into the checkout
    shutil.copytree(REPO_ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "var", "*.egg-info", "__pycache__", ".*_cache"))
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
                           capture_output=True, text=True, timeout=240)
    assert build.returncode == 0, build.stderr[-2000:]
    [wheel] = tmp_path.glob("reporta-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {"reporta_data/" + p.relative_to(DATA).as_posix() for p in DATA.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts}
    assert expected and expected <= names, sorted(expected - names)[:10]
    assert not any(n.startswith(("data/", "tests/")) for n in names)
    assert {"ticketing/migrations/script.py.mako", "reporta/datadir.py"} <= names


def test_init_copies_the_editable_data_and_keeps_what_is_there(tmp_path: Path) -> None:
    target = tmp_path / "municipio"
    result = init_data_dir(DATA, target)
    copied = {p.as_posix() for p in result.copied}
    assert {"catalog.yml", "templates/es-MX/welcome.j2", "dialogue/escalation.yml"} <= copied
    assert any(p.startswith("nlu/") for p in copied)
    assert load_catalog(target / "catalog.yml").categories  # a valid catalog
    (target / "catalog.yml").write_text("# mine\n", encoding="utf-8")
    again = init_data_dir(DATA, target)
    assert again.copied == [] and Path("catalog.yml") in again.kept
    assert (target / "catalog.yml").read_text(encoding="utf-8") == "# mine\n"
    forced = init_data_dir(DATA, target, overwrite=True)
    assert Path("catalog.yml") in forced.copied and "# mine" not in (target / "catalog.yml").read_text("utf-8")
    with pytest.raises(InitError):
        init_data_dir(tmp_path / "nothing", tmp_path / "x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InitError):
        init_data_dir(DATA, tmp_path / "file")


def test_reporta_init_command_says_how_to_use_the_copy(tmp_path: Path) -> None:
    app = typer.Typer()
    init_cli.register(app)

    @app.command("noop", hidden=True)
    def _noop() -> None:  # a second command keeps `init` a sub-command
        pass

    target = tmp_path / "datos"
    result = CliRunner().invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    assert f"REPORTA_DATA_DIR={target}" in result.output and "reporta catalog check" in result.output
    assert (target / "templates" / "es-MX" / "privacy_notice.j2").is_file()
    assert "kept" in CliRunner().invoke(app, ["init", str(target)]).output
    (tmp_path / "f").write_text("x")
    assert CliRunner().invoke(app, ["init", str(tmp_path / "f")]).exit_code == 1
