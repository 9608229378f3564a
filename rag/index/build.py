"""The on-disk index: segments of vectors, BM25 counts, chunks and articles, and a manifest.

Layout of an index folder::

    index/
      manifest.json        format, settings, encoder, corpus file hashes, and the segments:
                           data folders with their files' checksums and the ids removed since
      data-<id>/ ...       one per segment (`rag.index.segment`)
      embeddings.sqlite    embedding cache, shared by all builds
      .lock                held while a build runs

Every change ends with one atomic step: `manifest.json` replaced with
`os.replace`. Until then readers keep the old manifest and its segments, so a
build killed half-way leaves the previous index usable.

- Nothing changed: nothing is written.
- Files added, changed or removed (same settings, encoder and splitter): the
  new and changed files are read, their passages embedded (the cache holds
  any seen before) and written as one new segment; the articles of changed
  and removed files are marked deleted in their old segments. The cost is
  that of the changed files, plus reading the live articles' near-duplicate
  records and checking the segments' checksums.
  With a Milvus store the new segment's rows are inserted into the
  collection and removed articles' rows deleted (`rag.index.milvus`).
- Anything else (`--force`, other settings, a new splitter or encoder, more
  than MAX_SEGMENTS segments, or more than MAX_DELETED_SHARE of the passages
  deleted): every file is read again into one segment (vectors from the
  cache where they exist).

Data folders of the previous manifest are kept (a reader may still be
loading from them); older ones and leftovers of killed builds are removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import Config, parse_store
from rag.encoders import as_encoder, known_fingerprint, load_encoder
from rag.errors import CorpusError, IndexStateError
from rag.files import atomic_write, sha256_bytes
from rag.index.cache import EmbeddingCache, embed_with_cache
from rag.index.lock import build_lock
from rag.index.manifest import CACHE, FORMAT, MANIFEST, read_manifest, verify_files
from rag.index.near_duplicates import StoryGrouper
from rag.index.segment import read_segment, write_segment
from rag.ingest.article import Article
from rag.ingest.chunking import chunk_articles
from rag.ingest.corpus import SkippedFile, content_key, corpus_files, id_stems, keep_ids, load_corpus
from rag.ingest.formats import SUPPORTED_SUFFIXES, parse_document
from rag.ingest.layout import SPLITTER_VERSION

log = logging.getLogger(__name__)

MAX_SEGMENTS = 16  # more: the next change merges everything into one segment (a search merges one store per segment)
MAX_DELETED_SHARE = 0.25  # more passages deleted than this: merged too (they still cost memory and load time)


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
    incremental: bool = False  # a segment added (or ids deleted) instead of everything written again
    removed: int = 0  # articles deleted from the index by this build (not counting replaced ones)
    replaced: int = 0  # articles of changed files, indexed anew under their old ids
    added: int = 0  # articles new to the index (an update's; a full build's are `articles`)
    embed_seconds: float = 0.0  # of `seconds`, the time spent embedding


def build_index(
    corpus_dir: str | Path = "seeds",
    index_dir: str | Path = "index",
    config: Config | None = None,
    encoder=None,
    progress: bool = False,
    force: bool = False,
    notify=None,
    ray_address: str | None = None,
    exclude: set[str] | frozenset[str] = frozenset(),
) -> BuildReport:
    """Build the index of a corpus folder, or bring it up to date with the folder.

    Unchanged corpora with unchanged settings are left alone; added, changed
    and removed files update the index in place (see the module docstring);
    anything else rebuilds it, embedding only passages missing from the cache.

    Args:
        corpus_dir: folder of .txt/.md/.html/.jsonl/.pdf/.docx files.
        index_dir: where to write the index.
        config: build settings (model, chunking, index type, tokenizer, store); default: those the
            index was built with, or the defaults for a new index.
        encoder: an `Encoder` (or a SentenceTransformer) to use instead of loading `config.model`.
        progress: show a progress bar while embedding.
        force: rebuild everything even when nothing changed.
        notify: optional callable(message, fraction=None) told what the build is
            doing (for a UI); while embedding, `fraction` is the share done.
        ray_address: embed new passages with Ray: "local" starts Ray on this
            machine, anything else is a cluster address.
        exclude: doc ids to leave out of the index from now on (`rag remove <doc_id>`: an article
            of a file whose other articles stay); kept in the manifest for later builds.
    Raises:
        CorpusError: no readable article in the folder.
        BuildLockedError: another build holds the index.
    """
    index_dir = Path(index_dir)
    t0 = time.perf_counter()
    say = notify or (lambda message, fraction=None: None)
    with build_lock(index_dir):
        say("读取文章 reading articles…")
        recover_removals(Path(corpus_dir), index_dir)
        old = None
        with contextlib.suppress(IndexStateError, OSError):
            manifest = read_manifest(index_dir)
            verify_files(index_dir, manifest)  # a damaged index is built again from scratch
            old = manifest
        if config is None:  # the index's own settings (its store too); the defaults for a new index
            config = Config()
            with contextlib.suppress(IndexStateError, OSError, TypeError, ValueError):
                config = Config.from_dict(read_manifest(index_dir)["settings"])
        encoder = as_encoder(encoder) if encoder is not None else None
        fingerprint = encoder.fingerprint if encoder is not None else known_fingerprint(config.model)
        if fingerprint is None:  # another named model: loaded to know its weights
            say(f"加载模型 loading {config.model}…")
            encoder = load_encoder(config.model)
            fingerprint = encoder.fingerprint
        excluded = sorted(set(old.get("excluded", [])) | set(exclude)) if old else sorted(exclude)
        job = _Job(Path(corpus_dir), index_dir, config, encoder, progress, t0, say, ray_address, excluded)
        same_build = (old is not None and old["settings"] == config.build_settings()
                      and old.get("splitter") == SPLITTER_VERSION and old.get("encoder") == fingerprint)
        if same_build and not force:
            plan = _plan(job, old)
            if plan.nothing_to_do:
                reasons = old.get("skipped_reasons", {})
                return BuildReport(str(index_dir), old["articles"], old["chunks"], 0, time.perf_counter() - t0,
                                   [SkippedFile(n, reasons.get(n, "")) for n in old.get("skipped_files", [])],
                                   up_to_date=True)
            if _incremental_ok(old, config):
                try:
                    return job.update(old, plan)
                except (ValueError, TypeError, KeyError, AttributeError, LookupError) as e:
                    # records that pass their checksums but do not read (hand-edited, another version),
                    # or a Milvus collection gone from its server: everything again, from the files
                    log.warning("cannot update the index in %s (%s): building it again", index_dir, e)
                    job.excluded = excluded
        return job.rebuild(old)


@dataclass
class _Plan:
    """What changed in the corpus folder since the manifest was written."""

    hashes: dict[str, str]  # every supported file now -> SHA-256 of its bytes
    to_read: list[str]  # added or changed files
    gone: list[str]  # indexed files removed or changed: their articles are deleted
    newly_excluded: set[str]  # doc ids excluded by this build

    @property
    def nothing_to_do(self) -> bool:
        return not self.to_read and not self.gone and not self.newly_excluded


def _plan(job: "_Job", old: dict) -> _Plan:
    indexed: dict[str, str] = old["corpus_files"]
    skipped = old.get("skipped_hashes", {})  # a skipped file is read again once its bytes change
    hashes: dict[str, str] = {}
    for p in corpus_files(job.corpus_dir):
        if p.suffix.lower() in SUPPORTED_SUFFIXES:
            hashes[p.name] = _file_hash(p)  # "unreadable": read (and reported as skipped) below
    to_read = [n for n, h in hashes.items() if indexed.get(n) != h and (n in indexed or skipped.get(n) != h)]
    gone = [n for n in indexed if hashes.get(n) != indexed[n]]
    return _Plan(hashes, to_read, gone, set(job.excluded) - set(old.get("excluded", [])))


def _incremental_ok(old: dict, config: Config) -> bool:
    segments = old["segments"]
    total = sum(s.get("chunks", 0) + s.get("deleted_chunks", 0) for s in segments)
    deleted = sum(s.get("deleted_chunks", 0) for s in segments)
    return len(segments) < MAX_SEGMENTS and deleted <= MAX_DELETED_SHARE * max(total, 1)


HIDDEN = ".removing-"  # a corpus file being removed (`rag.index.remove`) is renamed to this prefix + its name
REMOVING: set[Path] = set()  # hidden files of removals running in this process (under the build lock)


def recover_removals(corpus_dir: Path, index_dir: Path) -> None:
    """Finish or undo removals that were killed (call with the build lock held).

    A hidden file whose name the current manifest still lists never reached its switch: it is put
    back (the removal did not happen). One the manifest no longer lists was removed: it is deleted.
    """
    try:
        hidden = [p for p in Path(corpus_dir).iterdir() if p.name.startswith(HIDDEN) and p.is_file()]
    except OSError:
        return
    hidden = [p for p in hidden if p.resolve() not in REMOVING]
    if not hidden:
        return
    try:
        listed = set(read_manifest(index_dir)["corpus_files"])
    except (IndexStateError, OSError):
        listed = None
    for p in hidden:
        original = p.with_name(p.name[len(HIDDEN):])
        with contextlib.suppress(OSError):
            if (listed is None or original.name in listed) and not original.exists():
                p.rename(original)
                log.warning("an interrupted removal of %s was undone", original.name)
            else:
                p.unlink()


def _previous_versions(data, excluded: set[str], files: set[str] | None) -> dict[str, list[Article]]:
    """file -> the latest version of each of its indexed articles: the live ones and those removed by id
    (so that a file read again gives them their old ids, and the removed ones stay out); only `files`
    (None: every file)."""
    latest: dict[str, Article] = {}
    for segment in data:
        deleted = set(segment.entry.get("deleted", ()))
        for a in segment.articles:
            if (files is None or a.source in files) and (a.doc_id not in deleted or a.doc_id in excluded):
                latest[a.doc_id] = a
    out: dict[str, list[Article]] = {}
    for a in latest.values():
        out.setdefault(a.source, []).append(a)
    return out


def _ids_of_files_gone(data, excluded, present) -> set[str]:
    """Ids removed by id whose file is no longer in the corpus (`present`: the file names there now)."""
    wanted = set(excluded)
    return {a.doc_id for segment in data for a in segment.articles if a.doc_id in wanted and a.source not in present}


def _file_hash(path: Path) -> str:
    try:
        return sha256_bytes(path.read_bytes())
    except OSError:
        return "unreadable"


@dataclass
class _Job:
    corpus_dir: Path
    index_dir: Path
    config: Config
    encoder: object
    progress: bool
    t0: float
    say: object
    ray_address: str | None
    excluded: list[str]

    def _encoder(self):
        if self.encoder is None:
            self.say(f"加载模型 loading {self.config.model}…")
            # with Ray the workers embed; this process still loads the encoder for its fingerprint and size
            self.encoder = load_encoder(self.config.model)
        return self.encoder

    embed_seconds: float = 0.0

    def _embed(self, chunks) -> tuple:
        encoder = self._encoder()
        cache = EmbeddingCache(self.index_dir / CACHE, encoder.fingerprint)
        t0 = time.perf_counter()
        try:
            return embed_with_cache(
                encoder, [c.embed_text for c in chunks], cache, progress=self.progress,
                on_batch=lambda done, total: self.say(f"嵌入 embedding {done}/{total} 段新文本 new passages…",
                                                      done / max(total, 1)),
                ray_address=self.ray_address, model_name=self.config.model,
            )
        finally:
            cache.close()
            self.embed_seconds += time.perf_counter() - t0

    # ---------------------------------------------------------------- everything again

    def rebuild(self, old: dict | None) -> BuildReport:
        """Every file read again into one segment."""
        from rag.index.milvus import MilvusIndex, collection_name, collection_prefix

        corpus = load_corpus(self.corpus_dir, known=set(old["corpus_files"]) if old else frozenset())
        before: set[str] = set()  # the articles the index served (for the count of those removed)
        if old is not None:
            with contextlib.suppress(IndexStateError, OSError, ValueError, TypeError, KeyError, AttributeError):
                data = [read_segment(self.index_dir, s, groups=False) for s in old["segments"]]
                before = {a.doc_id for segment in data for a in segment.live_articles}
                self.excluded = sorted(set(self.excluded) - _ids_of_files_gone(data, self.excluded, corpus.file_hashes))
                previous = _previous_versions(data, set(self.excluded), None)
                corpus.articles = keep_ids(corpus.articles, [a for articles in previous.values() for a in articles])
        excluded = set(self.excluded)
        articles = [a for a in corpus.articles if a.doc_id not in excluded]
        held = [a for a in corpus.articles if a.doc_id in excluded]
        if not articles:
            raise CorpusError(f"no articles left to index in {self.corpus_dir} (every one was removed)")
        chunks = chunk_articles(articles, self.config.chunk_size, self.config.chunk_overlap)
        vectors, embedded = self._embed(chunks)
        self.say("查找重复报道 grouping near-duplicate articles…")
        grouper = StoryGrouper()
        grouper.add(articles)
        self.say("写入索引 writing the index…")
        store = parse_store(self.config.store)
        entry = write_segment(self.index_dir, chunks, articles, vectors, self.config, grouper,
                              store_vectors=store["kind"] == "faiss", held=held)
        if store["kind"] == "milvus":
            uri = store["uri"]
            if uri.endswith(".db") and not Path(uri).is_absolute():
                uri = str((self.index_dir / uri).resolve())
            store = {**store, "uri": uri, "collection": collection_name(self.index_dir, entry["data"])}
            self.say("写入 Milvus writing passages to Milvus…")
            MilvusIndex.create(uri, store["collection"], vectors.shape[1]).insert(
                entry["data"], chunks, vectors, {a.doc_id: a.date for a in articles})
        manifest = self._manifest([entry], corpus.file_hashes, corpus.content_keys,
                                  {s.source: s.reason for s in corpus.skipped}, store)
        self._switch(manifest, old)
        if store["kind"] == "milvus":
            MilvusIndex(store["uri"], store["collection"]).drop_others(collection_prefix(self.index_dir))
        seconds = time.perf_counter() - self.t0
        log.info("indexed %d articles, %d chunks (%d embedded) in %.1f s", len(articles), len(chunks), embedded, seconds)
        return BuildReport(str(self.index_dir), len(articles), len(chunks), embedded, seconds, corpus.skipped,
                           problems=corpus.problems, embed_seconds=self.embed_seconds,
                           removed=len(before - {a.doc_id for a in articles}))

    # ---------------------------------------------------------------- only what changed

    def update(self, old: dict, plan: _Plan) -> BuildReport:
        """A segment for the added and changed files; the articles of changed and removed files, and
        newly excluded ids, marked deleted where they were."""
        segments = [dict(s) for s in old["segments"]]
        data = [read_segment(self.index_dir, s) for s in segments]
        milvus = None
        if old.get("store", {}).get("kind") == "milvus":
            from rag.index.milvus import MilvusIndex

            milvus = MilvusIndex(old["store"]["uri"], old["store"]["collection"])
        gone = set(plan.gone)
        # an article removed by id stays out while its file is in the corpus; once the file is gone, so is the id
        self.excluded = sorted(set(self.excluded) - _ids_of_files_gone(data, self.excluded, plan.hashes))
        excluded = set(self.excluded)
        previous = _previous_versions(data, excluded, gone)  # file -> its articles (ids kept for a changed file)
        removed = 0
        purge: list[tuple[str, list[str]]] = []  # (segment, ids) to delete from a Milvus collection
        for entry, segment in zip(segments, data):
            deleted = set(entry.get("deleted", []))
            newly = {a.doc_id for a in segment.live_articles if a.source in gone or a.doc_id in excluded}
            if newly:
                lost = sum(1 for c in segment.chunks if c.doc_id in newly)
                entry["deleted"] = sorted(deleted | newly)
                entry["chunks"] = entry.get("chunks", 0) - lost
                entry["deleted_chunks"] = entry.get("deleted_chunks", 0) + lost
                entry["articles"] = entry.get("articles", 0) - len(newly)
                removed += len(newly)
                purge.append((entry["data"], sorted(newly)))
        file_hashes = {n: h for n, h in old["corpus_files"].items() if n not in gone}
        content_keys = {n: k for n, k in old.get("content_keys", {}).items() if n not in gone}
        reasons = old.get("skipped_reasons", {})
        skipped = {n: reasons.get(n, "") for n in old.get("skipped_files", [])
                   if n in plan.hashes and n not in plan.to_read}
        problems: list[str] = []
        reported: list[SkippedFile] = []
        stems = id_stems(list(plan.hashes), known=set(old["corpus_files"]))  # a changed file keeps its stem
        new_articles: list[Article] = []
        held: list[Article] = []  # read again but removed by id: recorded so they keep their ids
        for name in plan.to_read:
            try:
                raw = (self.corpus_dir / name).read_bytes()
                articles = parse_document(raw, name, stems[name], problems)
            except OSError as e:
                reported.append(SkippedFile(name, f"无法读取 cannot read it ({e.strerror or e})"))
                continue
            except CorpusError as e:
                reported.append(SkippedFile(name, str(e).removeprefix(f"{name}: ")))
                continue
            file_hashes[name] = sha256_bytes(raw)
            content_keys[name] = content_key(articles)
            articles = keep_ids(articles, previous.get(name, []))
            new_articles.extend(a for a in articles if a.doc_id not in excluded)
            held.extend(a for a in articles if a.doc_id in excluded)
        for s in reported:
            log.warning("skipped %s: %s", s.source, s.reason)
        skipped.update((s.source, s.reason) for s in reported)
        replaced = len({a.doc_id for a in new_articles} & {d for _, ids in purge for d in ids})
        embedded = 0
        if new_articles or held:
            chunks = chunk_articles(new_articles, self.config.chunk_size, self.config.chunk_overlap)
            vectors, embedded = self._embed(chunks)
            self.say("查找重复报道 grouping near-duplicate articles…")
            grouper = StoryGrouper()
            live = [(s.live_articles, s) for s in data]
            grouper.resume([a for articles, _ in live for a in articles],
                           {k: v for _, s in live for k, v in s.leader_of.items()},
                           {k: v for _, s in live for k, v in s.signatures.items()})
            grouper.add(new_articles)
            self.say("写入索引 writing the index…")
            store = old.get("store", {"kind": "faiss"})
            entry = write_segment(self.index_dir, chunks, new_articles, vectors, self.config, grouper,
                                  store_vectors=store["kind"] == "faiss", held=held)
            if milvus is not None:  # rows of a segment the manifest does not list yet: invisible to searches
                milvus.insert(entry["data"], chunks, vectors, {a.doc_id: a.date for a in new_articles})
            segments.append(entry)
        if not any(s.get("articles", 0) > 0 for s in segments):
            raise CorpusError(f"no articles left to index in {self.corpus_dir} (every one was removed or unreadable)")
        manifest = self._manifest(segments, file_hashes, content_keys, skipped, old.get("store", {"kind": "faiss"}))
        self._switch(manifest, old)
        if milvus is not None:
            # after the switch: until then the old manifest still lists them. Killed before this, the
            # rows stay in the collection but searches drop them (the manifest lists them deleted);
            # the next full build leaves them behind with the old collection.
            for segment_name, ids in purge:
                milvus.delete(segment_name, ids)
        seconds = time.perf_counter() - self.t0
        log.info("index updated: %d article(s) new, %d replaced, %d removed, %d passages embedded in %.1f s",
                 len(new_articles) - replaced, replaced, removed - replaced, embedded, seconds)
        return BuildReport(str(self.index_dir), manifest["articles"], manifest["chunks"], embedded, seconds, reported,
                           problems=problems, incremental=True, removed=removed - replaced, replaced=replaced,
                           added=len(new_articles) - replaced, embed_seconds=self.embed_seconds)

    # ---------------------------------------------------------------- the switch

    def _manifest(self, segments: list[dict], file_hashes: dict, content_keys: dict, skipped: dict[str, str],
                  store: dict) -> dict:
        encoder = self._encoder()
        return {
            "format": FORMAT,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "segments": segments,
            "settings": self.config.build_settings(),
            "encoder": encoder.fingerprint,
            "store": store,
            "dim": int(encoder.dim),
            "articles": sum(s.get("articles", 0) for s in segments),
            "chunks": sum(s.get("chunks", 0) for s in segments),
            "corpus_dir": str(self.corpus_dir.resolve()),
            "corpus_files": dict(sorted(file_hashes.items())),
            "content_keys": dict(sorted(content_keys.items())),
            "splitter": SPLITTER_VERSION,
            "skipped_files": sorted(skipped),
            "skipped_reasons": dict(sorted(skipped.items())),
            "skipped_hashes": {n: _file_hash(self.corpus_dir / n) for n in sorted(skipped)},
            "excluded": self.excluded,
        }

    def _switch(self, manifest: dict, old: dict | None) -> None:
        """Replace the manifest (the one atomic step), then drop data folders nobody can be reading:
        those of neither the new nor the previous manifest (a reader that read the previous one a
        moment ago is still loading from its folders; the next switch drops them)."""
        atomic_write(self.index_dir / MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2))
        keep = {s["data"] for s in manifest["segments"]} | {s["data"] for s in (old or {}).get("segments", [])}
        for folder in self.index_dir.iterdir():
            if (folder.is_dir() and folder.name not in keep
                    and (folder.name.startswith("data-") or folder.name.startswith(".tmp-data-"))):
                shutil.rmtree(folder, ignore_errors=True)
