"""Soak: ask many questions in a row in one process and report memory growth.

    .venv/bin/python scripts/soak.py [--n 1000] [--index index] [--corpus seeds]

Cycles through the dev gold questions (and their follow-ups with history),
printing resident memory (RSS) at the start, every 200 questions and at the
end. Growth beyond the bound (default 50 MB after warm-up) exits 1.
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--index", default="index")
    ap.add_argument("--corpus", default="seeds")
    ap.add_argument("--gold", default="evals/gold_dev.jsonl")
    ap.add_argument("--bound-mb", type=float, default=50.0)
    args = ap.parse_args()
    from rag import Retriever, ask

    questions = [json.loads(line)["question"] for line in open(args.gold, encoding="utf-8") if line.strip()]
    r = Retriever.load(args.index, corpus_dir=args.corpus)
    for q in questions:  # warm-up: models, caches, jieba
        ask(q, retriever=r)
    start = rss_mb()
    print(f"start (after warm-up): {start:.1f} MB", flush=True)
    t0 = time.perf_counter()
    history = []
    for i in range(args.n):
        q = questions[i % len(questions)]
        a = ask(q, retriever=r, history=history[-4:])
        history += [{"role": "user", "content": q}, {"role": "assistant", "content": a.text}]
        if (i + 1) % 200 == 0:
            print(f"{i + 1:5d} questions: {rss_mb():.1f} MB", flush=True)
    end = rss_mb()
    print(f"end: {end:.1f} MB after {args.n} questions in {time.perf_counter() - t0:.1f} s; growth {end - start:+.1f} MB "
          f"(bound {args.bound_mb:.0f} MB)")
    return 0 if end - start <= args.bound_mb else 1


if __name__ == "__main__":
    sys.exit(main())
