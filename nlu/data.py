"""Reading NLU training/test data: Rasa NLU YAML (intents, synonyms, lookup tables), TSV/CSV ``text,label``, and
the real reports beside the YAML (``data/nlu/real/*.tsv``, ``text<TAB>intent``: Madrid's public reporting service,
"Fuente: Ayuntamiento de Madrid" — see ``data/nlu/real/README.md``).

Entity annotations in Rasa examples (``[Morelos](street)``, ``[el Oxxo]{"entity": "landmark"}``) are stripped to
their surface text for intent classification.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_ANNOT_RE = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")


@dataclass
class NluData:
    """Examples (text, intent) plus synonyms and lookup tables."""

    examples: list[tuple[str, str]] = field(default_factory=list)
    #: Real citizens' reports (``real/*.tsv``): trained on with their own weight, kept apart from ``examples``.
    real: list[tuple[str, str]] = field(default_factory=list)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)


def strip_annotations(text: str) -> str:
    """Rasa example text without entity markup."""
    return _ANNOT_RE.sub(r"\1", text)


def _block_items(block: str | list | None) -> list[str]:
    if block is None:
        return []
    if isinstance(block, list):
        return [str(x) for x in block]
    items = []
    for line in str(block).splitlines():
        line = line.strip()
        if line.startswith("- "):
            items.append(line[2:].strip())
        elif line == "-":
            continue
    return items


def read_rasa_yaml(path: Path, into: NluData | None = None) -> NluData:
    """Add one Rasa NLU YAML file's content to ``into`` (a new :class:`NluData` by default)."""
    data = into if into is not None else NluData()
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for item in doc.get("nlu", []) or []:
        if "intent" in item:
            for ex in _block_items(item.get("examples")):
                text = strip_annotations(ex)
                if text:
                    data.examples.append((text, str(item["intent"])))
        elif "synonym" in item:
            data.synonyms.setdefault(str(item["synonym"]), []).extend(_block_items(item.get("examples")))
        elif "lookup" in item:
            data.lookups.setdefault(str(item["lookup"]), []).extend(_block_items(item.get("examples")))
    return data


REAL_DIR = "real"
#: Attribution that travels with the real reports and every model trained on them (``data/nlu/real/README.md``).
REAL_ATTRIBUTION = "Fuente: Ayuntamiento de Madrid"


def training_files(nlu_dir: Path) -> list[Path]:
    """The files that train the model: the YAML under ``nlu_dir`` (except a held-out ``test/`` folder) and the real
    reports ``real/*.tsv``."""
    files = sorted(p for p in nlu_dir.rglob("*.yml") if "test" not in p.relative_to(nlu_dir).parts[:-1])
    return files + real_files(nlu_dir)


def real_files(nlu_dir: Path) -> list[Path]:
    return sorted((nlu_dir / REAL_DIR).glob("*.tsv"))


def read_real(path: Path) -> list[tuple[str, str]]:
    """(text, intent) rows of a real-reports TSV: a header, then ``text<TAB>intent`` (the text may carry CSV quotes,
    which are stripped; the intent is after the last tab)."""
    out = []
    with path.open(encoding="utf-8") as f:
        next(f, None)
        for line in f:
            text, sep, intent = line.rstrip("\n").rpartition("\t")
            text = text.strip().strip('"').strip()
            if sep and text and intent.strip():
                out.append((text, intent.strip()))
    return out


def load_training_data(nlu_dir: Path, *, real: bool = True) -> NluData:
    """Everything under ``nlu_dir`` that trains the model (``real=False``: the YAML only)."""
    data = NluData()
    for path in training_files(nlu_dir):
        if path.suffix == ".yml":
            read_rasa_yaml(path, data)
        elif real:
            data.real.extend(read_real(path))
    return data


def read_labelled(path: Path) -> list[tuple[str, str]]:
    """(text, label) pairs from Rasa NLU YAML (a file or a folder of them) or a TSV/CSV with ``text``/``label``."""
    if path.is_dir():
        data = NluData()
        for p in sorted(path.rglob("*.yml")) + sorted(path.rglob("*.yaml")):
            read_rasa_yaml(p, data)
        return data.examples
    if path.suffix.lower() in {".yml", ".yaml"}:
        return read_rasa_yaml(path).examples
    raw = path.read_text(encoding="utf-8-sig")
    first = raw.splitlines()[0] if raw else ""
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in first else ","
    reader = csv.DictReader(raw.splitlines(), delimiter=delimiter)
    fields = {f.strip().lower(): f for f in reader.fieldnames or []}
    if "text" not in fields or not ({"label", "intent"} & fields.keys()):
        raise ValueError(f"{path}: expected columns 'text' and 'label'")
    label_col = fields.get("label") or fields["intent"]
    return [
        (row[fields["text"]], row[label_col].strip())
        for row in reader
        if row.get(fields["text"]) and row.get(label_col)
    ]
