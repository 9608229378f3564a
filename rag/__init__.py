"""Retrieval-augmented question answering over Chinese news articles.

Public API (everything else is internal)::

    from rag import Config, build_index, add_files, remove, Retriever, Hit, ask, ask_stream, Answer, Citation
    from rag import Encoder, load_encoder, load_embedder, load_reader, load_generator, RagError

The package follows the pipeline, imports flowing one way:
ingest -> index -> retrieval -> reader -> answer -> web (encoders under
index, retrieval and reader; `text`, `errors`, `files`, `config` under all).

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
    "build_index": "index.build",
    "add_files": "index.add",
    "remove": "index.remove",
    "Retriever": "retrieval.retriever",
    "Hit": "retrieval.retriever",
    "ask": "answer.pipeline",
    "ask_stream": "answer.pipeline",
    "Answer": "answer.types",
    "Citation": "answer.types",
    "Encoder": "encoders.base",
    "load_encoder": "encoders",
    "load_embedder": "encoders.st",
    "load_reader": "reader.reader",
    "load_generator": "answer.generate",
    **{name: "errors" for name in ("RagError", "ConfigError", "QueryError", "CorpusError", "ModelLoadError",
                                    "ReaderError", "IndexStateError", "IndexMissingError", "IndexCorruptError",
                                    "StaleIndexError", "BuildLockedError")},
}
__all__ = list(_WHERE)


def __getattr__(name):
    if name in _WHERE:
        return getattr(import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")
