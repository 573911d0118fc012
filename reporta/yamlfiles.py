"""Reading Reporta's YAML data files (catalog, escalation lexicon, canned answers, the open-data dictionary).

Safe loading only, with libyaml's C parser when PyYAML was built with it: the catalog is read on every runtime
start, and the pure-Python parser took most of that start-up (0.18 s of 0.5 s). Imports nothing of Reporta.
"""

from __future__ import annotations

from typing import Any

import yaml

SafeLoader: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The document in ``text`` (plain data only: no Python objects); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=SafeLoader)
