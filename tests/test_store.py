"""The vector-store interface: FAISS and Milvus Lite give the same retrieval."""

import json

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
def test_milvus_lite_does_all_of_retrieval_near_the_local_backend(seed_index, tmp_path, retriever, gold):
    """Dense search equal to FAISS; hybrid (Milvus's BM25 over jieba words, Milvus's RRF) Hit@5 within
    0.02 of the local backend on the dev gold set; a rebuild switches collections and drops the old one."""
    import shutil

    from rag.metrics import evidence_rank, hit_at

    corpus = seed_index.parent / "corpus"
    index = tmp_path / "index"
    index.mkdir()
    shutil.copy(seed_index / "embeddings.sqlite", index / "embeddings.sqlite")  # the same vectors
    report = build_index(corpus, index, Config(store="milvus-lite"))
    assert report.embedded == 0
    milvus = Retriever.load(index, corpus_dir=corpus, encoder=retriever.encoder)
    assert milvus.index.manifest["store"]["kind"] == "milvus" and milvus.index.bm25 is None
    answerable = [g for g in gold if g["answers"]]
    for g in answerable:
        assert ([h.chunk_id for h in retriever.search(g["question"], k=5, mode="dense")]
                == [h.chunk_id for h in milvus.search(g["question"], k=5, mode="dense")]), g["id"]
    hit5 = {}
    for name, r in (("local", retriever), ("milvus", milvus)):
        ranks = [evidence_rank([h.text for h in r.search(g["question"], k=5)], g["evidence"]) for g in answerable]
        hit5[name] = hit_at(ranks, 5)
    assert abs(hit5["milvus"] - hit5["local"]) <= 0.02, hit5
    hit = milvus.search("吉家庄村的第一书记是谁？", k=3)[0]  # the same Hit type, filled from Milvus's fields
    local = {h.chunk_id: h for h in retriever.search("吉家庄村的第一书记是谁？", k=10)}[hit.chunk_id]
    assert (hit.doc_id, hit.source, hit.title, hit.text, hit.start, hit.end, hit.date) == (
        local.doc_id, local.source, local.title, local.text, local.start, local.end, local.date)
    old = milvus.index.manifest["store"]["collection"]
    build_index(corpus, index, Config(store="milvus-lite"), force=True)
    again = Retriever.load(index, corpus_dir=corpus, encoder=retriever.encoder)
    assert again.index.manifest["store"]["collection"] != old
    assert old not in again.index.store.client.list_collections()
    assert any(squash("姚欣") in squash(h.text) for h in again.search("吉家庄村的第一书记是谁？", k=3))


@pytest.mark.slow
def test_milvus_updates_in_place_with_dates_as_a_filter(tmp_path):
    """Adds insert rows, removals delete them (never shown again), the date range is Milvus's filter."""
    from rag import remove

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [{"title": "东坪村道建成通车", "date": "2023-07-03", "text": "东坪村道全长10公里，由施工队长晏立群负责建设。"},
            {"title": "西岭村道建成通车", "date": "2023-08-09", "text": "西岭村道全长13公里，由施工队长戚立群负责建设。"}]
    (corpus / "roads.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    index = tmp_path / "index"
    build_index(corpus, index, Config(store="milvus-lite"))
    r = Retriever.load(index, corpus_dir=corpus)
    east, west = (next(d for d, a in r.index.articles.items() if a.title.startswith(t)) for t in ("东坪", "西岭"))
    assert {h.doc_id for h in r.search("村道由谁负责建设？", k=5)} == {east, west}
    july = r.search("村道由谁负责建设？", k=5, since="2023-07-01", until="2023-07-31")
    assert [h.doc_id for h in july] == [east] and july[0].date == "2023-07-03"
    for mode in ("dense", "bm25"):
        assert [h.doc_id for h in r.search("村道由谁负责建设？", k=5, mode=mode, since="2023-08-01")] == [west]
    (corpus / "bridge.txt").write_text("南湾村新修石拱桥\n\n本报讯 南湾村今年新修石拱桥17座。\n", encoding="utf-8")
    report = build_index(corpus, index)
    assert report.incremental and report.embedded == 1
    r = Retriever.load(index, corpus_dir=corpus)
    assert r.search("南湾村修了多少座石拱桥？", k=1)[0].doc_id == "bridge-00"
    remove([west], corpus_dir=corpus, index_dir=index)
    r = Retriever.load(index, corpus_dir=corpus)
    for mode in ("dense", "bm25", "hybrid"):
        assert all(h.doc_id != west for h in r.search("西岭村道由谁负责建设？", k=5, mode=mode))
    assert r.index.store.count() == 2  # the removed article's row is gone from the collection too
