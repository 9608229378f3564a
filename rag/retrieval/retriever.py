"""Retrieval: dense (FAISS), BM25 and their weighted reciprocal-rank fusion over the local index, or all three inside Milvus -> `Hit`s."""

from __future__ import annotations

import copy
import logging
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import MODES, Config
from rag.encoders import Encoder, as_encoder, known_fingerprint, load_encoder
from rag.errors import QueryError, RagError, StaleIndexError
from rag.index.load import IndexData, load_index
from rag.ingest.chunking import Chunk
from rag.retrieval.query import checked_date, checked_k, clean_query
from rag.text import bm25_query_tokens

log = logging.getLogger(__name__)

def _recover(index_dir, corpus_dir, encoder, stale: StaleIndexError) -> IndexData:
    """Index the corpus files an interrupted add left unindexed, then load the index."""
    from rag.index.build import build_index
    from rag.index.manifest import read_manifest

    manifest = read_manifest(index_dir)
    corpus = corpus_dir or manifest.get("corpus_dir")
    log.warning("%d file(s) in the corpus are not in the index (an add was interrupted): indexing %s now",
                len(stale.added), ", ".join(stale.added[:3]) + (" ..." if len(stale.added) > 3 else ""))
    try:
        build_index(corpus, index_dir, Config.from_dict(manifest["settings"]), encoder=encoder,
                    progress=sys.stderr.isatty())  # a large file takes minutes: show the bar in a terminal
    except (RagError, OSError) as e:
        raise StaleIndexError(f"{stale} (picking them up failed: {e})") from e
    return load_index(index_dir, corpus_dir=corpus_dir)


def _undo_killed_removals(index_dir, corpus_dir) -> bool:
    """Finish or undo a removal killed half-way (its file hidden in the corpus folder); True if there was one."""
    from rag.errors import BuildLockedError
    from rag.index.build import HIDDEN, recover_removals
    from rag.index.lock import build_lock
    from rag.index.manifest import read_manifest

    folder = Path(corpus_dir or read_manifest(index_dir).get("corpus_dir", ""))
    try:
        if not any(p.name.startswith(HIDDEN) for p in folder.iterdir()):
            return False
        with build_lock(index_dir):  # not while a removal runs: that one finishes its own
            recover_removals(folder, Path(index_dir))
    except (OSError, BuildLockedError):
        return False
    return True


@dataclass(frozen=True)
class Hit:
    """One retrieved passage, best first (`rank` is 1-based)."""

    rank: int
    score: float
    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    # the other articles of this passage's near-duplicate group (the same story from other outlets,
    # `rag.index.near_duplicates`): search shows one passage for the group, and names them here
    also_in: tuple[str, ...] = ()
    date: str = ""  # the article's publication date, YYYY-MM-DD ("" when the file gives none)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


class Retriever:
    """Searches one loaded index with the encoder it was built with.

    Args:
        index: a loaded `IndexData`.
        encoder: an `Encoder` (or a SentenceTransformer); by default the model
            named in the index manifest, loaded on first dense search. Its
            fingerprint must be the one the index was built with.
        config: search settings (k, mode, fusion weights); build settings
            always come from the index.
    """

    def __init__(self, index: IndexData, encoder: Encoder | None = None, config: Config | None = None) -> None:
        self.index = index
        base = config or Config()
        self.config = base.with_(**index.config.build_settings())
        # one slot shared with the date views (`with_dates`): the encoder is loaded once for all
        self._encoder_slot: list[Encoder | None] = [as_encoder(encoder) if encoder is not None else None]
        self._lock = threading.Lock()

    @classmethod
    def load(cls, index_dir: str | Path = "index", encoder: Encoder | None = None, config: Config | None = None,
             corpus_dir: str | Path | None = None, check_corpus: bool = True) -> "Retriever":
        """Load the index `python -m rag build` wrote (see `load_index` for the checks).

        Files in the corpus that the index lacks, and no other change (an add killed before its
        index switch), are picked up at once by an incremental build, with one logged line; any
        other difference is a StaleIndexError.
        """
        try:
            index = load_index(index_dir, corpus_dir=corpus_dir, check_corpus=check_corpus)
        except StaleIndexError as e:
            if _undo_killed_removals(index_dir, corpus_dir):
                index = load_index(index_dir, corpus_dir=corpus_dir, check_corpus=check_corpus)
            elif not e.added:
                raise
            else:
                index = _recover(index_dir, corpus_dir, encoder, e)
        if config is not None and config.model != index.manifest["settings"]["model"]:
            raise StaleIndexError(
                f"the index in {index_dir} was built with model {index.manifest['settings']['model']!r}, "
                f"not {config.model!r}: rebuild it with `python -m rag build --model {config.model}`"
            )
        retriever = cls(index, encoder=encoder, config=config)
        # The encoder is checked now when that is cheap (one given, or the bundled model: a hash of
        # its file); another named model is checked when it is loaded, at the first dense search.
        fingerprint = (retriever._encoder_slot[0].fingerprint if encoder is not None
                       else known_fingerprint(index.manifest["settings"]["model"]))
        if fingerprint is not None:
            retriever._check(fingerprint)
        return retriever

    def _check(self, fingerprint: str) -> None:
        built_with = self.index.manifest["encoder"]
        if fingerprint != built_with:
            raise StaleIndexError(
                f"the index in {self.index.index_dir} was built with other model weights "
                f"({built_with}, now {fingerprint}): run `python -m rag build`")

    @property
    def encoder(self) -> Encoder:
        """The query encoder, loaded on first use and checked against the index's fingerprint.

        Raises:
            StaleIndexError: the model's weights are not those the index was
                built with (a new release, a model retrained at the same path).
        """
        with self._lock:
            if self._encoder_slot[0] is None:
                self._encoder_slot[0] = load_encoder(self.index.manifest["settings"]["model"])
            self._check(self._encoder_slot[0].fingerprint)
            return self._encoder_slot[0]

    @property
    def chunks(self):
        return self.index.chunks

    def article(self, doc_id: str):
        """The `Article` with this id, or None."""
        return self.index.articles.get(doc_id)

    # ---------------------------------------------------------------- search

    def search(self, query: str, k: int | None = None, mode: str | None = None,
               since: str | None = None, until: str | None = None) -> list["Hit"]:
        """Return the k best passages for a question, best first.

        Args:
            query: the question (Chinese or English).
            k: number of hits (default from the config).
            mode: "hybrid" (default), "dense" or "bm25".
            since, until: only articles published on or after / on or before this date
                (`YYYY-MM-DD` or another usual way of writing a date); articles without a date are
                then left out. Default: the retriever's own (`with_dates`), else no bound.
        Raises:
            QueryError: empty question, bad k, mode or date.
            StaleIndexError: the encoder is not the one the index was built with.
        """
        k = checked_k(self.config.k if k is None else k)
        mode = mode or self.config.mode
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}")
        query = clean_query(query)
        since = checked_date(since, "since") if since is not None else self._since
        until = checked_date(until, "until") if until is not None else self._until
        if since and until and since > until:
            raise QueryError(f"since ({since}) is after until ({until}): no date lies between them")
        n = len(self.index.chunks)
        if n == 0:
            return []
        if self.index.milvus is not None:
            return self._search_milvus(query, k, mode, since, until, n)
        allowed = self._dated_chunks(since, until)
        # with a date range, every passage is ranked (a flat scan of the vectors, ~10 ms per 50,000)
        # and those of other dates dropped, so the k best of the range are found
        depth = n if allowed is not None else min(n, max(k, self.config.candidates))
        while True:
            if mode == "dense":
                ranked = self._dense(query, depth)
            elif mode == "bm25":
                ranked = self._bm25(query, depth)
            else:
                ranked = self._fuse(self._dense(query, depth), self._bm25(query, depth))
            if allowed is not None:
                ranked = [(i, score) for i, score in ranked if allowed[i]]
            hits = self._one_per_story([(self.index.chunks[i], score) for i, score in ranked], k)
            # copies of one story can fill the candidates: look deeper (at most twice, 16x) for k
            if len(hits) >= k or depth >= n or depth >= 16 * max(k, self.config.candidates):
                return hits
            depth = min(n, depth * 4)

    def _search_milvus(self, query: str, k: int, mode: str, since, until, n: int) -> list["Hit"]:
        """The same search inside Milvus (`rag.index.milvus`): the date range is a filter there."""
        milvus, deleted = self.index.milvus, self.index.deleted
        vector = self.encoder.encode_query([query]) if mode in ("dense", "hybrid") else None
        depth = min(n, max(k, self.config.candidates))
        while True:
            rows = milvus.search(query, vector, depth, mode, self.index.segments, since, until, self.config.rrf_k)
            ranked = [(chunk, score) for chunk, score, segment in rows if (segment, chunk.doc_id) not in deleted]
            hits = self._one_per_story(ranked, k)
            if len(hits) >= k or len(rows) < depth or depth >= n or depth >= 16 * max(k, self.config.candidates):
                return hits
            depth = min(n, depth * 4)

    def with_dates(self, since: str | None = None, until: str | None = None) -> "Retriever":
        """This retriever with a default date range for every search (what `ask` and the chat pass
        on); the index and the encoder are shared.

        Raises:
            QueryError: a bound that is not a date.
        """
        since, until = checked_date(since, "since"), checked_date(until, "until")
        if since and until and since > until:
            raise QueryError(f"since ({since}) is after until ({until}): no date lies between them")
        view = copy.copy(self)  # shares the index, the lock and the encoder's slot
        view._since, view._until = since, until
        return view

    _since: str | None = None
    _until: str | None = None

    def _dated_chunks(self, since: str | None, until: str | None):
        """A boolean per passage: its article's date lies in [since, until]; None when unbounded."""
        if since is None and until is None:
            return None
        articles = self.index.articles
        return np.array([bool(d) and (since is None or d >= since) and (until is None or d <= until)
                         for d in (articles[c.doc_id].date if c.doc_id in articles else "" for c in self.index.chunks)])

    def _one_per_story(self, ranked: list[tuple[Chunk, float]], k: int) -> list[Hit]:
        """The first k passages of `ranked` keeping one article of each near-duplicate group (its best
        passage; later passages of that same article stay), the group's others named in `also_in`."""
        groups = self.index.groups
        shown: dict[tuple[str, ...], str] = {}  # group -> the article shown for it
        hits: list[Hit] = []
        for c, score in ranked:
            group = groups.get(c.doc_id)
            if group is not None:
                if shown.setdefault(group, c.doc_id) != c.doc_id:
                    continue  # a copy of a story already shown
                hit = self._hit(len(hits) + 1, c, score)
                hits.append(Hit(**{**hit.__dict__, "also_in": tuple(d for d in group if d != c.doc_id)}))
            else:
                hits.append(self._hit(len(hits) + 1, c, score))
            if len(hits) == k:
                break
        return hits

    def _dense(self, query: str, depth: int) -> list[tuple[int, float]]:
        vec = self.encoder.encode_query([query])
        scores, ids = self.index.store.search(vec, depth)
        chunks = self.index.chunks
        # equal scores in chunk-id order, not row order: an index updated in segments ranks as one built at once
        return sorted(((int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0),
                      key=lambda t: (-t[1], chunks[t[0]].chunk_id))

    def _bm25(self, query: str, depth: int) -> list[tuple[int, float]]:
        tokens = bm25_query_tokens(query, self.config)
        if not tokens:
            return []
        scores = self.index.bm25.get_scores(tokens)
        if depth < len(scores):  # every passage scoring at least the depth-th best: ties at the edge included
            edge = -np.partition(-scores, depth - 1)[depth - 1]
            top = np.flatnonzero(scores >= edge)
        else:
            top = np.arange(len(scores))
        chunks = self.index.chunks
        top = sorted((int(i) for i in top if scores[i] > 0), key=lambda i: (-scores[i], chunks[i].chunk_id))[:depth]
        return [(i, float(scores[i])) for i in top]

    def _fuse(self, dense: list[tuple[int, float]], sparse: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """Weighted reciprocal-rank fusion: robust to the two sides' unlike score scales."""
        c = self.config
        fused: dict[int, float] = {}
        for weight, ranked in ((c.dense_weight, dense), (c.bm25_weight, sparse)):
            for rank, (idx, _) in enumerate(ranked, 1):
                fused[idx] = fused.get(idx, 0.0) + weight / (c.rrf_k + rank)
        chunks = self.index.chunks
        return sorted(fused.items(), key=lambda kv: (-kv[1], chunks[kv[0]].chunk_id))

    def _hit(self, rank: int, c: Chunk, score: float) -> Hit:
        article = self.index.articles.get(c.doc_id)
        return Hit(rank, score, c.chunk_id, c.doc_id, c.source, c.title, c.text, c.start, c.end,
                   date=article.date if article is not None else "")
