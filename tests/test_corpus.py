import json
import re

import pytest

from rag.corpus import CorpusError, decode_bytes, load_corpus, parse_document, split_page

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
    assert "unsupported" in skipped["scan.pdf"] and "binary" in skipped["blob.txt"] and "empty" in skipped["empty.md"]
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
