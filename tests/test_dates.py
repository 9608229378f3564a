"""Publication dates (issue 21): read from the files, shown with the sources, usable as a filter."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rag import Config, Retriever, ask, build_index
from rag.errors import QueryError
from rag.ingest.dates import date_in_text, normalise_date
from rag.ingest.formats import parse_document

from .conftest import ROOT

ROWS = [  # one village's water project reported three times, each in its own month
    {"title": "青禾镇启动污水处理厂建设", "date": "2023-05-10 09:30", "text": "青禾镇污水处理厂项目5月正式开工，计划投资3500万元。"},
    {"title": "青禾镇污水处理厂主体完工", "date": "2023/7/12", "text": "青禾镇污水处理厂主体工程完工，已完成投资3000万元。"},
    {"title": "青禾镇污水处理厂投运", "date": "2023年8月20日", "text": "青禾镇污水处理厂正式投运，总投资3600万元，日处理污水8000吨。"},
]


@pytest.mark.parametrize("value, iso", [("2023-07-24 08:19", "2023-07-24"), ("[ 2023-07-28 16：40 ]", "2023-07-28"),
                                        ("2023年8月1日", "2023-08-01"), ("2023/7/4", "2023-07-04"), ("7月4日", ""),
                                        ("2023-02-30", "")])
def test_dates_are_normalised_to_iso(value, iso):
    assert normalise_date(value) == iso


def test_a_leading_date_or_a_dateline_with_the_files_year_dates_an_article():
    assert date_in_text("2023-07-24 08:19，正文：青禾镇……") == "2023-07-24"
    page = "2023年7月29日 星期六\n\n人民网北京7月28日电 （记者 甲）青禾镇……"
    assert date_in_text("人民网北京7月28日电 （记者 甲）青禾镇……", page) == "2023-07-28"
    assert date_in_text("人民网北京7月28日电 （记者 甲）青禾镇……") == ""  # no year in the file: no guess
    (article,) = parse_document("青禾镇新闻\n\n2023-07-24 08:19，青禾镇污水处理厂投运。\n".encode(), "a.txt")
    assert article.date == "2023-07-24"
    # the date leading the file's first line, which reads as the headline
    (article,) = parse_document("2023-07-24 08:19，青石镇跨江大桥通车\n\n本报讯 大桥全长860米。\n".encode(), "b.txt")
    assert article.date == "2023-07-24"
    rows = "\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS).encode()
    assert [a.date for a in parse_document(rows, "rows.jsonl")] == ["2023-05-10", "2023-07-12", "2023-08-20"]


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory, minilm):
    root = tmp_path_factory.mktemp("dated")
    (root / "c").mkdir()
    (root / "c" / "rows.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n",
                                           encoding="utf-8")
    build_index(root / "c", root / "i", Config(model="minilm-test"), encoder=minilm)
    return root


def test_search_and_ask_keep_to_a_date_range(dated_index, minilm):
    r = Retriever.load(dated_index / "i", encoder=minilm)
    assert {h.date for h in r.search("青禾镇污水处理厂投资多少？", k=5)} == {"2023-05-10", "2023-07-12", "2023-08-20"}
    july = r.search("青禾镇污水处理厂投资多少？", k=5, since="2023-07-01", until="2023-07-31")
    assert [h.date for h in july] == ["2023-07-12"]
    assert [h.date for h in r.search("青禾镇污水处理厂投资多少？", k=5, since="2023年8月1日")] == ["2023-08-20"]
    a = ask("青禾镇污水处理厂投资了多少？", retriever=r.with_dates(until="2023-06-30"))
    assert all(c.doc_id == "rows-01" for c in a.citations) and "3000" not in a.text and "3600" not in a.text
    with pytest.raises(QueryError, match="since"):
        r.search("青禾镇", since="last week")


def test_the_cli_filters_by_date_and_refuses_a_bad_one_in_one_sentence(dated_index):
    # the index was built with the small English test model, which the CLI cannot load by name: BM25 only
    run = lambda *a: subprocess.run([sys.executable, "-m", "rag", "search", "青禾镇污水处理厂", "--mode", "bm25",  # noqa: E731
                                     "--index", str(dated_index / "i"), "--corpus", str(dated_index / "c"), *a],
                                    cwd=ROOT, capture_output=True, text=True, timeout=120)
    p = run("--since", "2023-08-01", "--json")
    assert p.returncode == 0, p.stderr
    assert [h["date"] for h in json.loads(p.stdout)["hits"]] == ["2023-08-20"]
    bad = run("--until", "soon")
    assert bad.returncode == 1 and bad.stderr.strip().count("\n") == 0 and "must be a date" in bad.stderr


@pytest.mark.slow
def test_the_chat_and_its_api_take_a_date_range(tmp_path):
    from gradio_client import Client

    from .helpers.server import running_app

    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "rows.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in ROWS) + "\n",
                                               encoding="utf-8")
    with running_app(tmp_path / "i", tmp_path / "c", tmp_path / "app.log") as url:
        client = Client(url + "/", verbose=False)
        july = client.predict("青禾镇污水处理厂投资了多少？", 5, "hybrid", "2023-07-01", "2023-07-31", api_name="/ask")
        assert {c["doc_id"] for c in july["citations"]} == {"rows-02"} and "3000" in july["text"]  # line 2: July
        with pytest.raises(Exception, match="must be a date"):
            client.predict("青禾镇污水处理厂投资了多少？", 5, "hybrid", "yesterday", "", api_name="/ask")
        chat = client.predict("青禾镇污水处理厂投资了多少？", 5, "混合 hybrid", "抽取式 extractive", "2023-08-01", "",
                              api_name="/chat")
        assert "3600" in chat and "2023-08-20" in chat and "3000万" not in chat
        # a bad date in the chat's settings is said in the chat, not raised (which disabled the box)
        said = client.predict("青禾镇污水处理厂投资了多少？", 5, "混合 hybrid", "抽取式 extractive", "2023/13/01", "",
                              api_name="/chat")
        assert "must be a date" in said


@pytest.mark.parametrize("text, file_text", [
    ("2008年8月8日，北京奥运会开幕。那天的故事……", ""),  # a story opening with the day it tells of
    ("人民网北京7月28日电 2008年8月8日，北京奥运会开幕……", ""),  # no date before the dateline: no year
])
def test_dates_the_story_mentions_are_not_its_publication_date(text, file_text):
    assert date_in_text(text, file_text or text) == ""


def test_a_footers_copyright_year_is_no_publication_date():
    story = "".join(f"<p>青禾镇投资{n}万元建成污水处理厂，日处理能力达到8000吨，覆盖全镇12个行政村。</p>" for n in range(5))
    page = (f"<html><body><article><h1>青禾镇建成污水处理厂</h1><p>本报记者 王五</p>{story}</article>"
            "<div class='footer'>版权所有 © 2019 某某网</div></body></html>")
    assert [a.date for a in parse_document(page.encode(), "a.html")] == [""]


def test_an_empty_range_is_an_error_not_an_empty_answer(dated_index, minilm):
    r = Retriever.load(dated_index / "i", encoder=minilm)
    with pytest.raises(QueryError, match="after"):
        r.search("青禾镇", since="2023-08-01", until="2023-07-01")
    assert normalise_date("２０２３－０７－０１") == "2023-07-01"


def test_an_rss_date_is_read_and_an_unreadable_one_is_reported():
    assert normalise_date("Sat, 16 Dec 2023 08:00:00 +0800") == "2023-12-16"
    problems: list[str] = []
    rows = [{"text": "正文一句话。", "date": "明年春天"}, {"text": "另一句话。", "date": "Sat, 16 Dec 2023 08:00:00 +0800"}]
    articles = parse_document("\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode(), "r.jsonl",
                              problems=problems)
    assert [a.date for a in articles] == ["", "2023-12-16"]
    assert len(problems) == 1 and "line 1" in problems[0] and "明年春天" in problems[0]
    (stamped,) = parse_document("2023-07-24 08:19，太原市迎泽公园荷花节开幕。游客很多。\n".encode(), "s.txt")
    assert stamped.title == "太原市迎泽公园荷花节开幕" and stamped.date == "2023-07-24"
