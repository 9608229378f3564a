"""The CLI as a user runs it: real subprocesses, exit codes, one-line errors."""

import json
import subprocess
import sys

import pytest

from .conftest import ROOT


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_search_json(seed_index):
    p = run("search", "吉家庄村的第一书记是谁？", "--index", str(seed_index), "-k", "3", "--json", "--corpus", str(seed_index.parent / "corpus"))
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["query"] == "吉家庄村的第一书记是谁？" and len(out["hits"]) == 3
    assert set(out["hits"][0]) == {"rank", "score", "chunk_id", "doc_id", "source", "title", "text", "start", "end",
                                   "also_in", "date"}


@pytest.mark.parametrize(
    "args, message",
    [
        (("search", "   ", "--index", "/nonexistent/index"), "the question is empty"),
        (("search", "山西", "--index", "/nonexistent/index"), "no index in /nonexistent/index"),
        (("build", "--corpus", "/nonexistent/corpus", "--index", "/tmp/rag-test-unused"), "corpus folder /nonexistent/corpus does not exist"),
        (("search", "山西", "-k", "0", "--index", "/nonexistent/index"), "k must be a positive number"),
    ],
)
def test_errors_are_one_sentence_and_nonzero(args, message):
    p = run(*args)
    assert p.returncode != 0
    assert message in p.stderr
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(90)  # fails at once: no model download is tried, no torch import for a missing name
def test_unreachable_model_fails_fast(tmp_path):
    p = run("build", "--corpus", str(ROOT / "seeds"), "--index", str(tmp_path / "i"), "--model", "BAAI/bge-m3")
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert "BAAI/bge-m3" in p.stderr and "cannot be reached" in p.stderr
