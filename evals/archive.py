"""Scale on a real archive: indexes of 1k / 5k / 20k CRUD news articles, and the dev gold questions among them.

    python -m evals.archive [--sizes 1000,5000,20000] [--crud ../shared/benchmarks/crud_news]
                            [--workdir evals/.cache/archive] [--out-dir evals/reports]

Per size, from the first N articles of the CRUD-RAG news files (2023; see
their README: testing only, never shipped), written as `.jsonl` files of
1,000 articles (date and text; no title field):

- build: wall time of `build_index` from the shared embedding cache, the
  passages it embedded and their passages/s (embedding time only), and the
  cold build time (measured when every passage was embedded in this run,
  otherwise estimated as wall time + the cached passages at that speed: the
  cache makes the run resumable, so a killed run picks up where it stopped);
- index size on disk (the data folders; the embedding cache apart);
- in a fresh process: resident memory (VmRSS) after loading the retriever and
  the reader and answering the questions; search p50/p95 (k=10, hybrid) and
  `ask` p50/p95 over the 63 dev gold questions plus 40 questions built from
  CRUD headlines (`{headline}说了什么？`);
- at the largest size: adding 100 more articles (an incremental update) and
  removing them again, each timed.

Then the distractor test: the dev gold questions over the seed pages alone and
over the seeds plus the largest CRUD set (Hit@5, answer accuracy, abstention;
and how often two of the top 5 hits are one story: `also_in` groups fold
near-duplicates into one hit).

Writes archive.json, archive.md and archive.png into --out-dir. Results of
each step are kept in --workdir/results.json, so a second run only does
what is missing (`--fresh` starts over).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from rag.metrics import median, percentile

from .common import EvalError, load_gold, markdown_table, run_main, table

ROOT = Path(__file__).resolve().parent.parent
PER_FILE = 1000
HEADLINE_QUESTIONS = 40


def crud_articles(crud: Path, n: int) -> list[dict]:
    """The first n articles of the CRUD files (sorted by name) as {"date", "text"} rows."""
    files = sorted(p for p in crud.iterdir() if p.is_file() and p.name.startswith("documents"))
    if not files:
        raise EvalError(f"{crud} holds no documents_* files: pass --crud")
    rows = []
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            head, sep, text = line.partition("，正文：")
            if not sep or not text.strip():
                continue
            rows.append({"date": head.strip(" []").replace("：", ":"), "text": text.strip()})
            if len(rows) == n:
                return rows
    return rows


def write_corpus(rows: list[dict], folder: Path, extra: Path | None = None) -> Path:
    """`folder` with the rows as crud-000.jsonl … (PER_FILE each) and, with `extra`, copies of its files."""
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for i in range(0, len(rows), PER_FILE):
        wanted[f"crud-{i // PER_FILE:03d}.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                            for r in rows[i : i + PER_FILE])
    if extra is not None:
        for p in sorted(extra.iterdir()):
            if p.is_file():
                wanted[p.name] = p.read_text(encoding="utf-8")
    for p in folder.iterdir():
        if p.name not in wanted:
            p.unlink()
    for name, text in wanted.items():
        target = folder / name
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    return folder


def _share_cache(index: Path, cache: Path) -> None:
    """Every index of the run reads and fills one embedding cache (nested corpora share passages)."""
    index.mkdir(parents=True, exist_ok=True)
    link = index / "embeddings.sqlite"
    if not link.is_symlink():
        link.unlink(missing_ok=True)
        link.symlink_to(cache.resolve())


def _disk(index: Path) -> int:
    return sum(p.stat().st_size for d in index.glob("data-*") for p in d.rglob("*") if p.is_file())


def build_size(corpus: Path, index: Path, cache: Path) -> dict:
    from rag import build_index

    _share_cache(index, cache)
    t0 = time.perf_counter()
    report = build_index(corpus, index, progress=sys.stderr.isatty())
    wall = time.perf_counter() - t0
    speed = report.embedded / report.embed_seconds if report.embedded and report.embed_seconds else None
    cached = report.chunks - report.embedded
    return {
        "articles": report.articles, "passages": report.chunks, "embedded": report.embedded,
        "build_s": round(wall, 1), "embed_s": round(report.embed_seconds, 1),
        "passages_per_s": round(speed, 1) if speed else None,
        "cold_build_s": round(wall + (cached / speed if speed else 0), 1) if cached else round(wall, 1),
        "cold_build_estimated": bool(cached),
        "disk_mb": round(_disk(index) / 2**20, 1),
    }


def measure(index: Path, corpus: Path, questions: list[str]) -> dict:
    """Run in a fresh process: memory and latency of a loaded retriever + reader."""
    from rag import Retriever, ask

    t0 = time.perf_counter()
    r = Retriever.load(index, corpus_dir=corpus)
    load_s = time.perf_counter() - t0
    ask("预热 warm-up", retriever=r)
    search_ms, ask_ms = [], []
    for q in questions:
        t0 = time.perf_counter()
        r.search(q, k=10)
        search_ms.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        ask(q, retriever=r)
        ask_ms.append((time.perf_counter() - t0) * 1000)
    rss = int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024
    return {"load_s": round(load_s, 1), "rss_mb": round(rss), "questions": len(questions),
            "search_p50_ms": round(median(search_ms), 1), "search_p95_ms": round(percentile(search_ms, 95), 1),
            "ask_p50_ms": round(median(ask_ms), 1), "ask_p95_ms": round(percentile(ask_ms, 95), 1)}


def _measure_in_child(index: Path, corpus: Path, questions: list[str], workdir: Path) -> dict:
    qfile = workdir / "questions.json"
    qfile.write_text(json.dumps(questions, ensure_ascii=False), encoding="utf-8")
    p = subprocess.run([sys.executable, "-m", "evals.archive", "--measure", str(index), str(corpus), str(qfile)],
                       cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if p.returncode:
        raise EvalError(f"measuring {index} failed: {p.stderr.strip().splitlines()[-1:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def incremental(corpus: Path, index: Path, crud: Path, size: int) -> dict:
    """Add 100 articles not in the index (an update, not a rebuild), then remove them; both timed."""
    from rag import build_index, remove

    rows = crud_articles(crud, size + 100)[size:]
    extra = corpus / "zz-added.jsonl"
    extra.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    t0 = time.perf_counter()
    report = build_index(corpus, index)
    add_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    gone = remove([extra.name], corpus_dir=corpus, index_dir=index)
    remove_s = time.perf_counter() - t0
    return {"added_articles": len(rows), "add_incremental": report.incremental, "add_embedded": report.embedded,
            "add_s": round(add_s, 1), "add_embed_s": round(report.embed_seconds, 1),
            "remove_s": round(remove_s, 1), "removed_articles": gone.removed}


def distractors(seeds_only: Path, mixed_corpus: Path, workdir: Path, cache: Path) -> dict:
    """Dev gold over the seeds alone and over the seeds + the largest CRUD set."""
    from rag import Retriever, build_index

    from .run import evaluate

    gold = load_gold(ROOT / "evals" / "gold_dev.jsonl")
    out = {}
    for name, corpus in (("seeds", seeds_only), ("seeds+crud", mixed_corpus)):
        index = workdir / f"index-{name}"
        _share_cache(index, cache)
        build_index(corpus, index)
        r = Retriever.load(index, corpus_dir=corpus)
        s = evaluate(gold, r, "hybrid", 5)["summary"]
        hits = [r.search(g["question"], k=5) for g in gold]
        groups = r.index.groups
        # two of the top 5 from one story (should be none: search folds a group into one hit)
        doubled = sum(1 for hs in hits if len({groups.get(h.doc_id, (h.doc_id,)) for h in hs}) < len({h.doc_id for h in hs}))
        out[name] = {"articles": len(r.index.articles), "questions": len(gold),
                     **{k: s[k] for k in ("hit@1", "hit@5", "answer_accuracy", "short_answer_accuracy",
                                          "citation_precision", "abstention", "false_abstention")},
                     "hits_with_also_in": sum(1 for hs in hits for h in hs if h.also_in),
                     "top5_with_two_copies_of_a_story": doubled, "near_duplicate_groups": len(set(groups.values()))}
    return out


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(k) for k in results)
    get = lambda key: [results[str(n)][key] for n in sizes]  # noqa: E731
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    axes[0].plot(sizes, get("cold_build_s"), "o-", label="cold build (s)")
    axes[0].set(xlabel="articles", ylabel="s", title="Build time")
    axes[1].plot(sizes, get("search_p50_ms"), "o-", label="search p50")
    axes[1].plot(sizes, get("search_p95_ms"), "o--", label="search p95")
    axes[1].plot(sizes, get("ask_p50_ms"), "s-", label="ask p50")
    axes[1].plot(sizes, get("ask_p95_ms"), "s--", label="ask p95")
    axes[1].set(xlabel="articles", ylabel="ms", title="Latency")
    axes[1].legend()
    axes[2].plot(sizes, get("rss_mb"), "o-", label="resident memory (MB)")
    axes[2].plot(sizes, get("disk_mb"), "s-", label="index on disk (MB)")
    axes[2].set(xlabel="articles", ylabel="MB", title="Memory and disk")
    axes[2].legend()
    for ax in axes:
        ax.set_xscale("log")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.archive", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,5000,20000")
    ap.add_argument("--crud", default=str(ROOT.parent / "shared" / "benchmarks" / "crud_news"))
    ap.add_argument("--workdir", default=str(ROOT / "evals" / ".cache" / "archive"))
    ap.add_argument("--out-dir", default=str(ROOT / "evals" / "reports"))
    ap.add_argument("--fresh", action="store_true", help="forget earlier results (the embedding cache stays)")
    ap.add_argument("--no-distractors", action="store_true")
    ap.add_argument("--again", default="", help="comma-separated steps to measure again: measure-N (the latency "
                                                  "and memory of size N), incremental, distractors")
    ap.add_argument("--measure", nargs=3, metavar=("INDEX", "CORPUS", "QUESTIONS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.measure:
        index, corpus, qfile = args.measure
        print(json.dumps(measure(Path(index), Path(corpus), json.loads(Path(qfile).read_text(encoding="utf-8")))))
        return 0
    crud, workdir, out_dir = Path(args.crud), Path(args.workdir), Path(args.out_dir)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    workdir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache = workdir / "embeddings.sqlite"
    state_path = workdir / "results.json"
    state = {} if args.fresh or not state_path.exists() else json.loads(state_path.read_text(encoding="utf-8"))
    sizes_state = state.setdefault("sizes", {})

    def save() -> None:
        state_path.write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")

    for step in filter(None, args.again.split(",")):
        if step.startswith("measure-"):
            for key in ("load_s", "rss_mb", "questions", "search_p50_ms", "search_p95_ms", "ask_p50_ms", "ask_p95_ms"):
                sizes_state.get(step[len("measure-"):], {}).pop(key, None)
        else:
            state.pop(step, None)
    gold_questions = [g["question"] for g in load_gold(ROOT / "evals" / "gold_dev.jsonl")]
    rows_all = crud_articles(crud, max(sizes))
    if len(rows_all) < max(sizes):
        raise EvalError(f"{crud} holds only {len(rows_all)} articles")
    for n in sizes:
        key = str(n)
        if key in sizes_state and "ask_p95_ms" in sizes_state[key]:
            continue
        corpus = write_corpus(rows_all[:n], workdir / f"corpus-{n}")
        index = workdir / f"index-{n}"
        if key not in sizes_state:
            print(f"== {n} articles: building", file=sys.stderr)
            sizes_state[key] = build_size(corpus, index, cache)
            save()
        figures = sizes_state[key]
        from rag import build_index

        _share_cache(index, cache)
        build_index(corpus, index)  # measured before: only brought up to date (this version's splitter), from the cache
        # questions: the dev gold set, and ones about this archive's own stories
        from rag import Retriever

        r = Retriever.load(index, corpus_dir=corpus)
        titles = [a.title for a in list(r.index.articles.values())[:: max(1, n // HEADLINE_QUESTIONS)]][:HEADLINE_QUESTIONS]
        del r
        questions = gold_questions + [f"{t[:40]}说了什么？" for t in titles if t]
        print(f"== {n} articles: measuring", file=sys.stderr)
        figures.update(_measure_in_child(index, corpus, questions, workdir))
        save()
    largest = str(max(sizes))
    if "incremental" not in state:
        print("== adding and removing 100 articles", file=sys.stderr)
        state["incremental"] = incremental(workdir / f"corpus-{largest}", workdir / f"index-{largest}", crud,
                                           int(largest))
        save()
    if not args.no_distractors and "distractors" not in state:
        print("== dev gold among the distractors", file=sys.stderr)
        mixed = write_corpus(rows_all[: int(largest)], workdir / "corpus-seeds+crud", extra=ROOT / "seeds")
        state["distractors"] = distractors(ROOT / "seeds", mixed, workdir, cache)
        save()
    header = ["articles", "passages", "cold build (s)", "passages/s", "disk (MB)", "RSS (MB)", "search p50/p95 (ms)",
              "ask p50/p95 (ms)"]
    rows = []
    for n in sizes:
        f = sizes_state[str(n)]
        build = f"{f['cold_build_s']}" + (" (est.)" if f["cold_build_estimated"] else "")
        rows.append([n, f["passages"], build, f["passages_per_s"], f["disk_mb"], f["rss_mb"],
                     f"{f['search_p50_ms']} / {f['search_p95_ms']}", f"{f['ask_p50_ms']} / {f['ask_p95_ms']}"])
    print(table(rows, header))
    print(json.dumps({k: v for k, v in state.items() if k != "sizes"}, ensure_ascii=False, indent=1))
    (out_dir / "archive.json").write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    (out_dir / "archive.md").write_text(markdown_table(rows, header) + "\n", encoding="utf-8")
    plot(sizes_state, out_dir / "archive.png")
    return 0


if __name__ == "__main__":
    run_main(main)
