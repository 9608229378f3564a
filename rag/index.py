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
usable. Old data folders are removed after the switch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path


from .chunking import Chunk, chunk_articles
from .config import Config
from .corpus import SPLITTER_VERSION, Article, Corpus, SkippedFile, keep_ids, load_corpus
from .files import atomic_write, fsync_tree
from .errors import BuildLockedError, IndexCorruptError, IndexMissingError, IndexStateError, StaleIndexError

log = logging.getLogger(__name__)

FORMAT = "rag-index v1"
MANIFEST = "manifest.json"
CACHE = "embeddings.sqlite"
LOCK = ".lock"




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


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_jsonl(path: Path, rows) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def _read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _lock_for(index_dir: Path):
    import filelock

    # One lock object per folder (is_singleton), so that `add_files` can hold it across copying the
    # files and the build it runs, and the nested acquisition in `build_index` re-enters it.
    return filelock.FileLock(index_dir / LOCK, is_singleton=True)


@contextlib.contextmanager
def build_lock(index_dir: str | Path, wait: float = 0):
    """Hold the index's build lock (any process, any thread), waiting up to `wait` seconds for it."""
    import filelock

    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_for(index_dir)
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        raise BuildLockedError(f"another build of {index_dir} is running; wait for it to finish") from None
    try:
        yield
    finally:
        lock.release()


def build_running(index_dir: str | Path) -> bool:
    """True while some process holds the index's build lock (readers then serve the previous index)."""
    import filelock

    lock_file = Path(index_dir) / LOCK
    if not lock_file.exists():
        return False
    probe = filelock.FileLock(lock_file, thread_local=False)  # a fresh handle: even this process's own lock shows
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        return True
    except OSError:
        return False
    probe.release()
    return False


def read_manifest(index_dir: str | Path) -> dict:
    """Read and sanity-check a manifest; raises IndexMissingError / IndexCorruptError."""
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST
    if not path.exists():
        raise IndexMissingError(f"no index in {index_dir}: run `python -m rag build` first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IndexCorruptError(f"{path} is damaged: rebuild it with `python -m rag build`") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"{path} is damaged (not a JSON object): rebuild it with `python -m rag build`")
    if manifest.get("format") != FORMAT:
        raise StaleIndexError(
            f"the index in {index_dir} has format {manifest.get('format')!r}, this version reads {FORMAT!r}: "
            "rebuild it with `python -m rag build`"
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexCorruptError(f"{path} is damaged ({problem}): rebuild it with `python -m rag build --force`")
    return manifest


# What every manifest holds, with its type; checked on load so that a damaged or hand-edited
# manifest is one sentence, not a KeyError deep in a search.
_MANIFEST_FIELDS = {"data": str, "settings": dict, "checksums": dict, "corpus_files": dict, "articles": int,
                    "chunks": int, "dim": int}
_REQUIRED_DATA = ("chunks.jsonl", "articles.jsonl")


def _manifest_problem(manifest: dict) -> str | None:
    for key, kind in _MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(key), kind):
            return f"{key!r} is missing or not a {kind.__name__}"
    data = manifest["data"]
    if not data.startswith("data-") or Path(data).name != data:
        return f"data folder {data!r} is not a data folder name"
    checksums = manifest["checksums"]
    for rel, digest in checksums.items():
        if (not isinstance(digest, str) or len(digest) != 64 or Path(rel).is_absolute()
                or ".." in Path(rel).parts):
            return f"checksum entry {rel!r} is malformed"
    missing = [name for name in _REQUIRED_DATA if name not in checksums]
    if missing:
        return f"no checksum for {', '.join(missing)}"
    if not isinstance(manifest["settings"].get("model"), str):
        return "the settings name no model"
    if not isinstance(manifest.get("store", {}), dict):
        return "'store' is not an object"
    try:
        Config.from_dict(manifest["settings"])
    except (TypeError, ValueError) as e:
        return f"settings are not valid ({e})"
    return None


def verify_files(index_dir: Path, manifest: dict) -> Path:
    """Check the data folder against the manifest: every file listed, present and matching; return it."""
    data = index_dir / manifest["data"]
    if not data.is_dir():
        raise IndexCorruptError(f"index folder {data} is missing: rebuild with `python -m rag build`")
    listed = set(manifest["checksums"])
    on_disk = {str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()}
    unlisted = sorted(on_disk - listed)
    if unlisted:
        raise IndexCorruptError(f"index file {data / unlisted[0]} is not in the manifest's checksums: "
                                "rebuild with `python -m rag build --force`")
    for rel, digest in manifest["checksums"].items():
        path = data / rel
        if not path.is_file():
            raise IndexCorruptError(f"index file {path} is missing: rebuild with `python -m rag build`")
        if _sha256(path) != digest:
            raise IndexCorruptError(
                f"index file {path} is damaged (checksum mismatch): rebuild with `python -m rag build`"
            )
    return data


def corpus_changes(manifest: dict, corpus_dir: str | Path) -> list[str]:
    """Names of corpus files added, removed or edited since the index was built."""
    from .corpus import SUPPORTED_SUFFIXES, corpus_files

    recorded: dict[str, str] = manifest.get("corpus_files", {})
    current = {}
    for p in corpus_files(corpus_dir):
        if p.suffix.lower() in SUPPORTED_SUFFIXES:
            try:
                current[p.name] = _sha256(p)
            except OSError:  # unreadable: the build skips it too
                current[p.name] = "unreadable"
    skipped = set(manifest.get("skipped_files", []))
    changed = [n for n in current if n not in skipped and recorded.get(n) != current[n]]
    changed += [n for n in recorded if n not in current]
    return sorted(changed)


def _import_bm25s():
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
    return bm25s


def _build_bm25(chunks: list[Chunk], config: Config):
    bm25s = _import_bm25s()

    from .text import bm25_doc_tokens

    bm25 = bm25s.BM25()
    bm25.index([bm25_doc_tokens(c.embed_text, config) or ["∅"] for c in chunks], show_progress=False)
    return bm25


def build_index(
    corpus_dir: str | Path = "seeds",
    index_dir: str | Path = "index",
    config: Config | None = None,
    embedder=None,
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
        corpus_dir: folder of .txt/.md/.html/.jsonl files.
        index_dir: where to write the index.
        config: build settings (model, chunking, index type, tokenizer).
        embedder: a SentenceTransformer to use instead of loading `config.model`.
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
        if (not force and old_data is not None and old["settings"] == config.build_settings()
                and old["corpus_files"] == corpus.file_hashes and old.get("splitter") == SPLITTER_VERSION):
            return BuildReport(
                str(index_dir), old["articles"], old["chunks"], 0, time.perf_counter() - t0,
                corpus.skipped, up_to_date=True, problems=corpus.problems,
            )
        if old_data is not None:
            corpus.articles = keep_ids(corpus.articles, _previous_articles(old_data))
        return _write_index(corpus, corpus_dir, index_dir, config, embedder, progress, t0, say, ray_address)


def _article(row: dict) -> Article:
    return Article(**{**row, "captions": tuple(map(tuple, row["captions"]))})


def _previous_articles(data: Path) -> list[Article]:
    """The articles of the (verified) data folder being replaced ([] when it cannot be read)."""
    try:
        return [_article(row) for row in _read_jsonl(data / "articles.jsonl")]
    except (IndexStateError, OSError, ValueError, TypeError, KeyError):
        return []


def _write_index(corpus: Corpus, corpus_dir, index_dir: Path, config: Config, embedder, progress, t0,
                 say=lambda message, fraction=None: None, ray_address: str | None = None) -> BuildReport:
    from .embedding import EmbeddingCache, embed_with_cache, embedding_dim, load_encoder
    from .store import FaissStore, MilvusStore, parse_store

    chunks = chunk_articles(corpus.articles, config.chunk_size, config.chunk_overlap)
    say(f"加载模型 loading {config.model}…")
    # with Ray the workers load the model; the driver needs it only to know the dimension
    model = embedder if embedder is not None or ray_address else load_encoder(config.model)
    cache = EmbeddingCache(index_dir / CACHE, config.model)
    try:
        vectors, embedded = embed_with_cache(
            model, [c.embed_text for c in chunks], cache, progress=progress,
            on_batch=lambda done, total: say(f"嵌入 embedding {done}/{total} 段新文本 new passages…", done / total),
            ray_address=ray_address, model_name=config.model,
        )
    finally:
        cache.close()
    dim = vectors.shape[1] if len(vectors) else embedding_dim(model or load_encoder(config.model))

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
    _build_bm25(chunks, config).save(str(tmp / "bm25"), show_progress=False)
    _write_jsonl(tmp / "chunks.jsonl", (asdict(c) for c in chunks))
    _write_jsonl(tmp / "articles.jsonl", (asdict(a) for a in corpus.articles))
    checksums = {
        str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()
    }
    fsync_tree(tmp)  # data must be on disk before the manifest points at it
    os.rename(tmp, index_dir / name)

    manifest = {
        "format": FORMAT,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "data": name,
        "settings": config.build_settings(),
        "store": store,
        "dim": int(dim),
        "articles": len(corpus.articles),
        "chunks": len(chunks),
        "corpus_dir": str(Path(corpus_dir).resolve()),
        "corpus_files": corpus.file_hashes,
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


@dataclass
class IndexData:
    """A loaded index: what the retriever searches."""

    index_dir: Path
    manifest: dict
    chunks: list[Chunk]
    articles: dict[str, Article]
    store: object  # FaissStore or MilvusStore: .search(vectors, depth), .ntotal
    bm25: object

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
        raise StaleIndexError(
            f"the index in {index_dir} is out of date ({len(changed)} corpus file(s) changed: {shown}): "
            "run `python -m rag build`"
        )


def _load_data(index_dir: Path, manifest: dict) -> IndexData:
    from .store import FaissStore, MilvusStore

    bm25s = _import_bm25s()
    data = verify_files(index_dir, manifest)
    try:
        chunks = [Chunk(**row) for row in _read_jsonl(data / "chunks.jsonl")]
        articles = {row["doc_id"]: _article(row) for row in _read_jsonl(data / "articles.jsonl")}
        spec = manifest.get("store", {"kind": "faiss"})
        store = FaissStore.load(data) if spec["kind"] == "faiss" else MilvusStore(spec["uri"], spec["collection"])
        bm25 = bm25s.BM25.load(str(data / "bm25"))
    except Exception as e:  # checksums matched, so this is a foreign or buggy file
        raise IndexCorruptError(f"cannot read the index in {index_dir} ({e}): rebuild with `python -m rag build`") from e
    if store.ntotal != len(chunks):
        raise IndexCorruptError(f"the index in {index_dir} is inconsistent ({store.ntotal} vectors, {len(chunks)} chunks): "
                                "rebuild with `python -m rag build`")
    return IndexData(index_dir, manifest, chunks, articles, store, bm25)
