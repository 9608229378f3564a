"""Embedding passages with Ray: on this machine's cores, or on a cluster (`build --ray`)."""

from __future__ import annotations

import logging

import numpy as np


def _embed_shard(model_name: str, texts: list[str]) -> np.ndarray:
    from rag.encoders import load_encoder

    return load_encoder(model_name).encode_documents(texts)


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
