"""Near-duplicate groups on the CRUD news articles (issue 21): how many, how large, and a sample to check.

    python -m evals.near_duplicates --data ../shared/benchmarks/crud_news --sample 50 --seed 21

Prints the groups' count and sizes and the time, and, for `--sample` random groups, the start and
the middle of each member, to judge by hand whether the members are the same story. The verdicts
of the check reported in the README are in evals/near_duplicates_check.json (ids only: the
articles are not ours to ship). Ids are `<file>-<line number from 0>`.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import time
from pathlib import Path

from rag.index.near_duplicates import near_duplicate_groups
from rag.ingest.article import Article


def crud_articles(folder: Path) -> list[Article]:
    """One `Article` per line of the CRUD files (`<date> ，正文：<text>`)."""
    out = []
    for f in sorted(folder.glob("documents_dup_*")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            if line.strip():
                out.append(Article(f"{f.name}-{n}", f.name, "", line.split("正文：", 1)[-1].strip()))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/benchmarks/crud_news")
    ap.add_argument("--sample", type=int, default=50)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args(argv)
    articles = crud_articles(Path(args.data))
    t0 = time.perf_counter()
    groups = near_duplicate_groups(articles)
    seconds = time.perf_counter() - t0
    sizes = collections.Counter(len(g) for g in groups)
    print(json.dumps({"articles": len(articles), "groups": len(groups), "grouped_articles": sum(map(len, groups)),
                      "sizes": dict(sorted(sizes.items())), "seconds": round(seconds, 1)}))
    text = {a.doc_id: "".join(a.text.split()) for a in articles}
    for k, group in enumerate(random.Random(args.seed).sample(groups, min(args.sample, len(groups))), 1):
        print(f"## {k} ({len(group)})")
        for d in group:
            t = text[d]
            print(f"  {d}  {len(t):4d}  {t[:45]} … {t[len(t) // 2 : len(t) // 2 + 30]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
