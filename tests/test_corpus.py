import json
import re

import pytest

from rag.errors import CorpusError
from rag.ingest.corpus import load_corpus
from rag.ingest.decode import decode_bytes
from rag.ingest.formats import parse_document
from rag.ingest.layout import split_page

from .conftest import SEEDS


def nonspace(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name)
def test_no_text_lost_when_splitting_a_page(path):
    raw = path.read_text(encoding="utf-8")
    articles = parse_document(path.read_bytes(), path.name)
    assert len(articles) >= 2, "every seed page holds several articles"
    assert nonspace("".join(a.text for a in articles)) == nonspace(raw)


def test_articles_have_headline_and_byline():
    corpus = load_corpus(SEEDS)
    by_title = {a.title: a for a in corpus.articles}
    zhang = next(a for t, a in by_title.items() if "18年让荒山变青山" in t)
    assert zhang.byline == "本报记者 郑洋洋"
    assert zhang.text.startswith("张连印——")
    assert "共植树205万株" in zhang.text
    # a headline ending in "！" before a "□本报记者" byline is still a headline
    assert any("为小伙儿办好每一件事" in t for t in by_title)
    # news items opened by 本报讯 without a byline line are separate articles
    assert any(t == "集大原高铁应县西站建设加快推进" for t in by_title)
    ids = [a.doc_id for a in corpus.articles]
    assert len(ids) == len(set(ids))
    assert corpus.skipped == []


@pytest.mark.parametrize("names", ["骆 驼", "王文军 吴杰 侯兴", "林 晓 梅"])
def test_author_names_under_a_headline_are_the_byline_not_the_title(names):
    page = (f"前一篇的标题\n\n本报记者 某某\n\n前一篇的正文。\n\n"
            f"守望初心\n\n勇挑重担 奋力前行\n\n{names}\n\n评论的正文在这里。第二句。\n")
    first, comment = split_page(page, "p.txt", "p")
    assert comment.title == "守望初心 勇挑重担 奋力前行" and comment.byline == names
    assert first.title == "前一篇的标题" and names in comment.text


def test_headline_words_are_not_mistaken_for_names():
    page = "感悟初心 勇挑重担\n\n强基固本 促发展\n\n本报记者 某某\n\n正文。\n"
    [article] = split_page(page, "p.txt", "p")
    assert article.title == "感悟初心 勇挑重担 强基固本 促发展" and article.byline == "本报记者 某某"


SIMPLE_PAGE = (
    "青松村来了新书记\n\n本报记者 李四\n\n青松村党支部书记由县农业局干部赵立新担任。他带领村民种植蓝莓。\n\n"
    "清河县推进垃圾分类\n\n本报记者 周华\n\n清河县在每个社区设置分类投放点。居民分类投放可以兑换生活用品。\n\n"
    "石门水库扩容工程启动\n\n本报讯（记者 吴刚）石门水库扩容工程总投资1.2亿元，预计明年年底完工。\n"
)


def test_a_page_of_simple_articles_splits_at_each_headline():
    articles = split_page(SIMPLE_PAGE, "p.txt", "p")
    assert [a.title for a in articles] == ["青松村来了新书记", "清河县推进垃圾分类", "石门水库扩容工程启动"]
    assert [a.byline for a in articles] == ["本报记者 李四", "本报记者 周华", ""]


def test_a_commentary_titled_after_its_body_is_its_own_article():
    page = ("水库建设提速\n\n本报记者 吴刚\n\n石门水库扩容工程总投资1.2亿元。工程预计明年年底完工。\n\n"
            "河畔评论\n\n减负不是减责任。基层干部要把精力用在为群众办实事上。\n\n"
            "各地要持续整治形式主义，让干部轻装上阵。\n\n"
            "减负更要担当\n\n孙明\n\n"
            "“村里的事就是我的事”\n\n本报记者 周华\n\n周建国到桃溪村任第一书记已经三年。他走遍了全村每一户。\n")
    report, comment, story = split_page(page, "p.txt", "p")
    assert report.title == "水库建设提速" and "河畔评论" not in report.text
    assert comment.title == "河畔评论 减负更要担当" and comment.byline == "孙明"
    assert comment.text.startswith("河畔评论") and "减负不是减责任" in comment.text
    assert story.title == "“村里的事就是我的事”" and story.byline == "本报记者 周华"
    assert story.text.startswith("“村里的事就是我的事”")


def test_a_lead_printed_above_its_headline_goes_with_its_story():
    page = ("清河县推进垃圾分类\n\n本报记者 周华\n\n清河县在每个社区设置分类投放点。居民分类投放可以兑换生活用品。"
            "全县生活垃圾回收利用率明显提高。\n\n"
            "“豆浆、油条、茶叶蛋……快来尝一尝。”早上六点，小学生林小雨已经在早点摊前招呼顾客。\n\n"
            "林小雨一边收钱一边找零，动作十分熟练。\n\n"
            "帮外婆卖早点的小学生\n\n本报记者 陈明\n\n林小雨的外婆每天四点起床准备早点。林小雨放学后还帮外婆收摊。\n")
    sorting, breakfast = split_page(page, "p.txt", "p")
    assert breakfast.title == "帮外婆卖早点的小学生"
    assert breakfast.text.startswith("“豆浆、油条") and "林小雨" not in sorting.text
    assert sorting.text.rstrip().endswith("明显提高。")


def test_a_box_and_a_photo_item_at_a_storys_end_are_their_own_items():
    page = ("青松村来了新书记\n\n本报记者 李四\n\n青松村党支部书记由县农业局干部赵立新担任。赵立新带领青松村村民种植蓝莓三百亩。"
            "青松村集体收入翻了一番，赵立新说还要建冷库。\n\n"
            "每日一读\n\n★读书使人明理，学习使人进步，要把读书学习当成一种生活态度。\n\n——2024年3月1日，摘自某报评论员文章\n\n"
            "石门水库扩容工程启动\n\n本报记者 吴刚\n\n石门水库扩容工程总投资1.2亿元，预计明年年底完工。水库扩容后灌溉面积翻番。\n\n"
            "麦田喷灌忙\n\n清晨，河湾镇农民操作喷灌设备为冬小麦浇返青水。\n\n张 华 摄\n\n版式设计：王五\n")
    village, box, reservoir, photo = split_page(page, "p.txt", "p")
    assert village.title == "青松村来了新书记" and "每日一读" not in village.text
    assert box.title == "每日一读" and box.text.startswith("每日一读") and box.byline == ""
    assert reservoir.title == "石门水库扩容工程启动" and "喷灌" not in reservoir.text
    assert photo.title == "麦田喷灌忙"
    marked = [photo.text[a:b] for a, b in photo.captions]
    assert any("冬小麦" in m for m in marked) and any(m.endswith("摄") for m in marked)


def test_a_storys_own_subheads_and_photo_stay_with_it():
    page = ("青松村来了新书记\n\n本报记者 李四\n\n青松村党支部书记由县农业局干部赵立新担任。赵立新带领青松村村民种植蓝莓三百亩。\n\n"
            "蓝莓丰收\n\n青松村的蓝莓今年丰收，赵立新和村民一起采摘蓝莓，青松村集体收入翻了一番。\n\n"
            "图：赵立新在青松村蓝莓地里查看长势。李明 摄\n")
    [article] = split_page(page, "p.txt", "p")
    assert article.title == "青松村来了新书记" and len(article.captions) == 1


def test_ids_of_unchanged_articles_survive_a_new_split():
    from rag.ingest.article import Article
    from rag.ingest.corpus import keep_ids

    old = [Article("p-00", "p.txt", "甲", "甲文"), Article("p-01", "p.txt", "乙", "乙文一\n\n乙文二\n\n丙文"),
           Article("p-02", "p.txt", "丁", "丁文")]
    new = [Article("p-00", "p.txt", "甲", "甲文"), Article("p-01", "p.txt", "乙", "乙文一\n\n乙文二"),
           Article("p-02", "p.txt", "丙", "丙文"), Article("p-03", "p.txt", "丁", "丁文")]
    got = {a.title: a.doc_id for a in keep_ids(new, old)}
    assert got == {"甲": "p-00", "乙": "p-01", "丁": "p-02", "丙": "p-03"}


# What a reader of the five seed pages finds, page by page (checked by hand against the pages).
EXPECTED_TITLES = {
    "000_96f8b7fbf1408b61.txt": [
        "坚守初心使命 赓续红色血脉 山西以高质量党建引领高质量发展—— 加强基层党建 夯实组织基础",
        "感悟初心 勇挑重担 奋力前行",
        "张连印—— 18年让荒山变青山",
        "吴志花—— 用心服务社区居民",
        "李国平—— 为创新尝试一次又一次",
        "图①：大同市拒门堡村红色革命教育基地负责人张日升为前来参观的学生讲红色故事",
    ],
    "001_c7a968751aff1ca9.txt": [
        "党旗在基层一线高高飘扬 高擎党旗书华章 后稷大地绘“兴”图 ——稷山以高质量党建引领乡村全面振兴工作侧记",
        "新闻集锦 万荣县纪委监委 高质量监督推动移风易俗",
        "平陆县委组织部 多点发力打造过硬组工队伍",
        "6月25日,国家金融监督管理总局新绛监管支局临时党支部举办“唱响红色旋律 凝聚奋",
        "帮妈妈卖早餐的小学生",
    ],
    "002_603c41d8e10dd6da.txt": [
        "深度关注·党旗在基层一线高高飘扬 山西长治市压实各级党组织书记责任,推进乡村全面振兴见实效 强基固本促发展 产业铺就富民路",
        "金台潮声 为基层减负 为实干撑腰",
        "“我是党员,我在岗位” “用心做好每一件关乎群众利益的事”",
        "山东东营经济技术开发区——党建赋能产业链",
    ],
    "003_d29847e9c32fafa7.txt": [
        "微光成炬 初心如磐 “为小伙儿办好每一件事，充实且幸福！”",
        "让乡土人才“破土飘香”",
        "保障春耕灌溉",
        "精准培训赋能 实战历练提能 大胆使用扩能 赤峰市打出持续提升干部能力“组合拳”",
        "掠影 凉亭里的议事会",
        "集体经济激活社区“造血”功能",
        "北疆党旗红 银发力量为基层治理助力添彩",
        "每周一学",
        "培树“头雁” 锻造乡村振兴主力军",
    ],
    "004_ca51c94e7617778b.txt": [
        "“四大高地”筑梦现代化 塞上绿都奋进新时代 抬高标杆 争先进位 建市三十五周年发展看朔州之党建篇",
        "中共中央国务院关于深化产业工人队伍建设改革的意见 (2024年10月12日)",
        "朔州市“推动绿电资源就地转化、助力产业低碳转型”工作专班会议召开 吴秀玲主持并讲话",
        "集大原高铁应县西站建设加快推进",
        "国道336朔州段改扩建工程项目—— 争分夺秒 建设再提速",
    ],
}


@pytest.mark.parametrize("page", sorted(EXPECTED_TITLES))
def test_seed_pages_give_the_expected_articles(page):
    articles = parse_document((SEEDS / page).read_bytes(), page)
    assert [a.title for a in articles] == EXPECTED_TITLES[page]
    assert all(a.title not in ("", a.byline) and (not a.byline or a.byline not in a.title) for a in articles)


def test_broken_sentence_is_rejoined():
    text = "标题一\n\n标题二\n\n本报记者 某某\n\n“这个小公园之前是垃圾堆，影响周围环境，\n\n大家对此很有意见。”居民说。\n"
    [article] = split_page(text, "x.txt", "x")
    assert "影响周围环境，大家对此很有意见。" in article.text
    assert article.title == "标题一 标题二"


def test_captions_are_kept_and_marked():
    corpus = load_corpus(SEEDS)
    captions = [a.text[s:e] for a in corpus.articles for s, e in a.captions]
    assert any(c.startswith("图①：") for c in captions)
    assert any(c.endswith("(资料照片)") for c in captions)


def test_gbk_and_utf8_are_detected(tmp_path):
    text = "吉家庄村的第一书记是姚欣。这是一段用来检测编码的中文新闻。"
    assert decode_bytes(text.encode("gbk"))[0] == text
    assert decode_bytes(text.encode("gb18030"))[0] == text
    assert decode_bytes(text.encode("utf-8"))[0] == text
    assert decode_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))[0] == text


def test_folder_loading_reports_skipped_files(tmp_path):
    (tmp_path / "good.txt").write_bytes("标题\n\n记者 张三\n\n正文第一段。".encode("gb18030"))
    (tmp_path / "page.html").write_text(
        "<html><head><title>网页标题</title><script>alert(1)</script></head>"
        "<body><p>网页正文第一段。</p><p>第二段。</p></body></html>", encoding="utf-8")
    (tmp_path / "rows.jsonl").write_text(
        json.dumps({"title": "行标题", "text": "行正文。", "url": "http://x", "date": "2024-01-01"}, ensure_ascii=False) + "\n",
        encoding="utf-8")
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.md").write_text("  \n", encoding="utf-8")
    corpus = load_corpus(tmp_path)
    skipped = {s.source: s.reason for s in corpus.skipped}
    assert set(skipped) == {"scan.pdf", "blob.txt", "empty.md"}
    assert "not a readable PDF" in skipped["scan.pdf"] and "binary" in skipped["blob.txt"] and "empty" in skipped["empty.md"]
    titles = {a.source: a for a in corpus.articles}
    assert titles["good.txt"].text.endswith("正文第一段。")
    assert titles["page.html"].title == "网页标题" and "alert" not in titles["page.html"].text
    assert titles["rows.jsonl"].url == "http://x" and titles["rows.jsonl"].date == "2024-01-01"


def test_bad_jsonl_and_missing_folder_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="line 1"):
        parse_document(b'{"title": "t"}\n', "a.jsonl")
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match="no readable articles"):
        load_corpus(tmp_path)


def test_headline_and_byline_are_offsets_in_the_text():
    """A two-line headline and a byline: their blocks are listed as offsets; body sentences are not."""
    page = ("前一篇的标题\n\n本报记者 某某\n\n前一篇的正文。\n\n"
            "石门村修通了致富路\n\n十公里山路三年建成\n\n本报记者 王小川\n\n石门村的新路全长10公里。村民出行方便了。\n")
    _, article = split_page(page, "p.txt", "p")
    heads = [article.text[a:b] for a, b in article.headline_spans]
    bylines = [article.text[a:b] for a, b in article.byline_spans]
    assert heads == ["石门村修通了致富路", "十公里山路三年建成"]
    assert bylines == ["本报记者 王小川"]
    assert article.title == "石门村修通了致富路 十公里山路三年建成"
    body = article.text.index("石门村的新路")
    assert article.in_label(article.text.index("十公里")) and article.in_label(article.text.index("王小川"))
    assert not article.in_label(body)


def test_a_commentary_titled_after_its_body_has_its_label_offsets():
    page = ("水库建设提速\n\n本报记者 张三\n\n水库今年完工。\n\n河畔评论\n\n减负不是减责任，而是让干部把精力用在实处。\n\n"
            "减负要减到实处\n\n钱明\n\n下一篇的标题\n\n本报记者 李四\n\n下一篇的正文。\n")
    articles = split_page(page, "p.txt", "p")
    comment = next(a for a in articles if a.text.startswith("河畔评论"))
    labels = [comment.text[a:b] for a, b in (*comment.headline_spans, *comment.byline_spans)]
    assert "减负要减到实处" in labels and "钱明" in labels
    assert not comment.in_label(comment.text.index("减负不是减责任"))


def test_an_html_page_keeps_its_own_headline_and_a_non_text_jsonl_title_is_ignored():
    page = ("<html><head><title>某某网 - 新闻频道</title></head><body><h1>蒋家村选出新书记</h1>"
            "<p>本报记者 韩雨</p><p>蒋家村党支部书记由卫十三担任。</p></body></html>").encode("utf-8")
    [article] = parse_document(page, "page.html")
    assert article.title == "蒋家村选出新书记"  # the site's <title> would hide the story's headline
    assert [article.text[a:b] for a, b in article.headline_spans] == ["蒋家村选出新书记"]
    [row] = parse_document(json.dumps({"title": ["x"], "text": "行正文第一句。第二句。"}, ensure_ascii=False).encode(), "r.jsonl")
    assert row.title == "行正文第一句"


@pytest.mark.parametrize("page, title, byline", [
    ("智慧農業系統助力果園增收\n\n本報記者 韓雨桐\n\n雲嶺果業公司推出的系統已在柳溪縣8個果園投用。\n",
     "智慧農業系統助力果園增收", "本報記者 韓雨桐"),
    ("評論：減負更要擔當\n\n陳志明 劉芳\n\n基層減負是一項長期任務，不能一陣風。\n", "評論：減負更要擔當", "陳志明 劉芳"),
    ("青禾鎮獲評省級衛生鄉鎮\n\n新華社記者 鄭雲\n\n青禾鎮近日獲評省級衛生鄉鎮。\n", "青禾鎮獲評省級衛生鄉鎮", "新華社記者 鄭雲"),
])
def test_traditional_bylines_are_bylines_and_stay_traditional(page, title, byline):
    (article,) = split_page(page, "t.txt", "t")
    assert (article.title, article.byline) == (title, byline)
    assert byline in article.text  # the article keeps its own script


@pytest.mark.parametrize("content", ["\u200b\u200b\u200b\n", "。，！？……——\n", "\ufeff\u2060\u200d", "“”（）《》\n\n、"])
def test_files_of_invisible_characters_or_punctuation_are_refused_as_empty(tmp_path, content):
    with pytest.raises(CorpusError, match="没有文字"):
        parse_document(content.encode("utf-8"), "blank.txt")
    row = json.dumps({"title": "标题", "text": content}, ensure_ascii=False)
    with pytest.raises(CorpusError, match="没有可用的行"):
        parse_document((row + "\n").encode("utf-8"), "rows.jsonl")


TRADITIONAL = "雲嶺果業公司推出的系統已在柳溪縣8個果園投用。"


@pytest.mark.parametrize("text, codec", [
    (TRADITIONAL, "big5"),  # one short sentence: a detector took it for a Japanese code page
    ("香港特區政府今日公布，屯門公路邨將重建。", "big5hkscs"),  # 邨: a Hong Kong character
    ("北石镇建成污水处理厂，总投资3500万元。", "gbk"),  # and GBK is still GBK, not Big5
])
def test_short_big5_and_gbk_files_decode_to_their_text(text, codec):
    assert decode_bytes(text.encode(codec), "short.txt")[0] == text


def test_an_html_pages_declared_charset_wins_and_traditional_stays_traditional():
    for meta in ('<meta charset="big5">', '<meta http-equiv="Content-Type" content="text/html; charset=big5">'):
        page = (f"<html><head>{meta}<title>果園</title></head><body><h1>智慧農業系統助力果園增收</h1>"
                f"<p>本報記者 韓雨桐</p><p>{TRADITIONAL}</p></body></html>")
        (article,) = parse_document(page.encode("big5"), "page.html")
        assert article.title == "智慧農業系統助力果園增收" and article.byline == "本報記者 韓雨桐"
        assert TRADITIONAL in article.text


def test_text_that_reads_as_garbage_in_every_encoding_is_refused():
    garbage = "".join(chr(0x4E00 + (i * 7919) % 20900) for i in range(60)).encode("gb18030")  # rare characters
    with pytest.raises(CorpusError, match="不像中文|无法识别"):
        parse_document(garbage, "garbage.txt")


def test_a_web_page_loses_its_menu_and_footer_and_keeps_its_date():
    """Issue 21: a news page's menu (首页 | 新闻 | …) and footer (版权所有 © …) became article text."""
    story = ["青禾镇投资3500万元建成污水处理厂，日处理能力达到8000吨，覆盖全镇12个行政村。",
             "镇长秦志远表示，污水处理厂投运后，青禾河水质将明显改善，沿岸2万余名群众受益。"]
    page = ("<html><head><meta charset='utf-8'><title>青禾镇建成污水处理厂_某某新闻网</title>"
            "<meta property='article:published_time' content='2023-07-24T08:19:00+08:00'></head><body>"
            "<nav><a href='/'>首页</a> | <a href='/n'>新闻</a> | <a href='/s'>体育</a> | <a href='/f'>财经</a></nav>"
            "<article><h1>青禾镇建成污水处理厂</h1><p>本报记者 王五</p>" + "".join(f"<p>{p}</p>" for p in story) +
            "</article><div class='footer'>版权所有 © 2023 某某新闻网 京ICP备12345678号 联系我们 | 广告服务</div></body></html>")
    (article,) = parse_document(page.encode("utf-8"), "page.html")
    assert all(p in article.text for p in story)
    assert "首页" not in article.text and "版权所有" not in article.text
    assert article.title == "青禾镇建成污水处理厂" and article.byline == "本报记者 王五"
    assert article.date == "2023-07-24"


def test_a_page_of_several_stories_is_still_read_whole():
    stories = [(f"第{n}村新闻", f"第{n}村党支部书记带领村民修了{n}条路，村集体收入增加了{n}万元。") for n in range(1, 6)]
    page = "<html><body>" + "".join(f"<h2>{t}</h2><p>本报记者 甲</p><p>{b}</p>" for t, b in stories) + "</body></html>"
    articles = parse_document(page.encode("utf-8"), "paper.html")
    assert [a.title for a in articles] == [t for t, _ in stories]


@pytest.mark.parametrize("text", ["Москва", "😀👍", "서울 날씨"])
def test_short_valid_utf8_that_is_not_chinese_stays_utf8(text):
    """It is also valid GB18030 (袦芯褋泻胁邪), rare characters all (issue 21 review)."""
    assert decode_bytes(text.encode("utf-8")) == (text, "utf-8")
