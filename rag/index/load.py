"""Loading an index: manifest, checksums, corpus freshness, then chunks, articles, vectors and BM25."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import Config
from rag.errors import IndexCorruptError, IndexStateError, StaleIndexError
from rag.index.bm25 import import_bm25s
from rag.index.lock import build_running
from rag.index.manifest import NEAR_DUPLICATES, corpus_changes, read_articles, read_jsonl, read_manifest, verify_files
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
    store: object  # FaissStore or MilvusStore: .search(vectors, depth), .ntotal
    bm25: object
    # doc id -> every doc id of its near-duplicate group, in corpus order (grouped articles only;
    # empty for an index built before groups were recorded)
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

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
            if attempt < LOAD_ATTEMPTS and _manifest_data(index_dir) not in (None, manifest["data"]):
                continue
            raise
    raise AssertionError("unreachable")


LOAD_ATTEMPTS = 5


def _manifest_data(index_dir: Path) -> str | None:
    try:
        return read_manifest(index_dir)["data"]
    except (IndexStateError, OSError):
        return None


def _check_corpus(index_dir: Path, manifest: dict, corpus_dir) -> None:
    if manifest.get("splitter") != SPLITTER_VERSION and not build_running(index_dir):
        raise StaleIndexError(f"the index in {index_dir} was built by an older version of the article splitter: "
                              "run `python -m rag build`")
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
            "run `python -m rag build`",
            added=tuple(changed) if all(n not in recorded for n in changed) else (),
        )


def _load_data(index_dir: Path, manifest: dict) -> IndexData:
    from rag.index.store import FaissStore, MilvusStore

    bm25s = import_bm25s()
    data = verify_files(index_dir, manifest)
    try:
        chunks = [Chunk(**row) for row in read_jsonl(data / "chunks.jsonl")]
        articles = {a.doc_id: a for a in read_articles(data / "articles.jsonl")}
        spec = manifest.get("store", {"kind": "faiss"})
        store = FaissStore.load(data) if spec["kind"] == "faiss" else MilvusStore(spec["uri"], spec["collection"])
        bm25 = bm25s.BM25.load(str(data / "bm25"))
        groups: dict[str, tuple[str, ...]] = {}
        if (data / NEAR_DUPLICATES).exists():
            for group in json.loads((data / NEAR_DUPLICATES).read_text(encoding="utf-8"))["groups"]:
                groups.update(dict.fromkeys(group, tuple(group)))
    except Exception as e:  # checksums matched, so this is a foreign or buggy file
        raise IndexCorruptError(f"cannot read the index in {index_dir} ({e}): rebuild with `python -m rag build`") from e
    if store.ntotal != len(chunks):
        raise IndexCorruptError(f"the index in {index_dir} is inconsistent ({store.ntotal} vectors, {len(chunks)} chunks): "
                                "rebuild with `python -m rag build`")
    return IndexData(index_dir, manifest, chunks, articles, store, bm25, groups)
