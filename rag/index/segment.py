"""Segments: the index as data folders written once and never changed, plus what was removed since.

A segment holds the passages of some corpus files::

    data-<time>-<id>/
      vectors.faiss         the passages' vectors (FAISS flat or HNSW), row i = chunk i
      chunks.jsonl          the passages, in order
      articles.jsonl        the articles they come from
      bm25.npz, bm25_vocab.json   the passages' BM25 term counts (`rag.index.bm25.SegmentTerms`)
      near_duplicates.json  {"leader_of": {member: leader}} for the segment's grouped articles
      minhash.npy           (len(signed), 128): MinHash signatures (datasketch's "scheme") of the
                            segment's hashed articles, listed in near_duplicates.json "signed"

The manifest lists the segments in corpus order, each with its files'
SHA-256, and the doc ids removed from it since it was written (`deleted`: an
article whose file was removed or changed; a changed file's new version is in
a later segment). A full build writes one segment; adding files writes one
more; removing files only adds ids to `deleted`. Loading merges the live
passages of all segments (`rag.index.load`).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rag.config import Config
from rag.files import fsync_tree, sha256_file
from rag.index.bm25 import SegmentTerms
from rag.index.manifest import read_jsonl, write_jsonl
from rag.index.near_duplicates import NUM_PERM, StoryGrouper, minhash_scheme
from rag.ingest.article import Article
from rag.ingest.chunking import Chunk

NEAR_DUPLICATES = "near_duplicates.json"
MINHASH = "minhash.npy"


def new_segment_name() -> str:
    """A fresh data folder name (`data-<UTC time>-<6 hex>`): sorts by time, never reused."""
    return f"data-{time.strftime('%Y%m%d%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def write_segment(index_dir: Path, chunks: list[Chunk], articles: list[Article], vectors: np.ndarray,
                  config: Config, grouper: StoryGrouper | None, store_vectors: bool = True,
                  held: list[Article] = ()) -> dict:
    """Write a segment into `index_dir` (a temporary folder, flushed, then renamed into place).

    Args:
        chunks: the passages, float32 `vectors` (len(chunks), dim) in the same order.
        grouper: the near-duplicate grouper that has seen these articles (None: no groups recorded).
        store_vectors: False when the vectors live elsewhere (a Milvus collection).
        held: articles removed by id (`rag remove DOC_ID`) from the files read: recorded, without
            passages, as deleted, so that the next reading of their file gives them the same ids.
    Returns:
        the manifest's entry for it: {"data", "checksums", "deleted": [], "chunks", "articles"}.
    """
    from rag.index.store import FaissStore

    name = new_segment_name()
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir(parents=True)
    if store_vectors:
        FaissStore.build(vectors, config.index_type).save(tmp)
    SegmentTerms.of([c.embed_text for c in chunks], config).save(tmp)
    write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in chunks))
    write_jsonl(tmp / "articles.jsonl", (a.to_dict() for a in [*articles, *held]))
    ids = {a.doc_id for a in articles}
    leader_of = {d: l for d, l in (grouper.leader_of.items() if grouper else ()) if d in ids}
    signed = [a.doc_id for a in articles if grouper and a.doc_id in grouper.signatures]
    scheme = grouper.scheme if grouper else minhash_scheme()
    (tmp / NEAR_DUPLICATES).write_text(json.dumps({"leader_of": leader_of, "signed": signed, "scheme": scheme},
                                                  ensure_ascii=False), encoding="utf-8")
    signatures = (np.stack([grouper.signatures[d] for d in signed]) if signed
                  else np.zeros((0, NUM_PERM), np.uint64))
    np.save(tmp / MINHASH, signatures, allow_pickle=False)
    checksums = {str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    fsync_tree(tmp)  # data must be on disk before a manifest points at it
    os.rename(tmp, index_dir / name)
    return {"data": name, "checksums": checksums, "deleted": sorted(a.doc_id for a in held), "chunks": len(chunks),
            "articles": len(articles)}


@dataclass
class SegmentData:
    """One segment read back: all its rows, and which are live."""

    entry: dict
    chunks: list[Chunk]
    articles: list[Article]
    leader_of: dict[str, str]
    signatures: dict[str, np.ndarray]

    @property
    def live_chunks(self) -> np.ndarray:
        """bool (len(chunks),): the passage's article was not removed since."""
        deleted = set(self.entry.get("deleted", ()))
        return np.fromiter((c.doc_id not in deleted for c in self.chunks), dtype=bool, count=len(self.chunks))

    @property
    def live_articles(self) -> list[Article]:
        deleted = set(self.entry.get("deleted", ()))
        return [a for a in self.articles if a.doc_id not in deleted]


def read_segment(index_dir: Path, entry: dict, groups: bool = True) -> SegmentData:
    """Read a (verified) segment's passages, articles and, with `groups`, its near-duplicate records."""
    folder = index_dir / entry["data"]
    chunks = [Chunk(**row) for row in read_jsonl(folder / "chunks.jsonl")]
    articles = [Article.from_dict(row) for row in read_jsonl(folder / "articles.jsonl")]
    leader_of: dict[str, str] = {}
    signatures: dict[str, np.ndarray] = {}
    if groups and (folder / NEAR_DUPLICATES).is_file():
        record = json.loads((folder / NEAR_DUPLICATES).read_text(encoding="utf-8"))
        leader_of = {str(k): str(v) for k, v in record.get("leader_of", {}).items()}
        signed = record.get("signed", []) if record.get("scheme") == minhash_scheme() else []  # else hashed again
        matrix = np.load(folder / MINHASH, allow_pickle=False) if signed else np.zeros((0, NUM_PERM), np.uint64)
        if matrix.shape != (len(signed), NUM_PERM):
            raise ValueError(f"{folder / MINHASH} holds {matrix.shape}, not ({len(signed)}, {NUM_PERM})")
        signatures = dict(zip(map(str, signed), matrix))
    return SegmentData(entry, chunks, articles, leader_of, signatures)
