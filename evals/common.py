"""Shared plumbing for the eval scripts: gold files, index set-up, tables, progress."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

GOLD_FIELDS = {"id", "question", "answers", "type"}


class EvalError(ValueError):
    """A bad eval input; the scripts print it as one sentence."""


def load_gold(path: str | Path, split: str | None = None) -> list[dict]:
    """Read a gold file (evals/README.md format); raises EvalError with the bad line.

    `split` keeps only the rows whose "split" field is that value ("tune": what answer-layer
    rules and the answer scorer may be fitted on; "report": only ever reported)."""
    path = Path(path)
    if not path.is_file():
        raise EvalError(f"gold file {path} does not exist")
    rows = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise EvalError(f"{path}: line {lineno} is not valid JSON ({e.msg})") from None
        missing = GOLD_FIELDS - set(row)
        if missing:
            raise EvalError(f"{path}: line {lineno} lacks {', '.join(sorted(missing))}")
        if row["answers"] and not row.get("evidence"):
            raise EvalError(f"{path}: line {lineno} has answers but no evidence clause")
        if split is None or row.get("split") == split:
            rows.append(row)
    if not rows:
        raise EvalError(f"gold file {path} has no questions" + (f" in split {split!r}" if split else ""))
    return rows


def corpus_folder(spec: str) -> Path:
    """The corpus folder for `--corpus`: one folder, or several joined by commas, whose files are
    then copied into one folder under evals/.cache (named by their names and contents)."""
    import hashlib
    import shutil

    folders = [Path(p) for p in spec.split(",") if p.strip()]
    for f in folders:
        if not f.is_dir():
            raise EvalError(f"corpus folder {f} does not exist")
    if len(folders) == 1:
        return folders[0]
    files = sorted((p for f in folders for p in f.iterdir() if p.is_file()), key=lambda p: p.name)
    if len({p.name for p in files}) != len(files):
        raise EvalError(f"the corpus folders {spec} hold files of the same name")
    digest = hashlib.sha256()
    for p in files:
        digest.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    out = Path("evals/.cache") / f"corpus-{digest.hexdigest()[:12]}"
    if not out.is_dir():
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for p in files:
            shutil.copyfile(p, tmp / p.name)
        tmp.rename(out)
    return out


def progress(iterable, desc: str, total: int | None = None):
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, total=total, file=sys.stderr, leave=False, disable=not sys.stderr.isatty() and os.environ.get("EVAL_PROGRESS") != "1")


def ensure_index(corpus: str | Path, index: str | Path, model: str | None = None):
    """Build or update the index of a corpus and load a retriever for it."""
    from rag import Config, Retriever, build_index

    config = Config().with_(model=model)
    corpus = corpus_folder(str(corpus))
    report = build_index(corpus, index, config, progress=sys.stderr.isatty())
    logging.getLogger(__name__).info("index: %s", "up to date" if report.up_to_date else f"built in {report.seconds:.1f} s")
    return Retriever.load(index, corpus_dir=corpus), report


def table(rows: list[list], header: list[str]) -> str:
    """A plain fixed-width text table."""
    cells = [[str(c) for c in header]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(header))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c + " " * (w - _width(c)) for c, w in zip(r, widths)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: list[list], header: list[str]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def _fmt(c) -> str:
    if isinstance(c, float):
        return f"{c:.3f}" if abs(c) < 100 else f"{c:.0f}"
    return str(c)


def _width(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in s)


def run_main(fn) -> None:
    """Run a script's main(), turning user errors into one sentence and exit 1."""
    from rag import RagError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(fn())
    except (EvalError, RagError, OSError, ImportError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
