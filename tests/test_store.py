"""The vector-store interface: FAISS and Milvus Lite give the same retrieval."""

import pytest

from rag import Config, Retriever, build_index
from rag.config import parse_store
from rag.text import squash

pytest.importorskip("pymilvus")


def test_parse_store():
    assert parse_store("faiss") == {"kind": "faiss"}
    assert parse_store("milvus://db.example:19530") == {"kind": "milvus", "uri": "http://db.example:19530"}
    assert parse_store("milvus-lite:/data/v.db") == {"kind": "milvus", "uri": "/data/v.db"}
    with pytest.raises(ValueError, match="unknown vector store"):
        parse_store("redis://x")


@pytest.mark.slow
def test_milvus_lite_matches_faiss_on_the_gold_set(seed_index, tmp_path, retriever, gold):
    corpus = seed_index.parent / "corpus"
    index = tmp_path / "index"
    import shutil

    shutil.copy(seed_index / "embeddings.sqlite", tmp_path / "embeddings.sqlite")
    index.mkdir()
    shutil.copy(tmp_path / "embeddings.sqlite", index / "embeddings.sqlite")  # reuse the vectors: same model
    report = build_index(corpus, index, Config(store="milvus-lite"))
    assert report.embedded == 0
    milvus = Retriever.load(index, corpus_dir=corpus, encoder=retriever.encoder)
    assert milvus.index.manifest["store"]["kind"] == "milvus"
    for g in gold:
        for mode in ("dense", "hybrid"):
            a = [h.chunk_id for h in retriever.search(g["question"], k=5, mode=mode)]
            b = [h.chunk_id for h in milvus.search(g["question"], k=5, mode=mode)]
            assert a == b, (g["id"], mode)
    # a rebuild switches collections and drops the old one
    old = milvus.index.manifest["store"]["collection"]
    build_index(corpus, index, Config(store="milvus-lite"), force=True)
    again = Retriever.load(index, corpus_dir=corpus, encoder=retriever.encoder)
    assert again.index.manifest["store"]["collection"] != old
    assert old not in again.index.store.client.list_collections()
    assert any(squash("姚欣") in squash(h.text) for h in again.search("吉家庄村的第一书记是谁？", k=3))
