"""Speed benchmark: this pipeline against a peer pipeline, same machine, same run.

    python -m evals.bench [--gold evals/gold_dev.jsonl] [--corpus seeds] [--out evals/reports/bench.json]

Ours: index build cold (empty embedding cache) and warm (cache filled, forced
rebuild), the embedder loaded beforehand on both sides; search and ask latency per mode (median, p95); ask throughput with
2 threads; Hit@5 on the gold set. Peer: what most projects do, LangChain's
FAISS vector store over the same chunks with the same embedder, dense only:
build time, search latency, 2-thread throughput, Hit@5. Each side runs in its
own subprocess so that its peak memory (max RSS) is its own. Timings on a
shared 2-core machine are noisy: read the ratios, which come from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rag.metrics import evidence_rank, hit_at, median, percentile

from .common import load_gold, markdown_table, run_main, table

REPEATS = 3


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn, items, repeats=REPEATS) -> list[float]:
    out = []
    for _ in range(repeats):
        for x in items:
            t0 = time.perf_counter()
            fn(x)
            out.append((time.perf_counter() - t0) * 1000)
    return out


def _throughput(fn, items, threads=2) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fn, items))
    return len(items) / (time.perf_counter() - t0)


def side_ours(corpus: str, gold_path: str) -> dict:
    from rag import Config, Retriever, ask, build_index, load_encoder

    gold = load_gold(gold_path)
    questions = [g["question"] for g in gold]
    model = load_encoder(Config().model)  # loaded outside the timings, as for the peer
    model.encode_query(["预热"])
    with tempfile.TemporaryDirectory() as tmp:
        index = Path(tmp) / "index"
        t0 = time.perf_counter()
        cold = build_index(corpus, index, Config(), encoder=model)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_index(corpus, index, Config(), encoder=model, force=True)
        warm_s = time.perf_counter() - t0
        r = Retriever.load(index, encoder=model)
        ask("预热", retriever=r)
        out = {"side": "ours", "chunks": cold.chunks, "build_cold_s": cold_s, "build_warm_s": warm_s, "modes": {}}
        for mode in ("dense", "bm25", "hybrid"):
            s = _timed(lambda q: r.search(q, k=5, mode=mode), questions)
            a = _timed(lambda q: ask(q, retriever=r, mode=mode), questions, repeats=1)
            ranks = [evidence_rank([h.text for h in r.search(g["question"], k=5, mode=mode)], g["evidence"])
                     for g in gold if g["answers"]]
            out["modes"][mode] = {
                "search_ms": {"median": median(s), "p95": percentile(s, 95)},
                "ask_ms": {"median": median(a), "p95": percentile(a, 95)},
                "search_qps_2threads": _throughput(lambda q: r.search(q, k=5, mode=mode), questions),
                "ask_qps_2threads": _throughput(lambda q: ask(q, retriever=r, mode=mode), questions),
                "hit@5": hit_at(ranks, 5),
            }
    out["peak_rss_mb"] = _peak_mb()
    return out


class _STEmbeddings:
    """LangChain `Embeddings` over the same SentenceTransformer (with e5 prompts)."""

    def __init__(self, model):
        from rag.encoders import as_encoder

        self.encoder = as_encoder(model)

    def embed_documents(self, texts):
        return self.encoder.encode_documents(list(texts)).tolist()

    def embed_query(self, text):
        return self.encoder.encode_query([text])[0].tolist()


def side_peer(corpus: str, gold_path: str) -> dict:
    from langchain_community.vectorstores import FAISS
    from langchain_core.embeddings import Embeddings

    from rag import Config, load_embedder
    from rag.ingest.chunking import chunk_articles
    from rag.ingest.corpus import load_corpus

    class STEmbeddings(_STEmbeddings, Embeddings):
        pass

    gold = load_gold(gold_path)
    questions = [g["question"] for g in gold]
    cfg = Config()
    chunks = chunk_articles(load_corpus(corpus).articles, cfg.chunk_size, cfg.chunk_overlap)
    emb = STEmbeddings(load_embedder(cfg.model))
    emb.embed_query("预热")
    t0 = time.perf_counter()
    store = FAISS.from_texts([c.embed_text for c in chunks], emb, metadatas=[{"text": c.text} for c in chunks])
    build_s = time.perf_counter() - t0
    search = lambda q: store.similarity_search(q, k=5)  # noqa: E731
    s = _timed(search, questions)
    ranks = [evidence_rank([d.metadata["text"] for d in search(g["question"])], g["evidence"]) for g in gold if g["answers"]]
    return {
        "side": "peer (LangChain FAISS, dense)",
        "chunks": len(chunks),
        "build_cold_s": build_s,
        "search_ms": {"median": median(s), "p95": percentile(s, 95)},
        "search_qps_2threads": _throughput(search, questions),
        "hit@5": hit_at(ranks, 5),
        "peak_rss_mb": _peak_mb(),
    }


def _run_side(side: str, args) -> dict:
    cmd = [sys.executable, "-m", "evals.bench", "--side", side, "--corpus", args.corpus, "--gold", args.gold]
    p = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if p.returncode != 0:
        raise RuntimeError(f"the {side} benchmark failed: {p.stderr.strip().splitlines()[-1] if p.stderr.strip() else p.returncode}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", default="seeds")
    ap.add_argument("--gold", default="evals/gold_dev.jsonl")
    ap.add_argument("--out", default="evals/reports/bench.json")
    ap.add_argument("--report", default=None, help="write a Markdown table to this file")
    ap.add_argument("--side", choices=("ours", "peer"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.side:
        result = side_ours(args.corpus, args.gold) if args.side == "ours" else side_peer(args.corpus, args.gold)
        print(json.dumps(result))
        return 0
    load_gold(args.gold)  # fail early on a bad file
    ours = _run_side("ours", args)
    peer = _run_side("peer", args)
    rows = [
        ["build, cold (s)", ours["build_cold_s"], peer["build_cold_s"], ours["build_cold_s"] / peer["build_cold_s"]],
        ["build, warm cache (s)", ours["build_warm_s"], peer["build_cold_s"], ours["build_warm_s"] / peer["build_cold_s"]],
    ]
    for mode, m in ours["modes"].items():
        rows.append([f"search {mode} median (ms)", m["search_ms"]["median"], peer["search_ms"]["median"],
                     m["search_ms"]["median"] / peer["search_ms"]["median"]])
        rows.append([f"search {mode} p95 (ms)", m["search_ms"]["p95"], peer["search_ms"]["p95"],
                     m["search_ms"]["p95"] / peer["search_ms"]["p95"]])
        rows.append([f"search {mode} q/s, 2 threads", m["search_qps_2threads"], peer["search_qps_2threads"],
                     m["search_qps_2threads"] / peer["search_qps_2threads"]])
        rows.append([f"ask {mode} median / p95 (ms)", f"{m['ask_ms']['median']:.1f} / {m['ask_ms']['p95']:.1f}", "-", "-"])
        rows.append([f"ask {mode} q/s, 2 threads", m["ask_qps_2threads"], "-", "-"])
        rows.append([f"Hit@5 {mode}", m["hit@5"], peer["hit@5"], m["hit@5"] / peer["hit@5"]])
    rows.append(["peak memory (MB RSS)", ours["peak_rss_mb"], peer["peak_rss_mb"], ours["peak_rss_mb"] / peer["peak_rss_mb"]])
    header = ["measure", "ours", "peer", "ours/peer"]
    print(f"{ours['chunks']} chunks of {args.corpus}; {len(load_gold(args.gold))} gold questions; search timed {REPEATS}x")
    print(table(rows, header))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"ours": ours, "peer": peer, "table": rows}, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"wrote {args.out}")
    if args.report:
        Path(args.report).write_text(f"`python -m evals.bench`\n\n{markdown_table(rows, header)}\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    run_main(main)
