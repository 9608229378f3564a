"""Incremental index: adds write a segment, changes replace, removals delete; the result equals a full build."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from rag import Config, Retriever, build_index, remove
from rag.config import Config as _Config
from rag.errors import QueryError
from rag.index import build as build_module
from rag.index.bm25 import BM25, SegmentTerms
from rag.index.manifest import read_manifest
from rag.text import bm25_doc_tokens, bm25_query_tokens

from .conftest import ROOT

ARTICLES = {
    "east.txt": "东坪村道建成通车\n\n本报记者 林晓舟\n\n东坪村道全长10公里，由施工队长晏立群负责建设，总投资1200万元。"
                "村道通车后，东坪村的果品运输时间缩短了一半。\n\n村民说，路修好了，苹果能卖到城里去了。\n",
    "west.txt": "西岭村道建成通车\n\n本报记者 周敏\n\n西岭村道全长13公里，由施工队长戚立群负责建设，总投资1500万元。"
                "西岭村的核桃从此直接运进县城。\n",
    "page.txt": "青禾镇获评省级卫生乡镇\n\n本报讯 青禾镇今年新建公厕12座，清运垃圾3000吨，镇容镇貌明显改善。\n\n"
                "北石镇建成污水处理厂\n\n本报讯 北石镇污水处理厂近日建成投运，总投资3500万元，日处理污水2万吨。\n",
}
QUESTIONS = ["东坪村道由谁负责建设？", "西岭村道全长多少公里？", "北石镇污水处理厂总投资多少？", "青禾镇新建了几座公厕？",
             "南湾村修了多少座桥？", "核桃运到哪里？"]


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def _same_search(a: Retriever, b: Retriever) -> None:
    for q in QUESTIONS:
        for mode in ("dense", "bm25", "hybrid"):
            got = [(h.chunk_id, round(h.score, 5), h.also_in, h.text) for h in a.search(q, k=5, mode=mode)]
            want = [(h.chunk_id, round(h.score, 5), h.also_in, h.text) for h in b.search(q, k=5, mode=mode)]
            assert got == want, (q, mode)


@pytest.fixture
def corpus(tmp_path):
    _write(tmp_path / "corpus", ARTICLES)
    build_index(tmp_path / "corpus", tmp_path / "index")
    return tmp_path / "corpus"


def _full_build_of(corpus, index, tmp_path, exclude=frozenset()) -> Retriever:
    """A from-scratch build of the same corpus, with the same embedding cache (the same vectors)."""
    ref = tmp_path / "ref"
    ref.mkdir()
    shutil.copy(index / "embeddings.sqlite", ref / "embeddings.sqlite")
    build_index(corpus, ref, force=True, exclude=exclude)
    return Retriever.load(ref, corpus_dir=corpus)


def test_add_change_and_remove_equal_a_full_build(tmp_path, corpus):
    index = tmp_path / "index"
    before = Retriever.load(index, corpus_dir=corpus)
    east_ids = sorted(d for d in before.index.articles if d.startswith("east"))
    _write(corpus, {"south.txt": "南湾村新修石拱桥\n\n本报讯 南湾村今年新修石拱桥17座，方便了两岸群众出行。\n"})
    changed = ARTICLES["east.txt"].replace("村民说，路修好了，苹果能卖到城里去了。", "村民说，路修好了，梨也能卖到城里去了。")
    _write(corpus, {"east.txt": changed})
    (corpus / "west.txt").unlink()
    report = build_index(corpus, index)
    assert report.incremental and (report.added, report.replaced, report.removed) == (1, 1, 1)  # south; east; west
    m = read_manifest(index)
    assert len(m["segments"]) == 2 and sorted(m["segments"][0]["deleted"]) == sorted(
        d for d in before.index.articles if d.startswith(("east", "west")))
    assert set(m["corpus_files"]) == {"east.txt", "page.txt", "south.txt"}
    after = Retriever.load(index, corpus_dir=corpus)
    assert sorted(d for d in after.index.articles if d.startswith("east")) == east_ids  # ids stay stable
    assert not any(d.startswith("west") for d in after.index.articles)
    texts = " ".join(c.text for c in after.chunks)
    assert "梨也能卖" in texts and "苹果能卖" not in texts and "戚立群" not in texts  # never the old text
    _same_search(after, _full_build_of(corpus, index, tmp_path))


def test_an_add_embeds_only_the_new_passages_and_leaves_old_segments_untouched(tmp_path, corpus):
    index = tmp_path / "index"
    first = read_manifest(index)["segments"][0]
    files = {p.name: p.stat().st_mtime_ns for p in (index / first["data"]).iterdir()}
    _write(corpus, {"south.txt": "南湾村新修石拱桥\n\n本报讯 南湾村今年新修石拱桥17座，方便了两岸群众出行。\n"})
    report = build_index(corpus, index)
    assert report.incremental and report.embedded == 1 and report.removed == 0
    assert {p.name: p.stat().st_mtime_ns for p in (index / first["data"]).iterdir()} == files
    assert read_manifest(index)["segments"][0] == first
    assert build_index(corpus, index).up_to_date


def test_remove_by_file_and_by_id(tmp_path, corpus):
    index = tmp_path / "index"
    r = Retriever.load(index, corpus_dir=corpus)
    page_ids = sorted(d for d in r.index.articles if d.startswith("page"))
    assert len(page_ids) == 2
    report = remove(["west.txt", page_ids[1], "nothing.txt"], corpus_dir=corpus, index_dir=index)
    assert report.files == ["west.txt"] and report.articles == [page_ids[1]] and report.unknown == ["nothing.txt"]
    assert report.removed == 2 and not (corpus / "west.txt").exists()
    assert not [p.name for p in corpus.iterdir() if p.name.startswith(".")]  # no hidden leftovers
    after = Retriever.load(index, corpus_dir=corpus)  # fresh: the corpus and the index agree
    assert page_ids[1] not in after.index.articles and page_ids[0] in after.index.articles
    assert all("污水处理厂" not in h.text for h in after.search("北石镇污水处理厂总投资多少？", k=5))
    build_index(corpus, index, force=True)  # an article removed by id stays out of later builds
    assert page_ids[1] not in Retriever.load(index, corpus_dir=corpus).index.articles
    _same_search(Retriever.load(index, corpus_dir=corpus), _full_build_of(corpus, index, tmp_path, {page_ids[1]}))
    with pytest.raises(QueryError):
        remove([], corpus_dir=corpus, index_dir=index)
    with pytest.raises(QueryError):
        remove(["a\nb"], corpus_dir=corpus, index_dir=index)


def test_removing_everything_is_refused_and_the_file_put_back(tmp_path):
    _write(tmp_path / "corpus", {"only.txt": ARTICLES["west.txt"]})
    build_index(tmp_path / "corpus", tmp_path / "index")
    old = read_manifest(tmp_path / "index")
    with pytest.raises(QueryError, match="at least one"):
        remove(["only.txt"], corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    assert (tmp_path / "corpus" / "only.txt").is_file() and read_manifest(tmp_path / "index") == old
    with pytest.raises(QueryError, match="at least one"):  # by id too
        remove(["only-00"], corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    assert read_manifest(tmp_path / "index") == old


def test_a_failed_update_changes_nothing(tmp_path, corpus, monkeypatch):
    index = tmp_path / "index"
    old = read_manifest(index)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(build_module, "write_segment", broken)
    _write(corpus, {"south.txt": "南湾村新修石拱桥\n\n本报讯 南湾村今年新修石拱桥17座。\n"})
    with pytest.raises(OSError):
        build_index(corpus, index)
    with pytest.raises(OSError):
        remove(["west.txt"], corpus_dir=corpus, index_dir=index)  # the removal needs no segment, but south.txt does
    assert read_manifest(index) == old and (corpus / "west.txt").is_file()


def test_many_segments_are_merged_into_one(tmp_path, corpus, monkeypatch):
    index = tmp_path / "index"
    monkeypatch.setattr(build_module, "MAX_SEGMENTS", 3)
    for i in range(4):
        _write(corpus, {f"more{i}.txt": f"第{i}条消息\n\n本报讯 东坪村第{i}次召开村民大会，讨论村道养护，到会村民{40 + i}人。\n"})
        build_index(corpus, index)
    assert len(read_manifest(index)["segments"]) <= 3
    _same_search(Retriever.load(index, corpus_dir=corpus), _full_build_of(corpus, index, tmp_path))


def test_near_duplicates_found_across_segments(tmp_path, corpus):
    index = tmp_path / "index"
    copy = ARTICLES["east.txt"] + "（责任编辑：王五）\n"  # a reprint with an editor's note
    _write(corpus, {"wire.txt": copy})
    build_index(corpus, index)
    incremental = Retriever.load(index, corpus_dir=corpus)
    assert any(set(g) >= {"east-00", "wire-00"} for g in incremental.index.groups.values())
    assert incremental.index.groups == _full_build_of(corpus, index, tmp_path).index.groups


def test_segmented_bm25_scores_equal_bm25s():
    """The merged statistics give bm25s's own scores (its default "lucene" BM25), also after deletions."""
    import bm25s

    config = _Config()
    texts = [t for text in ARTICLES.values() for t in text.split("\n\n")] * 3
    a, b = SegmentTerms.of(texts[:7], config), SegmentTerms.of(texts[7:], config)
    live_a = np.ones(7, bool)
    live_a[2] = False
    merged = BM25([(a, live_a), (b, np.ones(len(texts) - 7, bool))])
    kept = [t for i, t in enumerate(texts) if i != 2]
    ref = bm25s.BM25()
    ref.index([bm25_doc_tokens(t, config) or ["∅"] for t in kept], show_progress=False)
    best = []
    for q in QUESTIONS:
        tokens = bm25_query_tokens(q, config)
        assert np.allclose(merged.get_scores(tokens), ref.get_scores(tokens), atol=1e-5)
        best.append(merged.get_scores(tokens).max())
    assert min(best[:4]) > 0  # the questions about these articles find them


def test_cli_remove(tmp_path, corpus):
    run = lambda *a: subprocess.run([sys.executable, "-m", "rag", *a, "--corpus", str(corpus), "--index",
                                     str(tmp_path / "index")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    p = run("remove", "west.txt")
    assert p.returncode == 0 and "west.txt" in p.stdout and not (corpus / "west.txt").exists()
    p = run("remove", "west.txt")
    assert p.returncode == 1 and "not in the index" in p.stdout
    p = run("build")
    assert p.returncode == 0 and "up to date" in p.stdout
    _write(corpus, {"south.txt": "南湾村新修石拱桥\n\n本报讯 南湾村今年新修石拱桥17座。\n"})
    p = run("build")
    assert p.returncode == 0 and "updated" in p.stdout and "1 passages embedded" in p.stdout
    p = run("search", "南湾村修了多少座桥？", "--json")
    assert p.returncode == 0 and "south-00" in p.stdout


def test_a_skipped_file_is_read_again_once_fixed(tmp_path, corpus):
    index = tmp_path / "index"
    (corpus / "broken.txt").write_bytes(b"\x00\x01\x02" * 10)
    report = build_index(corpus, index)
    assert [s.source for s in report.skipped] == ["broken.txt"]
    assert [s.source for s in build_index(corpus, index).skipped] == ["broken.txt"]  # still skipped, not re-read
    (corpus / "broken.txt").write_text("南湾村新修石拱桥\n\n本报讯 南湾村今年新修石拱桥17座。\n", encoding="utf-8")
    report = build_index(corpus, index)
    assert report.incremental and not report.skipped and report.embedded == 1
    assert Retriever.load(index, corpus_dir=corpus).search("南湾村修了多少座石拱桥？", k=1)[0].doc_id == "broken-00"


def test_an_article_removed_by_id_stays_out_until_its_file_goes(tmp_path):
    """A .jsonl line removed by id: full and partial rebuilds keep it out (it keeps its id, so it stays
    excluded); once its file is removed and added again, it is back."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    rows = [{"title": "东岗区启动老旧小区改造", "date": "2023-05-20", "text": "东岗区今年改造老旧小区47个，惠及居民1.2万户。"},
            {"title": "南港新区码头开工", "date": "2023-10-08", "text": "南港新区三号码头开工建设，设计吞吐量800万吨。"}]
    corpus.mkdir()
    (corpus / "city.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    _write(corpus, {"west.txt": ARTICLES["west.txt"]})
    build_index(corpus, index)
    r = Retriever.load(index, corpus_dir=corpus)
    doomed = next(d for d, a in r.index.articles.items() if a.title.startswith("东岗区"))
    remove([doomed], corpus_dir=corpus, index_dir=index)

    def cited(question: str) -> bool:
        return any("47个" in h.text for h in Retriever.load(index, corpus_dir=corpus).search(question, k=5))

    assert not cited("东岗区改造了多少个老旧小区？")
    build_index(corpus, index, force=True)
    assert not cited("东岗区改造了多少个老旧小区？")
    rows[1]["text"] += "项目总投资20亿元。"  # the file changes: read again, the removed line keeps its id
    (corpus / "city.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert build_index(corpus, index).incremental
    assert not cited("东岗区改造了多少个老旧小区？")
    saved = (corpus / "city.jsonl").read_bytes()
    remove(["city.jsonl"], corpus_dir=corpus, index_dir=index)
    (corpus / "city.jsonl").write_bytes(saved)
    build_index(corpus, index)
    assert cited("东岗区改造了多少个老旧小区？")  # the file removed and added again: all of it is back


def test_a_rewritten_one_article_file_keeps_its_id(tmp_path, corpus):
    index = tmp_path / "index"
    before = sorted(d for d in Retriever.load(index, corpus_dir=corpus).index.articles if d.startswith("west"))
    _write(corpus, {"west.txt": "西岭村道正式通车\n\n本报记者 周敏\n\n全长14公里的西岭村道昨天正式通车，施工由县交通局组织。\n"})
    report = build_index(corpus, index)
    assert (report.added, report.replaced, report.removed) == (0, 1, 0)
    after = Retriever.load(index, corpus_dir=corpus)
    assert sorted(d for d in after.index.articles if d.startswith("west")) == before
    assert "14公里" in after.article(before[0]).text


def test_a_new_article_never_takes_the_id_of_one_removed_by_id(tmp_path):
    """A page with an article removed by id gets a new article before it: the new one is indexed (under
    a fresh id) and the removed one stays out, also after a full rebuild."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    first, second = ARTICLES["page.txt"].split("\n\n北石镇")
    second = "北石镇" + second
    _write(corpus, {"page.txt": first.rstrip() + "\n\n" + second})
    build_index(corpus, index)
    gone = next(d for d, a in Retriever.load(index, corpus_dir=corpus).index.articles.items() if a.title.startswith("北石镇"))
    remove([gone], corpus_dir=corpus, index_dir=index)
    new = "东湖镇建成文化广场\n\n本报讯 东湖镇文化广场占地8000平方米，今天向居民开放。\n"
    _write(corpus, {"page.txt": first.rstrip() + "\n\n" + new + "\n" + second})
    for force in (False, True):
        build_index(corpus, index, force=force)
        r = Retriever.load(index, corpus_dir=corpus)
        texts = {a.doc_id: a.text for a in r.index.articles.values()}
        assert any("8000平方米" in t for t in texts.values()), texts  # the new article is there
        assert not any("3500万元" in t for t in texts.values()) and gone not in texts  # the removed one is not


def test_a_killed_removal_is_undone_when_the_index_is_next_used(tmp_path, corpus):
    index = tmp_path / "index"
    (corpus / "west.txt").rename(corpus / ".removing-west.txt")  # what a removal killed before its switch leaves
    r = Retriever.load(index, corpus_dir=corpus)  # not "out of date": the file is put back
    assert (corpus / "west.txt").is_file() and not (corpus / ".removing-west.txt").exists()
    assert any("戚立群" in h.text for h in r.search("西岭村道由谁负责建设？", k=3))
    remove(["west.txt"], corpus_dir=corpus, index_dir=index)
    (corpus / ".removing-west.txt").write_text("leftover", encoding="utf-8")  # killed after its switch
    build_index(corpus, index)
    assert not (corpus / ".removing-west.txt").exists() and not (corpus / "west.txt").exists()


def test_remove_touches_only_files_the_index_read(tmp_path, corpus):
    index = tmp_path / "index"
    (corpus / "notes.bin").write_bytes(b"private")  # not a corpus type: never indexed, never removed
    report = remove(["notes.bin", "../index/manifest.json"], corpus_dir=corpus, index_dir=index)
    assert report.unknown == ["notes.bin", "../index/manifest.json"] and (corpus / "notes.bin").is_file()


def test_equal_scores_rank_by_chunk_id_whatever_the_segments(tmp_path):
    """Two copies of one text in different files (equal BM25 and dense scores): the same order whether
    the second came in a later segment or in one full build."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _write(corpus, {"b.txt": ARTICLES["west.txt"]})
    build_index(corpus, index)
    _write(corpus, {"a.txt": ARTICLES["west.txt"]})  # sorts first, but is added later
    build_index(corpus, index)
    incremental = Retriever.load(index, corpus_dir=corpus)
    assert len(read_manifest(index)["segments"]) == 2
    _same_search(incremental, _full_build_of(corpus, index, tmp_path))


@pytest.mark.slow  # loads the reader: ~5 s
def test_the_app_follows_files_edited_on_disk(tmp_path, corpus, monkeypatch):
    """A file edited in the corpus folder while the app runs: the next question after REFRESH_S starts an
    update in the background, and answers then quote the new text, never the old."""
    import time

    from rag.web import service as service_module

    monkeypatch.setattr(service_module, "REFRESH_S", 0.0)
    svc = service_module.Service(tmp_path / "index", corpus)
    svc.start()
    assert svc.wait(120)
    _write(corpus, {"west.txt": ARTICLES["west.txt"].replace("13公里", "16公里")})
    svc.refresh_if_changed()
    deadline = time.monotonic() + 120
    while svc._refreshing.is_set() and time.monotonic() < deadline:
        time.sleep(0.2)
    texts = " ".join(h.text for h in svc.retriever.search("西岭村道全长多少公里？", k=3))
    assert "16公里" in texts and "13公里" not in texts
    before = svc.retriever
    svc.refresh_if_changed()  # nothing changed since: no update
    assert not svc._refreshing.is_set() and svc.retriever is before
