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


@pytest.mark.parametrize("name, folders", [("answers_dev", ["evals/answers_dev/corpus"]),
                                           ("answers_new", ["seeds", "evals/answers_new/articles"])])
def test_answer_kind_sets_are_verbatim_and_split(name, folders):
    """Every evidence clause and answer stands in its source (white space removed), every row has
    a split, and answers_new is split about half and half within each case."""
    from collections import Counter

    from evals.common import load_gold
    from rag.text import squash

    texts = {p.name: squash(p.read_text(encoding="utf-8")) for f in folders for p in (ROOT / f).glob("*.txt")}
    rows = load_gold(ROOT / "evals" / name / "questions.jsonl")
    everything = "".join(texts.values())
    for r in rows:
        assert r["split"] in ("tune", "report"), r["id"]
        if r["answers"]:
            assert squash(r["evidence"]) in texts[r["source"]], r["id"]
            for group in r["answers"]:
                assert any(squash(s) in everything for s in group), (r["id"], group)
    assert len(load_gold(ROOT / "evals" / name / "questions.jsonl", "report")) >= 1
    if name == "answers_new":
        per_case = Counter((r["case"], r["split"]) for r in rows)
        for case in {r["case"] for r in rows}:
            assert abs(per_case[(case, "tune")] - per_case[(case, "report")]) <= 1, case


def test_several_corpus_folders_are_joined_once(tmp_path, monkeypatch):
    from evals.common import EvalError, corpus_folder

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "x.txt").write_text("甲", encoding="utf-8")
    (tmp_path / "b" / "y.txt").write_text("乙", encoding="utf-8")
    joined = corpus_folder("a,b")
    assert sorted(p.name for p in joined.iterdir()) == ["x.txt", "y.txt"] and corpus_folder("a,b") == joined
    assert corpus_folder("a") == tmp_path / "a" or corpus_folder("a").name == "a"
    (tmp_path / "b" / "x.txt").write_text("丙", encoding="utf-8")
    with pytest.raises(EvalError, match="same name"):
        corpus_folder("a,b")


@pytest.mark.slow
def test_calibrate_fits_and_writes_every_feature(tmp_path):
    """evals.calibrate on a tiny gold file of its own (two roads from one template, one question
    about a third road the articles do not cover): the weights file names every feature."""
    from rag.answer.score import FEATURES

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, road, km, builder in (("a.txt", "上坪村道", 8, "卢建华"), ("b.txt", "下坪村道", 11, "卢建业")):
        (corpus / name).write_text(f"{road}建成通车\n\n本报记者 田野\n\n{road}全长{km}公里，由施工队长{builder}负责建设。\n",
                                   encoding="utf-8")
    gold = tmp_path / "gold.jsonl"
    rows = [("t1", "上坪村道全长多少公里？", [["8公里"]], "上坪村道全长8公里"),
            ("t2", "下坪村道由谁负责建设？", [["卢建业"]], "由施工队长卢建业负责建设"),
            ("t3", "中坪村道全长多少公里？", [], None), ("t4", "下坪村道全长多少公里？", [["11公里"]], "下坪村道全长11公里")]
    gold.write_text("".join(json.dumps({"id": i, "question": q, "answers": a, "evidence": e, "source": None,
                                        "type": "number", "split": "tune"}, ensure_ascii=False) + "\n"
                            for i, q, a, e in rows), encoding="utf-8")
    out = tmp_path / "score.json"
    p = run("evals.calibrate", "--gold", str(gold), "--corpus", str(corpus), "--index", str(tmp_path / "index"),
            "--squad-limit", "0", "--out", str(out))
    assert p.returncode == 0, p.stderr[-2000:]
    weights = json.loads(out.read_text(encoding="utf-8"))
    assert set(weights["coef"]) == set(FEATURES) and "intercept" in weights and "fitted_on" in weights
    assert "threshold only" in p.stdout and "fitted" in p.stdout
