"""The on-disk index: FAISS vectors, BM25, chunks, articles and a manifest.

Layout of an index folder::

    index/
      manifest.json        format, settings, corpus file hashes, file checksums,
                           and the name of the data folder it describes
      data-<id>/           vectors.faiss, chunks.jsonl, articles.jsonl, bm25/
      embeddings.sqlite    embedding cache, shared by all builds
      .lock                held while a build runs

A build writes a fresh `data-<id>/` and then replaces `manifest.json` with
`os.replace`, the one atomic step: until then readers keep the old manifest
and the old data folder, so a build killed half-way leaves the previous index
usable. The previous data folder is kept (a reader may still be loading from
it); older ones and leftovers of killed builds are removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rag.config import Config, parse_store
from rag.encoders import as_encoder, known_fingerprint, load_encoder
from rag.errors import IndexStateError
from rag.files import atomic_write, fsync_tree, sha256_file
from rag.index.bm25 import build_bm25
from rag.index.cache import EmbeddingCache, embed_with_cache
from rag.index.lock import build_lock
from rag.index.manifest import CACHE, FORMAT, MANIFEST, NEAR_DUPLICATES, read_articles, read_manifest, verify_files, write_jsonl
from rag.ingest.article import Article
from rag.ingest.chunking import chunk_articles
from rag.index.near_duplicates import near_duplicate_groups
from rag.ingest.corpus import Corpus, SkippedFile, keep_ids, load_corpus
from rag.ingest.layout import SPLITTER_VERSION

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """What a build did, for the CLI and the benchmarks."""

    index_dir: str
    articles: int
    chunks: int
    embedded: int  # passages that went through the model (cache misses)
    seconds: float
    skipped: list[SkippedFile] = field(default_factory=list)
    up_to_date: bool = False
    problems: list[str] = field(default_factory=list)  # lines left out of files that were read


def build_index(
    corpus_dir: str | Path = "seeds",
    index_dir: str | Path = "index",
    config: Config | None = None,
    encoder=None,
    progress: bool = False,
    force: bool = False,
    notify=None,
    ray_address: str | None = None,
) -> BuildReport:
    """Build (or update) the index of a corpus folder.

    Unchanged corpora with unchanged settings are left alone; otherwise every
    chunk is re-assembled but only passages missing from the embedding cache
    go through the model.

    Args:
        corpus_dir: folder of .txt/.md/.html/.jsonl/.pdf/.docx files.
        index_dir: where to write the index.
        config: build settings (model, chunking, index type, tokenizer).
        encoder: an `Encoder` (or a SentenceTransformer) to use instead of loading `config.model`.
        progress: show a progress bar while embedding.
        force: rebuild even when nothing changed.
        notify: optional callable(message, fraction=None) told what the build is
            doing (for a UI); while embedding, `fraction` is the share done.
        ray_address: embed new passages with Ray: "local" starts Ray on this
            machine, anything else is a cluster address.
    """
    config = config or Config()
    index_dir = Path(index_dir)
    t0 = time.perf_counter()
    say = notify or (lambda message, fraction=None: None)
    with build_lock(index_dir):
        say("读取文章 reading articles…")
        old = None
        with contextlib.suppress(IndexStateError, OSError):
            old = read_manifest(index_dir)
        # files indexed before keep their article ids whatever was added since, and articles whose
        # boundaries a newer splitter did not change keep theirs
        corpus = load_corpus(corpus_dir, known=set(old["corpus_files"]) if old else frozenset())
        old_data = None  # the previous index's data folder, checked once, for both uses below
        if old is not None:
            with contextlib.suppress(IndexStateError, OSError):
                old_data = verify_files(index_dir, old)
        encoder = as_encoder(encoder) if encoder is not None else None
        fingerprint = encoder.fingerprint if encoder is not None else known_fingerprint(config.model)
        if fingerprint is None:  # another named model: loaded to know its weights
            say(f"加载模型 loading {config.model}…")
            encoder = load_encoder(config.model)
            fingerprint = encoder.fingerprint
        if (not force and old_data is not None and old["settings"] == config.build_settings()
                and old["corpus_files"] == corpus.file_hashes and old.get("splitter") == SPLITTER_VERSION
                and old.get("encoder") == fingerprint):
            return BuildReport(
                str(index_dir), old["articles"], old["chunks"], 0, time.perf_counter() - t0,
                corpus.skipped, up_to_date=True, problems=corpus.problems,
            )
        if old_data is not None:
            corpus.articles = keep_ids(corpus.articles, _previous_articles(old_data))
        if encoder is None:
            say(f"加载模型 loading {config.model}…")
            # with Ray the workers embed; this process still loads the encoder for its fingerprint and size
            encoder = load_encoder(config.model)
        return _write_index(corpus, corpus_dir, index_dir, config, encoder, progress, t0, say, ray_address)


def _previous_articles(data: Path) -> list[Article]:
    """The articles of the (verified) data folder being replaced ([] when it cannot be read)."""
    try:
        return read_articles(data / "articles.jsonl")
    except (IndexStateError, OSError, ValueError, TypeError, KeyError):
        return []


def _write_index(corpus: Corpus, corpus_dir, index_dir: Path, config: Config, encoder, progress, t0,
                 say=lambda message, fraction=None: None, ray_address: str | None = None) -> BuildReport:
    from rag.index.store import FaissStore, MilvusStore

    chunks = chunk_articles(corpus.articles, config.chunk_size, config.chunk_overlap)
    cache = EmbeddingCache(index_dir / CACHE, encoder.fingerprint)
    try:
        vectors, embedded = embed_with_cache(
            encoder, [c.embed_text for c in chunks], cache, progress=progress,
            on_batch=lambda done, total: say(f"嵌入 embedding {done}/{total} 段新文本 new passages…", done / total),
            ray_address=ray_address, model_name=config.model,
        )
    finally:
        cache.close()
    dim = encoder.dim

    say("写入索引 writing the index…")
    name = f"data-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir(parents=True)
    store = parse_store(config.store)
    if store["kind"] == "faiss":
        FaissStore.build(vectors, config.index_type).save(tmp)
    else:
        uri = store["uri"]
        if uri.endswith(".db") and not Path(uri).is_absolute():
            uri = str((index_dir / uri).resolve())
        store = {**store, "uri": uri, "collection": MilvusStore.collection_name(index_dir, name)}
        say("写入 Milvus writing vectors to Milvus…")
        MilvusStore.build(uri, store["collection"], vectors)
    build_bm25(chunks, config).save(str(tmp / "bm25"), show_progress=False)
    write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in chunks))
    write_jsonl(tmp / "articles.jsonl", (a.to_dict() for a in corpus.articles))
    say("查找重复报道 grouping near-duplicate articles…")
    (tmp / NEAR_DUPLICATES).write_text(json.dumps({"groups": near_duplicate_groups(corpus.articles)}, ensure_ascii=False),
                                       encoding="utf-8")
    checksums = {
        str(p.relative_to(tmp)): sha256_file(p) for p in sorted(tmp.rglob("*")) if p.is_file()
    }
    fsync_tree(tmp)  # data must be on disk before the manifest points at it
    os.rename(tmp, index_dir / name)

    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data": name,
        "settings": config.build_settings(),
        "encoder": encoder.fingerprint,
        "store": store,
        "dim": int(dim),
        "articles": len(corpus.articles),
        "chunks": len(chunks),
        "corpus_dir": str(Path(corpus_dir).resolve()),
        "corpus_files": corpus.file_hashes,
        "content_keys": corpus.content_keys,
        "splitter": SPLITTER_VERSION,
        "skipped_files": [s.source for s in corpus.skipped],
        "checksums": checksums,
    }
    previous = None
    with contextlib.suppress(IndexStateError, OSError):
        previous = read_manifest(index_dir)["data"]
    atomic_write(index_dir / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2))  # the atomic switch
    if store["kind"] == "milvus":
        MilvusStore(store["uri"], store["collection"]).drop_others(MilvusStore.collection_prefix(index_dir))
    # Drop older data and leftovers of killed builds, but keep the previous data folder: a reader
    # that read the old manifest a moment ago is still loading from it (the one after drops it).
    for old in index_dir.iterdir():
        if (old.is_dir() and old.name not in (name, previous)
                and (old.name.startswith("data-") or old.name.startswith(".tmp-data-"))):
            shutil.rmtree(old, ignore_errors=True)
    seconds = time.perf_counter() - t0
    log.info("indexed %d articles, %d chunks (%d embedded) in %.1f s", len(corpus.articles), len(chunks), embedded, seconds)
    return BuildReport(str(index_dir), len(corpus.articles), len(chunks), embedded, seconds, corpus.skipped,
                       problems=corpus.problems)


