"""Retrieval: `Retriever` (dense + BM25 + fusion) over a loaded index, returning `Hit`s."""

from rag.retrieval.query import MAX_QUERY_CHARS, checked_date, checked_k, clean_query
from rag.retrieval.retriever import Hit, Retriever

__all__ = ["Hit", "MAX_QUERY_CHARS", "Retriever", "checked_date", "checked_k", "clean_query"]
