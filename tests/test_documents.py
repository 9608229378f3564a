"""PDF and Word files (issue 21): an e-paper page in two columns, a .docx, a scan, a damaged file."""

from __future__ import annotations

import io

import pytest

from rag.errors import CorpusError
from rag.ingest.formats import parse_document

from .conftest import ROOT

TITLE, BYLINE = "青禾镇建成污水处理厂", "本报记者 王五"
LEFT = ["青禾镇投资3500万元建成污水处理厂，日处理能力达到8000吨，覆盖全镇12个行政村。",
        "项目于2022年3月开工，历时15个月完成建设，配套铺设管网46公里。"]
RIGHT = ["镇长秦志远表示，污水处理厂投运后，青禾河水质将明显改善，沿岸2万余名群众受益。",
         "下一步，青禾镇将推进垃圾分类，力争年底前实现全覆盖。"]


def two_column_pdf(image_only: bool = False, centred: bool = False) -> bytes:
    """An e-paper page: a headline and a byline over two columns of text wrapped every 20 characters
    (reportlab's built-in CJK font), or a page with only a drawn box (a scan has no text layer)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4)
    w, h = A4
    if image_only:
        c.rect(50, 50, w - 100, h - 100, fill=1)
    else:
        draw = (lambda y, text: c.drawCentredString(w / 2, y, text)) if centred else (lambda y, text: c.drawString(60, y, text))
        c.setFont("STSong-Light", 20)
        draw(h - 70, TITLE)
        c.setFont("STSong-Light", 11)
        draw(h - 95, BYLINE)
        for x0, paragraphs in ((50, LEFT), (w / 2 + 10, RIGHT)):
            y = h - 130
            for para in paragraphs:
                for i in range(0, len(para), 20):
                    c.drawString(x0, y, para[i : i + 20])
                    y -= 15
                y -= 10
    c.save()
    return out.getvalue()


def word_file() -> bytes:
    import docx

    d = docx.Document()
    d.add_heading(TITLE, level=1)
    d.add_paragraph(BYLINE)
    for para in LEFT + RIGHT:
        d.add_paragraph(para)
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


@pytest.mark.parametrize("centred", [False, True])  # centred: headline and byline over the gutter, a short page
def test_a_two_column_pdf_page_reads_in_order_with_its_headline_and_byline(centred):
    (article,) = parse_document(two_column_pdf(centred=centred), "epaper.pdf")
    assert (article.title, article.byline) == (TITLE, BYLINE)
    body = article.text
    positions = [body.index(p) for p in LEFT + RIGHT]  # each paragraph whole (lines re-joined) ...
    assert positions == sorted(positions)  # ... and the left column before the right one


def test_a_word_file_is_read():
    (article,) = parse_document(word_file(), "report.docx")
    assert (article.title, article.byline) == (TITLE, BYLINE)
    assert all(p in article.text for p in LEFT + RIGHT)


@pytest.mark.parametrize("data, name, reason", [
    (lambda: two_column_pdf(image_only=True), "scan.pdf", "没有文字层"),
    (lambda: b"%PDF-1.4\n%broken", "broken.pdf", "无法读取的 PDF"),
    (lambda: b"PK\x03\x04not a word file", "broken.docx", "无法读取的 Word"),
])
def test_a_scan_or_a_damaged_file_is_refused_with_the_reason(data, name, reason):
    with pytest.raises(CorpusError, match=reason):
        parse_document(data(), name)


@pytest.mark.slow
@pytest.mark.browser
def test_pdf_and_word_articles_end_to_end_in_the_chat_and_on_their_pages(tmp_path):
    from playwright.sync_api import sync_playwright

    from .helpers.server import running_app

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "epaper.pdf").write_bytes(two_column_pdf())
    (corpus / "report.docx").write_bytes(word_file())
    artifacts = ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    with running_app(tmp_path / "index", corpus, tmp_path / "app.log") as url:
        from gradio_client import Client

        answer = Client(url + "/", verbose=False).predict("青禾镇污水处理厂总投资多少？", api_name="/ask")
        assert answer["short_answer"] == "3500万元"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            for doc_id, shot in (("epaper-00", "article-pdf.png"), ("report-00", "article-docx.png")):
                page.goto(f"{url}/article/{doc_id}")
                assert TITLE in page.inner_text("body") and "秦志远" in page.inner_text("body")
                page.screenshot(path=str(artifacts / shot), full_page=True)
            browser.close()


def _form_bomb(copies: int) -> bytes:
    """A 2 KB PDF that draws one block of 40 text lines `copies` times on one page."""
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(600, 800), pageCompression=1)
    c.beginForm("blk")
    c.setFont("Helvetica", 2)
    for i in range(40):
        c.drawString(0, i * 2.2, "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi")
    c.endForm()
    for r in range(copies):
        c.saveState()
        c.translate((r % 6) * 100, (r // 6 % 9) * 90)
        c.doForm("blk")
        c.restoreState()
    c.save()
    return out.getvalue()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_small_pdf_that_draws_millions_of_characters_is_refused_within_its_limits():
    """Issue 21 review: 2.2 KB took 26 s and 1.75 GB in the reading process."""
    data = _form_bomb(300)
    assert len(data) < 4000
    with pytest.raises(CorpusError, match="too complex|more than"):
        parse_document(data, "bomb.pdf")


def test_a_word_file_that_unpacks_to_too_much_is_refused_before_it_is_read():
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:t>青禾镇</w:t>" * 6_000_000)  # ~90 MB of XML, a few hundred KB zipped
    with pytest.raises(CorpusError, match="unpacks to more than"):
        parse_document(out.getvalue(), "bomb.docx")


@pytest.mark.parametrize("page", ["<html><body><p>\u200b\u200b\u200b</p></body></html>", "<p>。。。！！！……</p>"])
def test_a_web_page_without_words_is_refused_like_an_empty_file(page):
    """The markup has letters; what a reader sees has none (issue 21 review)."""
    with pytest.raises(CorpusError, match="没有文字"):
        parse_document(page.encode("utf-8"), "blank.html")
