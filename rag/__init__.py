"""Retrieval-augmented question answering over Chinese news articles.

Public API (everything else is internal)::

    from rag import Config, build_index, add_files, Retriever, Hit, ask, ask_stream, Answer, Citation
    from rag import load_embedder, load_reader, load_generator, RagError

Every error the library raises on purpose is a `RagError` (one sentence with
the fix); the subclasses say which layer: `CorpusError`, `IndexStateError`
(`IndexMissingError`, `IndexCorruptError`, `StaleIndexError`,
`BuildLockedError`), `QueryError`, `ConfigError`, `ModelLoadError`,
`ReaderError`.

Heavy libraries (faiss, onnxruntime, sentence-transformers) load on first
use, so `import rag` is instant.
"""

from importlib import import_module

_WHERE = {
    "Config": "config",
    "build_index": "index",
    "add_files": "ingest",
    "Retriever": "retriever",
    "Hit": "retriever",
    "ask": "answer",
    "ask_stream": "answer",
    "Answer": "answer",
    "Citation": "answer",
    "load_embedder": "embedding",
    "load_reader": "reader",
    "load_generator": "generate",
    **{name: "errors" for name in ("RagError", "ConfigError", "QueryError", "CorpusError", "ModelLoadError",
                                    "ReaderError", "IndexStateError", "IndexMissingError", "IndexCorruptError",
                                    "StaleIndexError", "BuildLockedError")},
}
__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
