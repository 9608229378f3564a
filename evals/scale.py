"""Scaling benchmark: how the vector store grows with the corpus.

    python -m evals.scale [--sizes 10000,100000,1000000] [--out-dir evals/reports]

For each store (FAISS flat, FAISS HNSW with the project's settings, Milvus
Lite) and size, in a fresh subprocess: build time, size on disk, peak memory
(max RSS of that process), single-query latency (median, p95 of 200
queries; 20 for Milvus Lite, which is slow per query) and recall@10 against exact search. Vectors are SYNTHETIC: 384-d,
drawn around 1,000 random centres and L2-normalised, so that neighbourhoods
exist (uniform random vectors make HNSW recall meaningless); real e5 vectors
of the same dimension cost the same to store and search. A (store, size)
that would run past `--max-seconds` is skipped and reported as skipped.
Writes scale.json, scale.md and scale.png.
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
from pathlib import Path

import numpy as np

from rag.metrics import median, percentile

from .common import markdown_table, run_main, table

DIM = 384
STORES = ("faiss-flat", "faiss-hnsw", "milvus-lite")


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, DIM)).astype(np.float32)
    out = np.empty((n, DIM), dtype=np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        out[i : i + m] = centres[rng.integers(0, 1000, m)] + 0.6 * rng.standard_normal((m, DIM)).astype(np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure_one(store: str, n: int) -> dict:
    import faiss

    from rag.index.milvus import MilvusIndex
    from rag.index.store import FaissStore
    from rag.ingest.chunking import Chunk

    vectors = synthetic(n)
    # Milvus Lite answers a query in ~0.3 s per 10k vectors here: fewer queries keep the run bounded
    queries = synthetic(200 if store.startswith("faiss") else 20, seed=1)
    exact = faiss.IndexFlatIP(DIM)
    exact.add(vectors)
    _, truth = exact.search(queries, 10)
    del exact
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        if store.startswith("faiss"):
            s = FaissStore.build(vectors, "hnsw" if store == "faiss-hnsw" else "flat")
            s.save(tmp)
        else:  # the product's collection, one short passage per vector (dense search only is measured)
            s = MilvusIndex.create(str(tmp / "milvus.db"), "bench", DIM)
            s.insert("data-bench", [Chunk(f"c-{i}", f"d-{i}", "s", "", f"第{i}段", 0, 3) for i in range(n)], vectors, {})
        build_s = time.perf_counter() - t0
        lat, found = [], 0
        for q, t in zip(queries, truth):
            t1 = time.perf_counter()
            if store.startswith("faiss"):
                ids = s.search(q.reshape(1, -1), 10)[1][0].tolist()
            else:
                ids = [int(c.chunk_id[2:]) for c, _, _ in s.search("", q, 10, "dense", ["data-bench"])]
            lat.append((time.perf_counter() - t1) * 1000)
            found += len(set(ids) & set(t.tolist()))
        size = _dir_size(tmp)
    return {"store": store, "n": n, "build_s": build_s, "disk_mb": size / 2**20,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rss_before_mb": rss0,
            "query_ms": {"median": median(lat), "p95": percentile(lat, 95)}, "recall@10": found / (10 * len(queries))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.scale", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--stores", default=",".join(STORES))
    ap.add_argument("--max-seconds", type=int, default=900, help="per (store, size) run")
    ap.add_argument("--milvus-max", type=int, default=100_000,
                    help="largest size for Milvus Lite (a test backend; see docs/scaling.md)")
    ap.add_argument("--out-dir", default="evals/reports")
    ap.add_argument("--one", nargs=2, metavar=("STORE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]))))
        return 0
    sizes = [int(x) for x in args.sizes.split(",")]
    results = []
    for store in args.stores.split(","):
        skip = False
        for n in sizes:
            if skip:
                results.append({"store": store, "n": n, "skipped": f"a smaller size already took over {args.max_seconds} s"})
                continue
            if store == "milvus-lite" and n > args.milvus_max:
                results.append({"store": store, "n": n, "skipped": f"over --milvus-max {args.milvus_max:,}"})
                continue
            print(f"{store} {n:,} ...", file=sys.stderr, flush=True)
            try:
                p = subprocess.run([sys.executable, "-m", "evals.scale", "--one", store, str(n)], capture_output=True,
                                   text=True, timeout=args.max_seconds, env={**os.environ, "OMP_NUM_THREADS": "2"})
                if p.returncode:
                    results.append({"store": store, "n": n, "skipped": p.stderr.strip().splitlines()[-1][:200]})
                    continue
                results.append(json.loads(p.stdout.strip().splitlines()[-1]))
            except subprocess.TimeoutExpired:
                results.append({"store": store, "n": n, "skipped": f"over {args.max_seconds} s"})
                skip = True
    header = ["store", "vectors", "build s", "disk MB", "peak RSS MB", "query ms (med/p95)", "recall@10"]
    rows = []
    for r in results:
        if "skipped" in r:
            rows.append([r["store"], f"{r['n']:,}", "skipped: " + r["skipped"], "", "", "", ""])
        else:
            rows.append([r["store"], f"{r['n']:,}", r["build_s"], r["disk_mb"], r["peak_rss_mb"],
                         f"{r['query_ms']['median']:.2f}/{r['query_ms']['p95']:.2f}", r["recall@10"]])
    print(table(rows, header))
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    (out / "scale.md").write_text(f"`python -m evals.scale --sizes {args.sizes}` (synthetic 384-d vectors)\n\n"
                                  + markdown_table(rows, header) + "\n\n![scaling](scale.png)\n", encoding="utf-8")
    _plot(results, out / "scale.png")
    return 0


def _plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    panels = [("build_s", "build time (s)"), ("query_ms", "query latency, median (ms)"),
              ("peak_rss_mb", "peak memory (MB RSS)"), ("disk_mb", "size on disk (MB)")]
    for ax, (key, label) in zip(axes, panels):
        for store in dict.fromkeys(r["store"] for r in results):
            pts = [(r["n"], r[key]["median"] if key == "query_ms" else r[key]) for r in results
                   if r["store"] == store and "skipped" not in r]
            if pts:
                ax.plot(*zip(*pts), marker="o", label=store)
        ax.set(xscale="log", yscale="log", xlabel="vectors", title=label)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    run_main(main)
