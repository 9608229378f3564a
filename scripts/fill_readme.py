"""Write the README "Results" tables from the eval outputs in evals/reports/.

    .venv/bin/python scripts/fill_readme.py   # after evals.run --out, evals.squad --out, evals.bench
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evals.common import markdown_table  # noqa: E402


def gold() -> str:
    data = json.loads((ROOT / "evals/reports/gold_eval.json").read_text(encoding="utf-8"))
    header = ["mode", "Hit@1", "Hit@3", "Hit@5", "Hit@10", "MRR@10", "nDCG@10", "answer acc", "short-answer acc",
              "citation precision", "abstention (unanswerable)", "false abstention", "search ms", "ask ms"]
    rows = []
    for r in data["results"]:
        s, lat = r["summary"], r["latency"]
        rows.append([r["mode"], s["hit@1"], s["hit@3"], s["hit@5"], s["hit@10"], s["mrr@10"], s["ndcg@10"],
                     s["answer_accuracy"], s["short_answer_accuracy"], s["citation_precision"], s["abstention"],
                     s["false_abstention"], f"{lat['search_ms']['median']:.1f} ({lat['search_ms']['p95']:.1f})",
                     f"{lat['ask_ms']['median']:.1f} ({lat['ask_ms']['p95']:.1f})"])
    return markdown_table(rows, header)


def cmrc() -> str:
    data = json.loads((ROOT / "evals/reports/cmrc_dev.json").read_text(encoding="utf-8"))
    header = ["mode", "Recall@1", "Recall@5", "Recall@10", "MRR@10", "EM", "F1", "abstained", "ms per question"]
    rows = [[r["mode"], r["recall@1"], r["recall@5"], r["recall@10"], r["mrr@10"], r["em"], r["f1"], r["abstained"],
             f"{r['latency_ms']['median']:.1f} ({r['latency_ms']['p95']:.1f})"] for r in data["results"]]
    return markdown_table(rows, header)


def bench() -> str:
    data = json.loads((ROOT / "evals/reports/bench.json").read_text(encoding="utf-8"))
    return markdown_table(data["table"], ["measure", "ours", "peer", "ours/peer"])


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    for name, fn in (("GOLD", gold), ("CMRC", cmrc), ("BENCH", bench)):
        block = f"<!-- {name} -->\n{fn()}\n<!-- /{name} -->"
        text, n = re.subn(rf"<!-- {name} -->.*?<!-- /{name} -->", lambda m: block, text, flags=re.S)
        if not n:
            text = text.replace(f"RESULTS_{name}", block)
    readme.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
