"""BM25 over passages with bm25s: the keyword half of hybrid search."""

from __future__ import annotations

import logging

from rag.config import Config
from rag.ingest.chunking import Chunk
from rag.text import bm25_doc_tokens


def import_bm25s():
    """The bm25s module, imported on first use and kept quiet (it sets its logger to DEBUG on import)."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets itself to DEBUG on import
    return bm25s


def build_bm25(chunks: list[Chunk], config: Config):
    """A `bm25s.BM25` over the passages' embed texts (headline + passage), tokenised as the index's
    settings say (character bigrams or jieba words, plus pinyin bigrams); one row per chunk, in order."""
    bm25s = import_bm25s()

    bm25 = bm25s.BM25()
    bm25.index([bm25_doc_tokens(c.embed_text, config) or ["∅"] for c in chunks], show_progress=False)
    return bm25


