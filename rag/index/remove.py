"""Removing articles from a corpus and its index: whole files, or single articles by id.

    remove(["a.txt"])      # the file leaves the corpus folder; its articles leave the index
    remove(["a-01"])       # one article of a page whose other articles stay

A file is first renamed to a hidden name in the corpus folder, the index
updated (its articles marked deleted in their segment: no passage is
embedded or rewritten), and only then deleted; if the update fails the file
is put back, so the corpus and the index never disagree; a removal killed
half-way is finished or undone by the next build, add, removal or load
(`recover_removals`). An article removed
by id is recorded in the manifest (`excluded`) and stays out of every later
build, also when its file changes, until the file itself is removed.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import Config
from rag.errors import CorpusError, QueryError
from rag.index.build import HIDDEN, REMOVING, build_index, recover_removals
from rag.index.lock import build_lock
from rag.index.manifest import read_manifest
from rag.index.segment import read_segment

REMOVE_WAIT_S = 600  # how long a removal waits for another add, build or removal of the same index


@dataclass
class RemoveReport:
    """What `remove` did: the corpus files and the single articles removed, and targets not found."""

    files: list[str] = field(default_factory=list)
    articles: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    removed: int = 0  # articles that left the index

    def lines(self) -> list[str]:
        """One line per target, Chinese first with the English after (as the app's labels)."""
        out = [f"✅ 已删除文件 removed file {name}" for name in self.files]
        out += [f"✅ 已删除文章 removed article {doc_id}" for doc_id in self.articles]
        out += [f"⚠️ 索引中没有 not in the index: {t}" for t in self.unknown]
        if self.files or self.articles:
            out.append(f"索引已更新 index updated: 删除 {self.removed} 篇文章 article(s) removed")
        return out


def remove(targets, corpus_dir: str | Path = "seeds", index_dir: str | Path = "index", config: Config | None = None,
           encoder=None) -> RemoveReport:
    """Remove corpus files (by name or path) and single articles (by doc id) from the corpus and the index.

    Args:
        targets: file names of the corpus folder (a path counts by its name) or article ids.
        config: build settings (default: those the index was built with).
    Raises:
        QueryError: no target given, or a target that is not a short one-line name.
        IndexMissingError, IndexCorruptError: no usable index to remove from.
    """
    targets = [str(t) for t in targets]
    if not targets:
        raise QueryError("nothing to remove: name a corpus file or an article id")
    for t in targets:
        if not t.strip() or len(t) > 300 or "\n" in t or "\x00" in t:
            raise QueryError(f"not a file name or an article id: {t[:40]!r}")
    corpus = Path(corpus_dir)
    with build_lock(index_dir, wait=REMOVE_WAIT_S):
        recover_removals(corpus, Path(index_dir))
        manifest = read_manifest(index_dir)
        config = config or Config.from_dict(manifest["settings"])
        live: set[str] = set()
        for entry in manifest["segments"]:
            with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
                live.update(a.doc_id for a in read_segment(Path(index_dir), entry, groups=False).live_articles)
        report = RemoveReport()
        files: list[str] = []
        for t in dict.fromkeys(targets):
            name = Path(t).name
            # only files the index read (or skipped): never another file that happens to lie in the folder
            if name and not name.startswith(".") and (name in manifest["corpus_files"]
                                                      or name in manifest.get("skipped_files", [])):
                files.append(name)
            elif t in live:
                report.articles.append(t)
            else:
                report.unknown.append(t)
        if not files and not report.articles:
            return report
        hidden = []  # (hidden name, real name): put back if the update fails
        try:
            for name in files:
                if (corpus / name).is_file():
                    target = corpus / f"{HIDDEN}{name}"
                    (corpus / name).rename(target)
                    hidden.append((target, corpus / name))
                    REMOVING.add(target.resolve())
            build = build_index(corpus, index_dir, config, encoder=encoder, exclude=set(report.articles))
        except BaseException as e:
            for target, original in hidden:
                with contextlib.suppress(OSError):
                    target.rename(original)
            if isinstance(e, CorpusError):
                raise QueryError("cannot remove every article of the index: it needs at least one "
                                 "(build another index instead)") from None
            raise
        finally:
            for target, _ in hidden:
                REMOVING.discard(target.resolve())
        for target, _ in hidden:
            target.unlink(missing_ok=True)
        report.files = files
        report.removed = build.removed
        return report
