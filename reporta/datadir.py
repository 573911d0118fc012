"""Where Reporta's editable data live: the copy of ``data/`` shipped inside the package, and ``reporta init``.

A checkout reads ``<repo>/data``; an installed package (``pip install .``, a container) reads the copy bundled
as the ``reporta_data`` package (``setup.py`` maps ``data/`` there); ``REPORTA_DATA_DIR`` points at a
municipality's own copy, made with ``reporta init DIR``. Imports nothing of Reporta (``reporta.settings`` uses it).
"""

from __future__ import annotations

import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path

_SKIP = {"__pycache__", "__init__.py"}


def packaged_data_dir() -> Path:
    """The data bundled with the installed package (``reporta_data``), or ``<repo>/data`` when it is not
    installed (running from a checkout without ``pip install``)."""
    spec = importlib.util.find_spec("reporta_data")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class InitResult:
    target: Path
    copied: list[Path]
    kept: list[Path]  # already there, left alone (without ``overwrite``)


class InitError(Exception):
    """``reporta init`` cannot copy: the source has no catalog or the target is a file."""


def init_data_dir(source: Path, target: Path, *, overwrite: bool = False) -> InitResult:
    """Copy the data tree ``source`` into ``target`` (created): every file (catalog.yml, templates/, nlu/,
    dialogue/, console/ canned responses, rasa/...); existing files are kept unless ``overwrite``."""
    source, target = Path(source), Path(target).expanduser().absolute()
    if not (source / "catalog.yml").is_file():
        raise InitError(f"{source} has no catalog.yml: not a Reporta data folder")
    if target.exists() and not target.is_dir():
        raise InitError(f"{target} exists and is not a folder")
    copied: list[Path] = []
    kept: list[Path] = []
    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or _SKIP.intersection(rel.parts) or path.suffix == ".pyc":
            continue
        dest = target / rel
        if dest.exists() and not overwrite:
            kept.append(rel)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
        copied.append(rel)
    return InitResult(target, copied, kept)
