"""The independent pothole held-out set (``tests/nlu/data/pothole_mx_independent.yml``) stays held out.

The set was written without seeing the training data; these tests keep it that way: it parses as Rasa NLU YAML with
its two blocks, and no line normalises to the same string as a training example (read at run time).
"""

from __future__ import annotations

import re

import yaml

from nlu.api import SERVICE_INTENTS
from nlu.data import _block_items, load_training_data, read_labelled, strip_annotations
from nlu.normalize import normalize
from reporta.settings import DEFAULT_DATA_DIR
from tests.nlu.conftest import DATA

PATH = DATA / "pothole_mx_independent.yml"
BACHE_RE = re.compile(r"[bv]a+ch", re.IGNORECASE)  # bache, baches, bachear, bacheo, vache, baache...


def _blocks() -> dict[str, list[tuple[str, str]]]:
    doc = yaml.safe_load(PATH.read_text(encoding="utf-8"))
    assert doc["version"] == "3.1"
    blocks: dict[str, list[tuple[str, str]]] = {}
    for item in doc["nlu"]:
        blocks.setdefault(item["metadata"]["block"], []).extend(
            (strip_annotations(t), str(item["intent"])) for t in _block_items(item["examples"])
        )
    return blocks


def test_the_set_parses_with_both_blocks() -> None:
    blocks = _blocks()
    assert set(blocks) == {"freetext", "not_pothole"}
    free, near = blocks["freetext"], blocks["not_pothole"]
    assert len(free) >= 150 and {y for _, y in free} == {"pothole"}
    assert len(near) >= 50 and "pothole" not in {y for _, y in near}
    assert {y for _, y in near} <= SERVICE_INTENTS
    assert sum(not BACHE_RE.search(t) for t, _ in free) >= 0.6 * len(free)  # most of it without the word
    assert len(read_labelled(PATH)) == len(free) + len(near)  # the ordinary reader sees every line


def test_no_line_is_a_training_example() -> None:
    data = load_training_data(DEFAULT_DATA_DIR / "nlu")  # the written examples and the real reports
    trained = {normalize(t) for t, _ in data.examples + data.real}
    texts = [t for block in _blocks().values() for t, _ in block]
    assert len({normalize(t) for t in texts}) == len(texts)  # no line twice
    assert not [t for t in texts if normalize(t) in trained]
