"""What the web app and the CLI write around an answer, and what a web client may send (no server)."""

import pytest

from rag.ingest.layout import split_page
from rag.web.render import article_page
from rag.web.security import checked_web_k

PAGE = ("前一篇的标题\n\n本报记者 某某\n\n前一篇的正文。\n\n"
        "青禾镇获评省级卫生乡镇\n\n全镇群众共建美丽家园\n\n本报记者 林晓舟\n\n"
        "近日，省爱卫会公布了今年的评审结果。镇里组织志愿者清理河道。\n")


@pytest.mark.parametrize("highlight", [None, "青禾镇获评省级卫生乡镇", "镇里组织志愿者清理河道。"])
def test_article_page_shows_headline_and_byline_once_wherever_the_highlight_is(highlight):
    article = split_page(PAGE, "p.txt", "p")[1]
    start = article.text.index(highlight) if highlight else None
    end = start + len(highlight) if highlight else None
    html = article_page(article, start, end)
    body = html.split("<article>")[1]
    assert "全镇群众共建美丽家园" not in body and "林晓舟" not in body  # in the heading and meta line
    assert "近日，省爱卫会公布了今年的评审结果。" in body
    if highlight:
        assert f'<mark id="hl">{highlight}</mark>' in html


@pytest.mark.parametrize("value, k", [(None, 5), (3, 3), (7.0, 7), (10, 10)])
def test_web_k_accepts_whole_numbers_from_1_to_10(value, k):
    assert checked_web_k(value) == k


@pytest.mark.parametrize("value", [0, 11, -1, 2.5, True, "5", float("inf"), float("nan"), 1e999, [5], {"k": 5}])
def test_web_k_refuses_everything_else_in_one_sentence(value):
    with pytest.raises(ValueError, match="k must be a whole number from 1 to 10"):
        checked_web_k(value)
