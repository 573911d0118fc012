"""The open data's published words: ``STATUS_LABELS`` (the values of the ``status_description`` column, the one
wording of statuses in ``web/templates/statuses.j2``) and ``DICTIONARY`` (each published column's type and
meaning, from ``dictionary.yml`` beside this module, shown on ``/datos``), read once at start-up. Data of the
public contract, not page wording: the same for every municipality, so read from the default templates, never a
municipality's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, FileSystemLoader

from web.templating import TEMPLATES_DIR

SOURCE = Path(__file__).resolve().with_name("dictionary.yml")
#: The shared status wording (a template, so the pages import it too).
STATUSES_TEMPLATE = "statuses.j2"


def status_words(templates_dir: Path = TEMPLATES_DIR) -> dict[str, str]:
    """``{status code: its words}`` from ``statuses.j2`` of ``templates_dir`` (the defaults)."""
    module = Environment(loader=FileSystemLoader(str(templates_dir))).get_template(STATUSES_TEMPLATE).module
    return {str(code): str(label) for code, label in module.STATUSES.items()}  # type: ignore[attr-defined]


def _load(path: Path = SOURCE) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    statuses = status_words()
    listed = ", ".join(statuses.values())
    columns = {str(name): (str(kind), str(meaning).replace("{statuses}", listed))
               for name, (kind, meaning) in raw["columns"].items()}
    return statuses, columns


_STATUSES, _COLUMNS = _load()
#: What a citizen reads for each status in the exports (status_description).
STATUS_LABELS: dict[str, str] = _STATUSES
#: The data dictionary: column → (type, meaning in es-MX). /datos shows it.
DICTIONARY: dict[str, tuple[str, str]] = _COLUMNS
