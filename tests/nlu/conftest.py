"""Fixtures for the NLU tests: one model trained per test session into a temporary cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reporta.settings import DEFAULT_DATA_DIR, Settings

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def nlu_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model per run (training takes tens of seconds); ``REPORTA_TEST_NLU_CACHE`` reuses a directory across
    runs while working on the NLU (the file name carries the data hash, so a data change still retrains)."""
    reuse = os.environ.get("REPORTA_TEST_NLU_CACHE")
    return Path(reuse) if reuse else tmp_path_factory.mktemp("nlu-cache")


@pytest.fixture(scope="session")
def nlu_settings(nlu_cache: Path) -> Settings:
    return Settings(data_dir=DEFAULT_DATA_DIR, nlu_cache_dir=nlu_cache, nlu_engine="builtin")


@pytest.fixture(scope="session")
def parser(nlu_settings: Settings):
    from nlu.api import load_parser

    return load_parser(nlu_settings)
