"""The eval scripts as users run them, and the CI regression guard."""

import json
import subprocess
import sys

import pytest

from .conftest import GOLD, ROOT

CMRC = ROOT.parent / "shared" / "benchmarks" / "cmrc2018" / "cmrc2018_dev.json"


def run(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_gold_eval_meets_the_floors(seed_index, tmp_path):
    """CI guard: fails when a metric drops below evals/floors.json."""
    corpus = seed_index.parent / "corpus"
    out = tmp_path / "report.json"
    p = run("evals.run", "--gold", str(GOLD), "--index", str(seed_index), "--corpus", str(corpus),
            "--compare", "dense,bm25,hybrid", "--out", str(out), "--report", str(tmp_path / "report"),
            "--floors", str(ROOT / "evals" / "floors.json"))
    assert p.returncode == 0, p.stderr[-2000:] + p.stdout[-2000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    modes = [r["mode"] for r in data["results"]]
    assert modes == ["dense", "bm25", "hybrid"]
    hybrid = data["results"][2]
    assert len(hybrid["questions"]) == sum(1 for _ in GOLD.open(encoding="utf-8"))
    assert {"rank", "correct", "short_answer", "citations", "ask_ms"} <= set(hybrid["questions"][0])
    assert (tmp_path / "report" / "gold_eval.md").exists() and (tmp_path / "report" / "gold_eval.png").stat().st_size > 1000
    assert "hybrid" in p.stdout and "hit@5" in p.stdout


@pytest.mark.slow  # measured 3-5 s
def test_floor_breach_fails(seed_index, tmp_path):
    floors = tmp_path / "floors.json"
    floors.write_text(json.dumps({"bm25": {"min": {"hit@5": 1.01}}}), encoding="utf-8")
    small = tmp_path / "gold.jsonl"
    small.write_text("".join(GOLD.read_text(encoding="utf-8").splitlines(True)[:5]), encoding="utf-8")
    p = run("evals.run", "--gold", str(small), "--index", str(seed_index), "--corpus", str(seed_index.parent / "corpus"),
            "--mode", "bm25", "--floors", str(floors))
    assert p.returncode == 1 and "below its floor" in p.stderr


def test_bad_gold_file_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "q"}\n', encoding="utf-8")
    p = run("evals.run", "--gold", str(bad))
    assert p.returncode == 1 and "lacks answers, type" in p.stderr and "Traceback" not in p.stderr


@pytest.mark.slow
@pytest.mark.skipif(not CMRC.exists(), reason="CMRC 2018 dev set not present beside the project")
def test_cmrc_smoke(tmp_path):
    out = tmp_path / "cmrc.json"
    p = run("evals.squad", "--data", str(CMRC), "--limit", "40", "--modes", "bm25,hybrid", "--workdir",
            str(tmp_path / "w"), "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    results = {r["mode"]: r for r in json.loads(out.read_text(encoding="utf-8"))["results"]}
    assert set(results) == {"bm25", "hybrid"}
    assert results["hybrid"]["recall@5"] >= 0.9
    assert results["hybrid"]["f1"] > 0.2
    assert (tmp_path / "w" / "ATTRIBUTION.txt").exists()
