"""Loading an index: manifest, checksums, corpus freshness, then chunks, articles, vectors and BM25."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import Config
from rag.errors import IndexCorruptError, IndexStateError, StaleIndexError
from rag.index.bm25 import BM25, SegmentTerms
from rag.index.lock import build_running
from rag.index.manifest import corpus_changes, read_manifest, verify_files
from rag.index.near_duplicates import groups_of
from rag.index.segment import read_segment
from rag.ingest.article import Article
from rag.ingest.chunking import Chunk
from rag.ingest.layout import SPLITTER_VERSION

log = logging.getLogger(__name__)


@dataclass
class IndexData:
    """A loaded index: what the retriever searches."""

    index_dir: Path
    manifest: dict
    chunks: list[Chunk]
    articles: dict[str, Article]
    store: object  # local: FaissStore (.search(vectors, depth), .ntotal; row i = chunks[i]); or a MilvusIndex
    bm25: object  # local: rag.index.bm25.BM25 (.get_scores(tokens) -> float32 (len(chunks),)); None with Milvus
    # doc id -> every doc id of its near-duplicate group, in corpus order (grouped articles only;
    # empty for an index built before groups were recorded)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def milvus(self):
        """The MilvusIndex that does all of retrieval, or None for the local backend."""
        return None if self.bm25 is not None else self.store

    @property
    def segments(self) -> list[str]:
        return [s["data"] for s in self.manifest["segments"]]

    @property
    def deleted(self) -> set[tuple[str, str]]:
        """(segment, doc id) of every removed article (a Milvus result may still hold one, briefly)."""
        return {(s["data"], d) for s in self.manifest["segments"] for d in s.get("deleted", ())}

    @property
    def config(self) -> Config:
        return Config.from_dict(self.manifest["settings"])


def load_index(index_dir: str | Path = "index", corpus_dir: str | Path | None = None, check_corpus: bool = True) -> IndexData:
    """Load an index after checking format, checksums and (optionally) corpus freshness.

    Args:
        index_dir: the folder `build_index` wrote.
        corpus_dir: corpus to compare against; defaults to the folder recorded
            at build time (skipped if that folder no longer exists).
        check_corpus: compare the corpus file hashes with the manifest.
    Raises:
        IndexMissingError, IndexCorruptError, StaleIndexError.
    """
    index_dir = Path(index_dir)
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        manifest = read_manifest(index_dir)
        try:
            index = _load_data(index_dir, manifest)
            if check_corpus:
                _check_corpus(index_dir, manifest, corpus_dir)
            return index
        except (IndexCorruptError, StaleIndexError):
            # A build may have switched the manifest meanwhile (and dropped the data folder we were
            # reading, or released its lock just after copying new files): the new manifest is
            # consistent with the corpus, so read that one instead.
            if attempt < LOAD_ATTEMPTS and _manifest_data(index_dir) not in (None, _segment_names(manifest)):
                continue
            raise
    raise AssertionError("unreachable")


LOAD_ATTEMPTS = 5


def _segment_names(manifest: dict) -> tuple:
    return tuple((s["data"], tuple(s.get("deleted", ()))) for s in manifest["segments"])


def _manifest_data(index_dir: Path) -> tuple | None:
    """What the current manifest points at (None when it cannot be read)."""
    try:
        return _segment_names(read_manifest(index_dir))
    except (IndexStateError, OSError):
        return None


def _build_command(index_dir: Path, manifest: dict, corpus: Path | None = None) -> str:
    """The command that brings this index up to date (its folders named unless they are the defaults)."""
    import shlex

    corpus = corpus or Path(manifest.get("corpus_dir", "seeds"))
    parts = ["python -m rag build"]
    if Path(index_dir).resolve() != Path("index").resolve():
        parts.append(f"--index {shlex.quote(str(index_dir))}")
    if corpus.resolve() != Path("seeds").resolve():
        parts.append(f"--corpus {shlex.quote(str(corpus))}")
    return " ".join(parts)


def _check_corpus(index_dir: Path, manifest: dict, corpus_dir) -> None:
    if manifest.get("splitter") != SPLITTER_VERSION and not build_running(index_dir):
        raise StaleIndexError(f"the index in {index_dir} was built by an older version of the article splitter: "
                              f"run `{_build_command(index_dir, manifest)}`")
    folder = Path(corpus_dir) if corpus_dir else Path(manifest.get("corpus_dir", ""))
    if not folder.is_dir():
        return
    changed = corpus_changes(manifest, folder)
    if changed and build_running(index_dir):
        # `rag add` / a build is writing the new index: the old one stays valid until the switch.
        log.warning("the index in %s is being rebuilt (%d corpus file(s) changed); answering from the "
                    "previous index until the new one is ready", index_dir, len(changed))
    elif changed:
        shown = ", ".join(changed[:3]) + (" ..." if len(changed) > 3 else "")
        recorded = manifest.get("corpus_files", {})
        raise StaleIndexError(
            f"the index in {index_dir} is out of date ({len(changed)} corpus file(s) changed: {shown}): "
            f"run `{_build_command(index_dir, manifest, folder)}`",
            added=tuple(changed) if all(n not in recorded for n in changed) else (),
        )


def _load_data(index_dir: Path, manifest: dict) -> IndexData:
    """Every segment's live rows, merged: chunks, articles, vectors, BM25 and near-duplicate groups."""
    from rag.index.store import FaissStore

    verify_files(index_dir, manifest)
    try:
        chunks: list[Chunk] = []
        articles: dict[str, Article] = {}
        vector_parts, term_parts, leader_of = [], [], {}
        spec = manifest.get("store", {"kind": "faiss"})
        for entry in manifest["segments"]:
            segment = read_segment(index_dir, entry)
            live = segment.live_chunks
            chunks.extend(c for c, keep in zip(segment.chunks, live) if keep)
            articles.update((a.doc_id, a) for a in segment.live_articles)
            if spec["kind"] == "faiss":
                vector_parts.append((FaissStore.load(index_dir / entry["data"]), live))
                term_parts.append((SegmentTerms.load(index_dir / entry["data"]), live))
            leader_of.update(segment.leader_of)
        if spec["kind"] == "faiss":
            store = FaissStore.merged(vector_parts, Config.from_dict(manifest["settings"]).index_type)
            bm25 = BM25(term_parts)
        else:  # all of retrieval in Milvus: no vectors or BM25 here
            from rag.index.milvus import MilvusIndex

            store, bm25 = MilvusIndex(spec["uri"], spec["collection"]), None
        groups: dict[str, tuple[str, ...]] = {}
        for group in groups_of(list(articles), leader_of):
            groups.update(dict.fromkeys(group, tuple(group)))
    except Exception as e:  # checksums matched, so this is a foreign or buggy file
        raise IndexCorruptError(f"cannot read the index in {index_dir} ({e}): rebuild it with "
                                f"`{_build_command(index_dir, manifest)} --force`") from e
    if bm25 is not None and (store.ntotal != len(chunks) or bm25.num_docs != len(chunks)):
        raise IndexCorruptError(f"the index in {index_dir} is inconsistent ({store.ntotal} vectors, {len(chunks)} chunks): "
                                "rebuild with `python -m rag build`")
    return IndexData(index_dir, manifest, chunks, articles, store, bm25, groups)
