"""Faults a user will meet: adding files, killed and concurrent builds, bad questions."""

import shutil
import subprocess
import sys
import time

import pytest

from rag import Retriever, ask
from rag.index.manifest import read_manifest

from .conftest import ROOT, SEEDS


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def workspace(seed_index, tmp_path):
    """A copy of the seed corpus and its index (with the embedding cache)."""
    shutil.copytree(seed_index.parent / "corpus", tmp_path / "corpus")
    shutil.copytree(seed_index, tmp_path / "index")
    return tmp_path


@pytest.mark.slow
def test_add_files_cli_gbk_duplicates_and_refusals(workspace):
    new = workspace / "新闻.txt"
    new.write_bytes("青松村新闻\n\n本报记者 李四\n\n青松村党支部书记王青松带领村民种植蓝莓三百亩。\n".encode("gbk"))
    big = workspace / "big.txt"
    big.write_bytes(("很长的文章。" * 400_000).encode("utf-8"))
    pdf = workspace / "scan.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    dup = workspace / "copy.txt"
    shutil.copy(SEEDS / "000_96f8b7fbf1408b61.txt", dup)
    before = read_manifest(workspace / "index")["chunks"]
    p = cli("add", str(new), str(big), str(pdf), str(dup), "--corpus", str(workspace / "corpus"), "--index", str(workspace / "index"))
    assert p.returncode == 0, p.stderr
    assert "added" in p.stdout and "already in the corpus: copy.txt (与 000_96f8b7fbf1408b61.txt 内容相同 same content as 000_96f8b7fbf1408b61.txt)" in p.stdout
    assert "refused big.txt: 超过 5 MB 上限 larger than the 5 MB limit" in p.stdout
    assert "refused scan.pdf: 无法读取的 PDF not a readable PDF" in p.stdout
    assert "嵌入 1 段 passage(s) embedded" in p.stdout  # only the new article went through the model
    r = Retriever.load(workspace / "index", corpus_dir=workspace / "corpus")
    assert read_manifest(workspace / "index")["chunks"] == before + 1
    assert "王青松" in r.search("青松村党支部书记是谁？", k=1)[0].text
    again = cli("add", str(new), "--corpus", str(workspace / "corpus"), "--index", str(workspace / "index"))
    assert "already in the corpus" in again.stdout and "added" not in again.stdout


def test_the_same_text_in_another_encoding_or_with_other_line_ends_is_a_duplicate(workspace):
    """Issue 21: duplicates were recognised only when byte-identical."""
    from rag.index.add import add_files

    seed = SEEDS / "000_96f8b7fbf1408b61.txt"
    text = seed.read_text(encoding="utf-8")
    copies = {"gbk.txt": text.encode("gb18030"), "crlf.txt": text.replace("\n", "\r\n").encode("utf-8"),
              "bom.txt": b"\xef\xbb\xbf" + text.encode("utf-8"), "spaced.md": text.replace("\n\n", "\n \n\n").encode("utf-8")}
    for name, data in copies.items():
        (workspace / name).write_bytes(data)
    report = add_files([workspace / n for n in copies], workspace / "corpus", workspace / "index")
    assert not report.added and sorted(report.duplicates) == sorted((n, seed.name) for n in copies)
    assert all("资料库中已有 already in the corpus" in line for line in report.lines())
    # a changed copy is new
    (workspace / "changed.txt").write_bytes((text + "\n补记：新的一段。\n").encode("gb18030"))
    assert add_files([workspace / "changed.txt"], workspace / "corpus", workspace / "index").added == ["changed.txt"]


def test_a_file_left_by_a_killed_add_is_indexed_at_the_next_load(workspace, caplog):
    """Issue 21: a killed `add` left its file in the corpus but not in the index, and every command
    then said "run python -m rag build". Now the next load indexes it, saying so in one line."""
    corpus, index = workspace / "corpus", workspace / "index"
    (corpus / "left.txt").write_text("青松村新闻\n\n本报记者 李四\n\n青松村党支部书记王青松带领村民种植蓝莓三百亩。\n",
                                     encoding="utf-8")
    with caplog.at_level("WARNING"):
        r = Retriever.load(index, corpus_dir=corpus)
    assert "王青松" in r.search("青松村党支部书记是谁？", k=1)[0].text
    assert sum("not in the index" in m for m in caplog.messages) == 1
    p = cli("ask", "青松村党支部书记是谁？", "--corpus", str(corpus), "--index", str(index))
    assert p.returncode == 0 and "王青松" in p.stdout and "out of date" not in p.stderr
    # an edited file is not something to pick up silently: still the stale-index message
    (corpus / "left.txt").write_text("青松村新闻\n\n本报记者 李四\n\n改过的正文。\n", encoding="utf-8")
    with pytest.raises(Exception, match="out of date"):
        Retriever.load(index, corpus_dir=corpus)


@pytest.mark.slow
def test_killed_build_leaves_the_old_index_and_a_second_build_is_locked(workspace):
    corpus = workspace / "corpus"
    # new text everywhere: the next build must embed every passage (slow enough to kill)
    for f in corpus.iterdir():
        f.write_text(f.read_text(encoding="utf-8").replace("。", "。 ").replace("，", "，\u3000"), encoding="utf-8")
        f.write_text(f.read_text(encoding="utf-8") + "\n\n补记：本文为测试改写。\n", encoding="utf-8")
    old = read_manifest(workspace / "index")
    cache = workspace / "index" / "embeddings.sqlite"
    cache_size = cache.stat().st_size
    build = subprocess.Popen([sys.executable, "-m", "rag", "build", "--corpus", str(corpus), "--index", str(workspace / "index")],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # wait until it is embedding: the cache grows slice by slice
        while cache.stat().st_size == cache_size and build.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert build.poll() is None, build.stderr.read()
        second = cli("build", "--corpus", str(corpus), "--index", str(workspace / "index"))
        assert second.returncode == 1 and "another build" in second.stderr and "Traceback" not in second.stderr
    finally:
        build.kill()
        build.wait()
    assert read_manifest(workspace / "index") == old
    r = Retriever.load(workspace / "index", check_corpus=False)
    assert "4085" in r.search("山西省共选派了多少名干部到村任职？", k=3)[0].text + r.search("山西省共选派了多少名干部到村任职？", k=3)[1].text
    with pytest.raises(Exception, match="out of date"):
        Retriever.load(workspace / "index", corpus_dir=corpus)
    done = cli("build", "--corpus", str(corpus), "--index", str(workspace / "index"))
    assert done.returncode == 0, done.stderr
    leftovers = [p.name for p in (workspace / "index").iterdir() if p.name.startswith((".tmp-", "data-"))]
    # the killed build's temporary folder is gone; the new data folder and the previous one (kept
    # for readers that loaded the old manifest a moment ago) remain
    assert sorted(leftovers) == sorted({s["data"] for m in (old, read_manifest(workspace / "index")) for s in m["segments"]})


BAD_QUESTIONS = [
    "",
    "   \n\t ",
    "？？？！！。。",
    "\x00\x1b[31m吉家庄村\x07的第一书记是谁",
    "😀😀吉家庄村的第一书记是谁？🎉",
    "吉家庄村 first secretary 是谁?",
    "'; DROP TABLE articles; --",
    "<script>alert(1)</script>吉家庄村的书记是谁",
    "SELECT * FROM chunks WHERE 1=1",
    "ｈｏｗ ｍａｎｙ ４０８５",
    "吉家庄村的第一书记是谁？" + "啊" * 100_000,
]


@pytest.mark.parametrize("question", BAD_QUESTIONS, ids=range(len(BAD_QUESTIONS)))
@pytest.mark.timeout(60)  # a hang guard (a question runs in ~0.3 s)
def test_bad_questions_get_an_answer_or_a_clear_message(retriever, question):
    try:
        a = ask(question, retriever=retriever)
    except ValueError as e:
        assert "(the question" in str(e)  # one readable sentence, in Chinese and English
    else:
        assert a.text or a.abstained
        for c in a.citations:
            assert retriever.article(c.doc_id).text[c.start : c.end] == c.quote
        if len(question) > 2000:
            assert "question_cut" in a.notices


def test_html_looking_question_is_not_markup_in_the_chat(retriever):
    from rag.web.render import answer_markdown

    a = ask("<script>alert(1)</script>吉家庄村的书记是谁", retriever=retriever)
    md = answer_markdown(a)
    assert "<script>" not in md


def test_host_warning():
    sys.path.insert(0, str(ROOT))
    from rag.web.security import host_warning

    assert host_warning("127.0.0.1", None) is None
    assert host_warning("0.0.0.0", "u:p") is None
    assert "WARNING" in host_warning("0.0.0.0", None)


@pytest.mark.slow  # measured 3-5 s
def test_control_characters_do_not_count_towards_the_length_limit(retriever):
    a = ask("吉家庄村的第一书记是谁？" + "\x00" * 5000, retriever=retriever)
    assert "question_cut" not in a.notices and a.short_answer == "姚欣"
    a = ask("吉家庄村的第一书记是谁？" + "啊" * 3000, retriever=retriever)
    assert a.notices == ("question_cut",)
