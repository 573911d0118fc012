"""The open data's published words: ``STATUS_LABELS`` (the values of the ``status_description`` column, the one
wording of statuses in ``web/templates/statuses.j2``) and the data dictionary (each published column's type and
meaning, from ``dictionary.yml`` beside this module, shown on ``/datos``), read once at start-up. The coordinates'
meanings follow ``public_coordinate_decimals``: ``dictionary(decimals)``; ``DICTIONARY`` is the one at the default.
Data of the public contract, not page wording: the same for every municipality, so read from the default
templates, never a municipality's own."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader

from reporta.yamlfiles import load_yaml
from web.publication import DEFAULT_COORDINATE_DECIMALS
from web.templating import TEMPLATES_DIR

SOURCE = Path(__file__).resolve().with_name("dictionary.yml")
#: The shared status wording (a template, so the pages import it too).
STATUSES_TEMPLATE = "statuses.j2"
#: Metres in a degree of latitude (a degree of longitude is shorter by cos(latitude)).
METRES_PER_DEGREE = 111_320


def status_words(templates_dir: Path = TEMPLATES_DIR) -> dict[str, str]:
    """``{status code: its words}`` from ``statuses.j2`` of ``templates_dir`` (the defaults)."""
    module = Environment(loader=FileSystemLoader(str(templates_dir))).get_template(STATUSES_TEMPLATE).module
    return {str(code): str(label) for code, label in module.STATUSES.items()}  # type: ignore[attr-defined]


def grid_size(decimals: int) -> str:
    """The side of the grid coordinates snapped to ``decimals`` places make, north to south, to two significant
    figures: ``110 m`` for 3, ``1.1 km`` for 2, ``11 cm`` for 6."""
    metres = float(f"{METRES_PER_DEGREE / 10 ** decimals:.2g}")
    if metres >= 1000:
        return f"{metres / 1000:g} km"
    return f"{metres:g} m" if metres >= 1 else f"{metres * 100:g} cm"


_RAW: dict[str, Any] = load_yaml(SOURCE.read_text(encoding="utf-8"))
#: What a citizen reads for each status in the exports (status_description).
STATUS_LABELS: dict[str, str] = status_words()


def decimals_text(decimals: int) -> str:
    """``3 decimales``, ``1 decimal`` (the words of ``dictionary.yml``)."""
    one, other = _RAW["decimals"]
    return str(one if decimals == 1 else other).replace("{n}", str(decimals))


@lru_cache(maxsize=8)
def dictionary(decimals: int = DEFAULT_COORDINATE_DECIMALS) -> dict[str, tuple[str, str]]:
    """The data dictionary: column → (type, meaning in es-MX), for coordinates kept to ``decimals`` places."""
    values = {"{statuses}": ", ".join(STATUS_LABELS.values()), "{decimals}": decimals_text(decimals),
              "{grid}": grid_size(decimals)}
    columns = {}
    for name, (kind, meaning) in _RAW["columns"].items():
        text = str(meaning)
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        columns[str(name)] = (str(kind), text)
    return columns


#: The data dictionary at the default decimals (its columns are those of the exports).
DICTIONARY: dict[str, tuple[str, str]] = dictionary()
