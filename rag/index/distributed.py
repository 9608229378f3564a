"""Embedding passages with Ray: on this machine's cores, or on a cluster (`build --ray`)."""

from __future__ import annotations

import logging

import numpy as np

from rag.errors import ModelLoadError


def _embed_shard(model_name: str, texts: list[str]) -> tuple[str, np.ndarray]:
    from rag.encoders import DEFAULT_MODEL, load_encoder
    from rag.encoders.pool import BATCH, pool_available

    if model_name == DEFAULT_MODEL and pool_available():
        # the bundled model as a local build embeds it (`rag.encoders.pool`): the same arithmetic, the same index
        import torch

        from rag.encoders.e5torch import E5TorchEncoder

        torch.set_num_threads(1)  # one Ray CPU per task
        encoder = E5TorchEncoder(dtype="auto")
        return encoder.fingerprint, encoder.encode_documents(texts, batch_size=BATCH)
    encoder = load_encoder(model_name)
    return encoder.fingerprint, encoder.encode_documents(texts)


def embed_with_ray(model_name: str, texts: list[str], address: str | None = None, shards: int | None = None,
                   fingerprint: str | None = None) -> np.ndarray:
    """Embed passages with Ray tasks, one shard per CPU of the cluster: float32 (len(texts), dim).

    Each worker loads the model by name (a local path must exist on every
    node). `address=None` starts Ray on this machine; otherwise it joins the
    cluster at `address` ("auto", "ray://head:10001", ...).

    Raises:
        ModelLoadError: a worker's model has another fingerprint than `fingerprint` (the
            encoder this process indexes with): its vectors would not match the queries'.
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
    for worker_fingerprint, _ in results:
        if fingerprint is not None and worker_fingerprint != fingerprint:
            raise ModelLoadError(f"a Ray worker's {model_name!r} has other weights ({worker_fingerprint}) than "
                                 f"this machine's ({fingerprint}): install the same model on every node")
    return np.concatenate([v for _, v in results]).astype(np.float32) if results else np.zeros((0, 0), np.float32)
