"""The open data's published words, read once from ``dictionary.yml`` beside this module: ``STATUS_LABELS`` (the
values of the ``status_description`` column) and ``DICTIONARY`` (each published column's type and meaning, shown
on ``/datos``). Data of the public contract, not page wording: the same for every municipality, so not looked up
in a municipality's templates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SOURCE = Path(__file__).resolve().with_name("dictionary.yml")


def _load(path: Path = SOURCE) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    statuses = {str(code): str(label) for code, label in raw["statuses"].items()}
    listed = ", ".join(statuses.values())
    columns = {str(name): (str(kind), str(meaning).replace("{statuses}", listed))
               for name, (kind, meaning) in raw["columns"].items()}
    return statuses, columns


_STATUSES, _COLUMNS = _load()
#: What a citizen reads for each status in the exports (status_description).
STATUS_LABELS: dict[str, str] = _STATUSES
#: The data dictionary: column → (type, meaning in es-MX). /datos shows it.
DICTIONARY: dict[str, tuple[str, str]] = _COLUMNS
