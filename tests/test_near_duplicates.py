"""Near-duplicate stories (issue 21): grouped at build time, one of each group in the hits."""

from __future__ import annotations

from rag import Config, Retriever, build_index
from rag.index.near_duplicates import near_duplicate_groups
from rag.ingest.article import Article

STORY = ("青禾镇投资3500万元建成污水处理厂，日处理能力达到8000吨，覆盖全镇12个行政村。"
         "镇长秦志远表示，污水处理厂投运后，青禾河水质将明显改善，沿岸2万余名群众受益。"
         "据介绍，该项目于2022年3月开工，历时15个月完成建设，配套铺设管网46公里。")
REPRINT = "原标题：青禾镇污水处理厂建成投运 来源：县融媒体中心 " + STORY + "（编辑：周敏）"
REPORT = ("截至2023年7月{d}日收盘，青禾环保（600{c}）报收于{p}元，{m}，换手率{t}%，成交量{v}万手。"
          "7月{d}日的资金流向数据方面，主力资金净流入{f}万元，占总成交额{s}%，游资资金净流出{g}万元。")


def _articles():
    return [
        Article("a-00", "a.txt", "青禾镇建成污水处理厂", STORY),
        Article("b-00", "b.txt", "青禾镇污水处理厂建成投运", REPRINT),
        Article("r1-00", "r1.txt", "股票行情快报", REPORT.format(d=24, c=101, p=5.16, m="下跌0.19%", t=0.87, v=6.18, f=142.9, s=4.1, g=88.2)),
        Article("r2-00", "r2.txt", "股票行情快报", REPORT.format(d=25, c=101, p=5.18, m="上涨0.39%", t=0.89, v=6.37, f=30.8, s=1.2, g=12.5)),
        Article("c-00", "c.txt", "青松村种蓝莓", "青松村党支部书记赵立新带领村民种植蓝莓三百亩，村集体收入翻了一番，村民人均增收4000元。"),
    ]


def test_a_reprint_is_grouped_and_template_reports_with_other_figures_are_not():
    assert near_duplicate_groups(_articles()) == [["a-00", "b-00"]]


def test_search_shows_one_article_of_a_story_and_names_the_others(tmp_path, minilm):
    corpus = tmp_path / "c"
    corpus.mkdir()
    for a in _articles():
        (corpus / a.source).write_text(f"{a.title}\n\n本报记者 王五\n\n{a.text}\n", encoding="utf-8")
    build_index(corpus, tmp_path / "i", Config(model="minilm-test"), encoder=minilm)
    r = Retriever.load(tmp_path / "i", encoder=minilm)
    hits = r.search("青禾镇污水处理厂总投资多少？", k=5)
    story = [h for h in hits if h.doc_id in ("a-00", "b-00")]
    assert len({h.doc_id for h in story}) == 1  # one of the two copies
    assert story[0].also_in == ({"a-00": "b-00", "b-00": "a-00"}[story[0].doc_id],)
    assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    reports = r.search("青禾环保收盘价是多少？", k=5)
    assert {"r1-00", "r2-00"} <= {h.doc_id for h in reports}  # different facts: both shown


def test_a_round_up_does_not_chain_two_stories_into_one_group():
    """Issue 21 review: a digest holding stories A and C grouped A with C (connected pairs)."""
    a = STORY
    c = ("青松村党支部书记赵立新带领村民种植蓝莓三百亩，村集体收入翻了一番，村民人均增收4000元。"
         "村里还建起了冷库和分拣中心，蓝莓通过电商销往全国各地，今年预计销售额突破600万元。")
    digest = "本周要闻：" + a + c
    groups = near_duplicate_groups([Article("a-00", "a.txt", "", a), Article("c-00", "c.txt", "", c),
                                    Article("r-00", "r.txt", "", digest)])
    assert not any({"a-00", "c-00"} <= set(g) for g in groups)


def test_many_copies_of_one_story_never_cost_the_other_hits(tmp_path, minilm):
    """Sixty copies filled the candidates and left 2 hits for k=5 (issue 21 review)."""
    corpus = tmp_path / "c"
    corpus.mkdir()
    for i in range(60):
        (corpus / f"copy{i:02d}.txt").write_text(f"青禾镇建成污水处理厂\n\n本报记者 王五\n\n{STORY}\n", encoding="utf-8")
    for n, text in enumerate(["青禾镇污水处理厂的管网今年再延伸20公里，覆盖新建的两个小区。",
                              "青禾河整治工程同步推进，污水处理厂出水将用于河道生态补水。",
                              "青禾镇还启动了垃圾分类，污水处理厂旁新建一座转运站。"]):
        (corpus / f"other{n}.txt").write_text(f"青禾镇新闻{n}\n\n本报记者 赵六\n\n{text}\n", encoding="utf-8")
    build_index(corpus, tmp_path / "i", Config(model="minilm-test"), encoder=minilm)
    hits = Retriever.load(tmp_path / "i", encoder=minilm).search("青禾镇污水处理厂", k=4)
    assert len(hits) == 4 and sum(1 for h in hits if h.also_in) == 1
