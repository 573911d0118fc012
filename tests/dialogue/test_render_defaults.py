"""A municipality's templates older than this release (``reporta init`` copied them): what they lack comes from the
bundled defaults, what they changed stays theirs."""

import logging
import shutil
from pathlib import Path

import pytest

from dialogue.render import Renderer
from reporta.settings import DEFAULT_DATA_DIR

BUNDLED = DEFAULT_DATA_DIR / "templates"


@pytest.fixture
def old_copy(tmp_path: Path) -> Path:
    """A copy made before ``update_other`` and ``farewell`` existed, with one label of its own."""
    root = tmp_path / "templates"
    shutil.copytree(BUNDLED, root)
    labels = root / "es-MX" / "labels.j2"
    text = labels.read_text(encoding="utf-8")
    assert "{% set update_other" in text and "{% set menu_report" in text
    text = "\n".join(line for line in text.splitlines() if not line.startswith("{% set update_other"))
    labels.write_text(text.replace('{% set menu_report = "Reportar un problema" %}',
                                   '{% set menu_report = "Reportar algo" %}'), encoding="utf-8")
    (root / "es-MX" / "farewell.j2").unlink()
    return root


def test_a_missing_label_or_template_comes_from_the_bundled_copy(old_copy: Path, caplog) -> None:
    renderer = Renderer(old_copy)
    bundled = Renderer(BUNDLED)
    with caplog.at_level(logging.WARNING, logger="dialogue.render"):
        assert renderer.label("update_other", "whatsapp") == bundled.label("update_other", "whatsapp") != ""
        farewell = bundled.render("farewell", "whatsapp", thanks=True)
        assert renderer.render("farewell", "whatsapp", thanks=True) == farewell
        renderer.label("update_other", "whatsapp")
    assert sum("update_other" in r.getMessage() for r in caplog.records) == 1  # warned once
    assert any("farewell" in r.getMessage() for r in caplog.records)
    assert renderer.label("menu_report") == "Reportar algo"  # the municipality's own wording stays


def test_an_unknown_label_is_still_an_error(old_copy: Path) -> None:
    with pytest.raises(KeyError):
        Renderer(old_copy).label("no_such_label")
    with pytest.raises(KeyError):
        Renderer(BUNDLED).label("no_such_label")
