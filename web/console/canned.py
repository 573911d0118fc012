"""Canned responses for the inbox's reply box: ``data/console/canned.yml`` (a list of ``{title, text}``),
editable per municipality; a missing or invalid file means no canned responses (and a warning in the log)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from reporta.yamlfiles import load_yaml

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Canned:
    title: str
    text: str


def load_canned(data_dir: Path) -> list[Canned]:
    path = Path(data_dir) / "console" / "canned.yml"
    try:
        raw = load_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return []
    except (OSError, yaml.YAMLError) as exc:
        log.warning("canned responses: cannot read %s (%s)", path, exc)
        return []
    items = raw.get("responses") if isinstance(raw, dict) else None
    out = []
    for i, item in enumerate(items or []):
        if isinstance(item, dict) and str(item.get("title") or "").strip() and str(item.get("text") or "").strip():
            out.append(Canned(str(item["title"]).strip(), str(item["text"]).strip()))
        else:
            log.warning("canned responses: %s: entry %d needs a title and a text", path, i + 1)
    return out
