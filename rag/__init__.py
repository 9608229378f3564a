"""Retrieval-augmented question answering over Chinese news articles.

Public API (everything else is internal)::

    from rag import Config, build_index, Retriever, Hit, ask, Answer, Citation, load_embedder

Heavy libraries (torch, faiss, sentence-transformers) load on first use, so
`import rag` is instant.
"""

from importlib import import_module

__all__ = ["Config", "build_index", "Retriever", "Hit", "ask", "Answer", "Citation", "load_embedder"]

_WHERE = {
    "Config": "config",
    "build_index": "index",
    "Retriever": "retriever",
    "Hit": "retriever",
    "ask": "answer",
    "Answer": "answer",
    "Citation": "answer",
    "load_embedder": "embedding",
}


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
