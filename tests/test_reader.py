"""The trained reader and the answer layer around it, on articles written here.

Nothing here copies a gold question: each behaviour gets its own small
article (a number, a person, a date, two parts, an open question, an
unanswerable question, two sources that disagree).
"""

import shutil
import subprocess
import sys

import pytest

from rag import ask
from rag.errors import ReaderError
from rag.reader.reader import DEFAULT_READER_DIR, META, WEIGHTS, Reader

from .conftest import ROOT
from .helpers.articles import ARTICLES, write_articles

@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from rag import Retriever, build_index

    root = tmp_path_factory.mktemp("reader-corpus")
    corpus = write_articles(root / "corpus")
    build_index(corpus, root / "index")
    return Retriever.load(root / "index", corpus_dir=corpus)


def _quotes_are_verbatim(a, retriever):
    for c in a.citations:
        assert retriever.article(c.doc_id).text[c.start : c.end] == c.quote
        assert f"[{c.n}]" in a.text


def test_number(small):
    a = ask("桃花溪村共修建了多少座石拱桥？", retriever=small)
    assert a.kind == "short" and "17" in a.short_answer
    assert "17座石拱桥" in a.citations[0].quote
    _quotes_are_verbatim(a, small)


def test_person(small):
    a = ask("桃花溪村的党支部书记是谁？", retriever=small)
    assert a.kind == "short" and "王春花" in a.short_answer
    _quotes_are_verbatim(a, small)


def test_date(small):
    a = ask("桃花溪村的文化广场是哪一天正式开放的？", retriever=small)
    assert not a.abstained and "2021年3月5日" in a.short_answer
    _quotes_are_verbatim(a, small)


def test_two_parts_are_both_answered_and_cited(small):
    a = ask("桃花溪村和青松村的党支部书记分别是谁？", retriever=small)
    assert a.kind == "parts"
    assert "王春花" in a.text and "赵立新" in a.text
    assert len({c.doc_id for c in a.citations}) == 2
    _quotes_are_verbatim(a, small)


def test_open_question_gets_several_sentences(small):
    a = ask("清河县的垃圾分类做得怎么样？", retriever=small)
    assert a.kind == "open" and 2 <= len(a.citations) <= 4
    assert len({c.quote for c in a.citations}) == len(a.citations)
    _quotes_are_verbatim(a, small)


def test_a_question_for_measures_lists_the_articles_enumeration(small):
    a = ask("清河县在垃圾分类方面有哪些做法？", retriever=small)  # the article says 一是…二是…三是…
    assert a.kind == "list" and len(a.parts) == 3, (a.kind, a.text)
    assert "分类投放点" in a.text and "积分奖励" in a.text and "入户宣传" in a.text
    _quotes_are_verbatim(a, small)


def test_unanswerable_question_abstains(small):
    a = ask("王春花的丈夫在哪家公司工作？", retriever=small)
    assert a.abstained and a.kind == "abstained" and a.citations == () and a.text == ""


def test_disagreeing_sources_are_both_cited(small):
    a = ask("石门水库扩容工程总投资是多少？", retriever=small)
    assert a.kind == "conflict"
    assert "1.2亿" in a.text and "1.8亿" in a.text
    values = " ".join(p.short_answer for p in a.parts)
    assert "1.2亿" in values and "1.8亿" in values and {p.citation for p in a.parts} == {1, 2}
    assert {c.source for c in a.citations} == {"shimen_a.txt", "shimen_b.txt"}
    _quotes_are_verbatim(a, small)


@pytest.mark.parametrize("first, followup, resolved, expected", [
    ("青松村的党支部书记由谁担任？", "他到任后带领村民种植了什么？", "赵立新", "蓝莓"),
    ("桃花溪村的党支部书记是谁？", "她带领村民修建了多少座石拱桥？", "王春花", "17"),
])
def test_followups_are_answered(small, first, followup, resolved, expected):
    a = ask(first, retriever=small)
    history = [{"role": "user", "content": first}, {"role": "assistant", "content": [{"type": "text", "text": a.text}]}]
    b = ask(followup, retriever=small, history=history)
    assert resolved in b.resolved_query and expected in b.text


def test_followup_asks_where_the_sent_official_worked_before(tmp_path):
    """Issue 19, item 8 (the README's follow-up example, on an article written here): news names a
    seconded official's unit before them ("县里选派<单位>的<人>到<村>担任第一书记"); asked where
    that person worked before, the answer is the unit, not the village they were sent to."""
    from rag import Retriever, build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "liuwan.txt").write_text(
        "柳湾村换了新面貌\n\n本报记者 秦川\n\n今年，柳湾村被确定为重点帮扶村。5月份，平陆县选派国家税务总局"
        "平陆县税务局的韩晓东到柳湾村担任第一书记。他到任后带领村民硬化道路4公里，新建蔬菜大棚30座。\n",
        encoding="utf-8")
    (corpus / "dongling.txt").write_text(
        "东岭村发展光伏产业\n\n本报记者 杜宇\n\n东岭村党支部书记孟庆丰介绍，村里建成光伏电站一座，"
        "年发电收益12万元，全部用于村集体公益事业。\n", encoding="utf-8")
    build_index(corpus, tmp_path / "index")
    r = Retriever.load(tmp_path / "index", corpus_dir=corpus)
    first = ask("柳湾村的第一书记是谁？", retriever=r)
    assert first.short_answer == "韩晓东"
    b = ask("他原来在哪个单位工作？", retriever=r, history=[("柳湾村的第一书记是谁？", first.text)])
    assert b.resolved_query.startswith("韩晓东")
    assert b.short_answer == "国家税务总局平陆县税务局" and b.citations[0].source == "liuwan.txt"


_HEWAN_HEAD = (
    "河湾村来了第一书记\n\n本报记者 赵雷\n\n河湾村地处山区，全村共有农户286户，过去村里道路不通、产业薄弱，"
    "群众出行要绕行十多公里山路，孩子上学、老人看病都很不方便。村里的青壮年劳动力大多外出打工，"
    "留下的多是老人和孩子，土地撂荒现象比较突出，村里的公共设施也年久失修，群众意见很大。\n\n"
    "今年5月份，县交通局选派干部冯立群到河湾村担任第一书记。上任后，冯立群用两个月时间走访了全村农户，"
    "召开了十多次座谈会，听取党员和群众代表的意见，初步确定了当前工作的重点")
_HEWAN_TAIL = ("这位来自交通部门的干部信心满满。他说，群众的期盼就是努力的方向，自己一定不辜负组织的信任，"
               "和村两委班子一道，把各项工作落到实处，让乡亲们的日子越过越红火。\n\n"
               "如今，河湾村的变化有目共睹。他还带领村干部、党员、群众代表清理了村里的垃圾，村容村貌焕然一新。\n")
# other articles about 工作重点, so that the passages after the lead-in are not among the hits
_WORK_PRIORITIES = {
    "xipo.txt": "西坡村发展养殖业\n\n本报记者 孙雯\n\n西坡村党支部书记周红梅说，今年村里工作的重点是发展肉牛养殖，已建成标准化牛舍8栋。\n",
    "county.txt": "县农业局部署全年工作\n\n本报记者 刘洋\n\n县农业局近日召开会议，确定了今年农业农村工作的重点，要求各乡镇抓好粮食生产。\n",
    "dongling.txt": "东岭村发展光伏产业\n\n本报记者 杜宇\n\n东岭村党支部书记孟庆丰介绍，当前工作的重点是管好光伏电站，年发电收益12万元。\n",
    "beiguan.txt": "北关社区明确工作重点\n\n本报记者 马骏\n\n北关社区党委书记韩梅表示，社区确定了今年工作的重点，着力解决老旧小区加装电梯问题。\n",
    "qianjin.txt": "前进村谋划发展思路\n\n本报记者 何平\n\n前进村第一书记宋涛上任后走访农户，初步确定了工作重点，争取项目资金修建村广场。\n",
    "nanshan.txt": "南山镇开展干部走访\n\n本报记者 钱程\n\n南山镇组织驻村第一书记走访农户，确定下一步工作重点，帮助群众解决实际困难。\n",
}


@pytest.mark.parametrize("lead_in_and_list, items", [
    # the enumeration is a quotation of its own paragraph
    ("。\n\n“一是要修通村里的断头路，方便群众出行，让农产品运得出去；二是要建好村卫生室，让老人看病不出村，"
     "小病不出门；三是要发展花椒种植，增加村集体收入，带动群众在家门口就业增收。”说起下一步打算，",
     ["断头路", "卫生室", "花椒"]),
    # one item per paragraph
    ("。\n\n一是要修通村里的断头路，方便群众出行，让农产品运得出去。\n\n二是要建好村卫生室，让老人看病不出村，"
     "小病不出门。\n\n三是要发展花椒种植，增加村集体收入，带动群众在家门口就业增收。说起下一步打算，",
     ["断头路", "卫生室", "花椒"]),
    # the lead-in holds its own list; the next paragraph's markers are someone else's words
    ("：修通断头路，建好卫生室，发展花椒种植。\n\n“一是态度不端正，二是办法不对路。”村民张大爷这样评价过去"
     "几任驻村干部的工作作风，他说现在的干部不一样了，大家心里都有数，"
     "说起下一步打算，", ["断头路", "卫生室", "花椒"]),
])
def test_a_list_question_takes_the_enumeration_its_lead_in_opens(tmp_path, lead_in_and_list, items):
    """Issue 19, list questions: a lead-in sentence ("…确定了当前工作的重点") gives its own list when
    it holds one, else the enumeration opening the paragraph(s) after it (a quotation, or one item
    per paragraph), even in passages search did not return; each item is cited."""
    from rag import Retriever, build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "hewan.txt").write_text(_HEWAN_HEAD + lead_in_and_list + _HEWAN_TAIL, encoding="utf-8")
    for name, text in _WORK_PRIORITIES.items():
        (corpus / name).write_text(text, encoding="utf-8")
    build_index(corpus, tmp_path / "index")
    r = Retriever.load(tmp_path / "index", corpus_dir=corpus)
    a = ask("冯立群确定的工作重点有哪些？", retriever=r)
    assert a.kind == "list", a.text
    got = [p.short_answer for p in a.parts]
    assert len(got) == len(items) and all(want in item for want, item in zip(items, got)), got
    assert all(c.source == "hewan.txt" for c in a.citations)
    _quotes_are_verbatim(a, r)


def test_ordinals_that_count_things_are_no_list_markers_and_verbs_no_places():
    """第一书记 / 第一次 are not "第一, …" items; 发展乡村旅游 names no place, 测试村 does."""
    from rag.answer.enumeration import marked_items, opens_with_marker
    from rag.answer.question import constraints

    text = "第一书记冯立群首先修通了断头路，其次建好了卫生室，最后种上了花椒。"
    assert [i.text for i in marked_items(text, 0, len(text))] == ["修通了断头路", "建好了卫生室", "种上了花椒"]
    assert not opens_with_marker("第一次会议上，村民首先提出修路。", 0) and opens_with_marker("“一是修路", 0)
    assert constraints("东湾村如何发展乡村旅游？") == ["东湾村"] and constraints("如何服务社区居民？") == []
    assert constraints("测试村的村委会主任是谁？") == ["测试村", "村委会主任"]


def test_english_question_gets_the_closest_sentence_marked_unconfirmed(small):
    a = ask("How many stone arch bridges did Taohuaxi village build?", retriever=small)
    assert a.kind == "closest" and a.short_answer is None and not a.abstained
    assert "17座石拱桥" in a.citations[0].quote and a.notices == ("closest_sentence",)
    from rag.web.render import answer_markdown

    assert "please check" in answer_markdown(a)
    _quotes_are_verbatim(a, small)


def test_reader_reports_margin_and_threshold():
    from rag.reader import load_reader

    reader = load_reader()
    r = reader.read("青松村的党支部书记是谁？", [ARTICLES["qingsong.txt"], ARTICLES["qinghe.txt"]])
    assert r.best.passage == 0 and "赵立新" in r.best.text and r.answerable
    assert all(a.margin >= b.margin for a, b in zip(r.spans, r.spans[1:]))
    nothing = reader.read("青松村的党支部书记是谁？", [ARTICLES["qinghe.txt"]])
    assert not nothing.answerable


def test_exported_graph_computes_the_torch_modules_logits(tmp_path):
    """Answers come from ONNX Runtime. Exported in fp32 the graph's logits are the torch module's;
    the answering graph, quantised to int8, stays close to them and picks the same spans."""
    import numpy as np
    import torch

    from rag.encoders.e5file import pad_batch, read_e5_file
    from rag.reader.reader import OnnxSpanNetwork, export_network, load_reader, span_module

    reader = load_reader()
    assert isinstance(reader.network, OnnxSpanNetwork)
    windows = [w for _, w in reader.windows("青松村的党支部书记是谁？", [ARTICLES["qingsong.txt"], ARTICLES["qinghe.txt"]])]
    e5 = read_e5_file()
    model = span_module(DEFAULT_READER_DIR, reader.meta, e5)
    ids, mask = pad_batch([w.ids for w in windows], reader.tokenizer.pad)
    with torch.inference_mode():
        start, end = model(ids, mask)
    fp32 = export_network(model, tmp_path / "fp32.onnx", reader.meta["sha256"], quantize=False)
    exact_reader = Reader(OnnxSpanNetwork(fp32.read_bytes(), e5), reader.tokenizer, reader.meta)
    exact = exact_reader.logits(windows)
    for i, (s, e) in enumerate(exact):
        n = len(windows[i].ids)
        assert np.allclose(s, start[i, :n].numpy(), atol=1e-3) and np.allclose(e, end[i, :n].numpy(), atol=1e-3)
    got = reader.logits(windows)
    for i, (s, e) in enumerate(got):
        n = len(windows[i].ids)
        want_s, want_e = start[i, :n].numpy(), end[i, :n].numpy()
        assert np.abs(s - want_s).max() < 1.5 and np.abs(e - want_e).max() < 1.5  # int8 rounding, not other weights
    for question, passages in (("青松村的党支部书记是谁？", [ARTICLES["qingsong.txt"]]),
                               ("青松村的党支部书记是谁？", [ARTICLES["qinghe.txt"]])):
        a, b = reader.read(question, passages), exact_reader.read(question, passages)
        assert a.answerable == b.answerable and (a.best.text if a.best else None) == (b.best.text if b.best else None)
    assert np.ptp(got[0][0]) > 1.0  # real logits, not a constant
    assert fp32.stat().st_size > 3 * next(DEFAULT_READER_DIR.glob("reader-*-int8.onnx")).stat().st_size


def test_first_export_tidies_leftovers_and_leaves_logging_alone(tmp_path):
    """The first load exports the int8 graph: other weights' graphs and the temporary files of a
    killed export are removed, the quantiser's log lines are not printed, and a process that had
    not set up logging still can afterwards (no handler left on the root logger)."""
    here = tmp_path / "reader"
    here.mkdir()
    for name in (META, WEIGHTS):
        shutil.copy(DEFAULT_READER_DIR / name, here / name)
    (here / "reader-0123456789abcdef.onnx").write_bytes(b"an older reader's fp32 graph")
    (here / "reader-0123456789abcdef.onnx.sha256.json").write_text("{}")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = here / f".reader-0123456789abcdef-int8.onnx.{int(dead.stdout)}.fp32.tmp"
    leftover.write_bytes(b"half an export")
    code = ("import logging, sys; from rag.reader.reader import Reader; Reader.load(sys.argv[1]); "
            "print(len(logging.getLogger().handlers))")
    out = subprocess.run([sys.executable, "-c", code, str(here)], cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**__import__("os").environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0" and "uantiz" not in out.stderr and "pre-processing" not in out.stderr
    assert sorted(p.name for p in here.iterdir()) == sorted(
        [META, WEIGHTS, *(p.name for p in here.glob("reader-*-int8.onnx*"))])
    assert len(list(here.glob("reader-*-int8.onnx*"))) == 2  # the graph and its record


def test_answering_does_not_import_torch():
    from rag.reader import load_reader

    load_reader()  # exports the graph if this checkout has none yet
    code = ("import sys; from rag.reader import load_reader; "
            "r = load_reader().read('青松村的党支部书记是谁？', [sys.argv[1]]); "
            "print(r.best.text, 'torch' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code, ARTICLES["qingsong.txt"]], cwd=ROOT, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "赵立新" in p.stdout and p.stdout.split()[-1] == "False"


def test_damaged_or_unwritable_graph_cache_is_rebuilt_or_bypassed(tmp_path, monkeypatch):
    from rag.reader.reader import OnnxSpanNetwork

    here = tmp_path / "reader"
    here.mkdir()
    for name in (META, WEIGHTS):
        shutil.copy(DEFAULT_READER_DIR / name, here / name)
    question, passages = "青松村的党支部书记是谁？", [ARTICLES["qingsong.txt"]]
    want = Reader.load(here).read(question, passages).best
    (graph,) = here.glob("reader-*.onnx")
    graph.write_bytes(b"not a graph")
    reread = Reader.load(here)
    assert isinstance(reread.network, OnnxSpanNetwork) and graph.stat().st_size > 2**20
    assert reread.read(question, passages).best.text == want.text
    # a read-only reader folder: the graph goes to the user's cache folder instead
    graph.unlink()
    here.chmod(0o555)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    try:
        cached = Reader.load(here)
    finally:
        here.chmod(0o755)
    if not list(here.glob("reader-*.onnx")):  # root ignores the mode bits; elsewhere the cache is used
        assert list((tmp_path / "cache" / "rag").glob("reader-*.onnx"))
    assert cached.read(question, passages).best.text == want.text


@pytest.mark.slow
@pytest.mark.timeout(300)  # a FIFO opened without O_NONBLOCK hung here
def test_a_changed_linked_or_foreign_graph_is_never_loaded(tmp_path, monkeypatch):
    """Issue 20: a graph changed after its export, a symbolic link to one, or a file of another user
    is refused and exported again: the answers stay the weights' own."""
    import hashlib
    import json
    import os

    from rag.reader.reader import OnnxSpanNetwork

    here = tmp_path / "reader"
    here.mkdir()
    for name in (META, WEIGHTS):
        shutil.copy(DEFAULT_READER_DIR / name, here / name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    question, passages = "青松村的党支部书记是谁？", [ARTICLES["qingsong.txt"]]
    first = Reader.load(here)
    want = first.logits(list(w for _, w in first.windows(question, passages)))[0][0]
    (graph,) = here.glob("reader-*.onnx")
    record = json.loads((here / (graph.name + ".sha256.json")).read_text())
    assert record["graph_sha256"] == hashlib.sha256(graph.read_bytes()).hexdigest()

    def reloaded_logits():
        r = Reader.load(here)
        assert isinstance(r.network, OnnxSpanNetwork)
        return r.logits(list(w for _, w in r.windows(question, passages)))[0][0]

    # 1. a graph changed after the export: the span head's start bias raised (loads, answers anything)
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(graph))
    bias = next(t for t in model.graph.initializer if t.name.endswith("qa_outputs.bias"))
    bias.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(bias) + 1989.0, bias.name))
    onnx.save(model, str(graph))
    data = graph.read_bytes()
    from onnxruntime import InferenceSession

    assert InferenceSession(str(graph), providers=["CPUExecutionProvider"])  # a loadable graph
    assert reloaded_logits() == pytest.approx(want, abs=1e-4)
    assert hashlib.sha256(graph.read_bytes()).hexdigest() == record["graph_sha256"]  # exported again
    # 2. a symbolic link (to a changed copy elsewhere) in place of the graph
    elsewhere = tmp_path / "planted.onnx"
    elsewhere.write_bytes(bytes(data))
    graph.unlink()
    graph.symlink_to(elsewhere)
    (here / (graph.name + ".sha256.json")).write_text(json.dumps(
        {"graph_sha256": hashlib.sha256(bytes(data)).hexdigest(), "weights_sha256": record["weights_sha256"]}))
    assert reloaded_logits() == pytest.approx(want, abs=1e-4)
    assert not graph.is_symlink()
    # 3. a graph (with a matching record) that belongs to another user
    if os.getuid() == 0:
        os.chown(graph, 65534, 65534)
        assert reloaded_logits() == pytest.approx(want, abs=1e-4)
        assert graph.stat().st_uid == 0
    # 4. a FIFO in the record's place: refused at once, never waited on
    record_path = here / (graph.name + ".sha256.json")
    record_path.unlink()
    os.mkfifo(record_path)
    assert reloaded_logits() == pytest.approx(want, abs=1e-4)
    assert record_path.is_file()


# ------------------------------------------------------------ shipped weights


def test_shipped_weights_fit_the_budget_and_their_checksum():
    import json

    from rag.files import sha256_file as file_sha256

    meta = json.loads((DEFAULT_READER_DIR / META).read_text(encoding="utf-8"))
    assert (DEFAULT_READER_DIR / WEIGHTS).stat().st_size < 50 * 2**20
    assert file_sha256(DEFAULT_READER_DIR / WEIGHTS) == meta["sha256"]
    assert meta["validation"]["questions"] > 0 and "threshold" in meta


def test_missing_weights_fail_with_one_sentence(tmp_path):
    with pytest.raises(ReaderError, match="missing"):
        Reader.load(tmp_path)


def test_damaged_weights_fail_and_the_cli_says_so(tmp_path, seed_index):
    bad = tmp_path / "reader"
    shutil.copytree(DEFAULT_READER_DIR, bad)
    data = bytearray((bad / WEIGHTS).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (bad / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ReaderError, match="checksum"):
        Reader.load(bad)
    p = subprocess.run([sys.executable, "-m", "rag", "ask", "吉家庄村的第一书记是谁？", "--index", str(seed_index),
                        "--corpus", str(seed_index.parent / "corpus")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300, env={**__import__("os").environ, "RAG_READER": str(bad)})
    assert p.returncode == 1
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "checksum" in lines[0], p.stderr


def test_a_fact_only_in_a_headline_is_cited_as_the_headline_and_a_byline_never(tmp_path):
    """A two-line headline (its title joined with a space is not in the text verbatim) stating a fact
    no body sentence repeats: the answer cites the headline, marked as such, instead of dropping it
    and taking a weaker span from another article. A byline is never quoted."""
    from rag import Retriever, build_index
    from rag.cli import answer_text

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "qinghe_town.txt").write_text(
        "平安村修通新路\n\n本报记者 某某\n\n平安村的村委会主任武明胜说，新路让村民出行更方便。\n\n"
        "青禾镇获评省级卫生乡镇\n\n全镇群众共建美丽家园\n\n本报记者 林晓舟\n\n"
        "近日，省爱卫会公布了今年的评审结果。镇里组织志愿者清理河道，村民参与垃圾分类。\n", encoding="utf-8")
    build_index(corpus, tmp_path / "index")
    r = Retriever.load(tmp_path / "index", corpus_dir=corpus)
    a = ask("哪个镇获评省级卫生乡镇？", retriever=r)
    assert not a.abstained and "青禾镇" in a.short_answer
    c = a.citations[0]
    article = r.article(c.doc_id)
    assert c.headline and article.in_headline(c.start) and article.text[c.start : c.end] == c.quote
    assert "（标题 headline）" in answer_text(a)
    for question in ("这篇报道的记者是谁？", "谁当选青禾镇的村委会主任？"):
        for c in ask(question, retriever=r).citations:
            doc = r.article(c.doc_id)
            assert not any(a <= c.start < b for a, b in doc.byline_spans), (question, c.quote)
            assert c.headline == doc.in_headline(c.start)


def test_a_span_starting_in_the_byline_is_trimmed_to_the_body(tmp_path):
    """The reader's best span may start in the byline printed just above the sentence that answers
    ("本报记者 林晓舟\\n\\n云岭果业公司…"): it is cut to the body, not thrown away."""
    from rag import Retriever, build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "orchard.txt").write_text(
        "其他新闻\n\n本报记者 某某\n\n这是另一篇报道的正文。\n\n"
        "智慧农业系统助力果园增收\n\n本报记者 林晓舟\n\n"
        "云岭果业公司推出的SmartFarm系统已在柳溪县8个果园投用。果农通过手机就能查看土壤湿度。\n",
        encoding="utf-8")
    build_index(corpus, tmp_path / "index")
    r = Retriever.load(tmp_path / "index", corpus_dir=corpus)
    a = ask("SmartFarm系统是哪家公司推出的？", retriever=r)
    assert not a.abstained and "云岭果业公司" in a.short_answer
    assert "林晓舟" not in a.short_answer
    article = r.article(a.citations[0].doc_id)
    assert not article.in_label(a.citations[0].start)


def test_sibling_articles_of_one_template_are_not_sources_that_disagree(tmp_path):
    """Two roads written up from one template: each question gets its own road's value, not
    "the sources disagree" between two different roads (a real disagreement is tested above)."""
    from rag import Retriever, build_index

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, road, km, builder in (("shangping.txt", "上坪村道", 8, "卢建华"), ("xiaping.txt", "下坪村道", 11, "卢建业")):
        (corpus / name).write_text(f"{road}建成通车\n\n本报记者 田野\n\n{road}全长{km}公里，由施工队长{builder}负责建设。"
                                   f"道路通车后，村民进城的时间缩短了一半。\n", encoding="utf-8")
    build_index(corpus, tmp_path / "index")
    r = Retriever.load(tmp_path / "index", corpus_dir=corpus)
    for road, km in (("上坪村道", "8公里"), ("下坪村道", "11公里")):
        a = ask(f"{road}全长多少公里？", retriever=r)
        assert a.kind == "short" and a.short_answer == km, (road, a.kind, a.short_answer)
