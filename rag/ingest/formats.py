"""One file's bytes -> articles, by file type: newspaper pages (.txt/.md), HTML, JSON Lines, PDF, Word.

A web page is read through its main content (`trafilatura`: the story without the site's menus,
footers and ads, with its title and publication date); when that finds nothing or too little of
the page (a page of several stories), the whole visible text goes to the page splitter as before.
A page with no structure around its story (no <article> or content block) can keep its menu.
"""

from __future__ import annotations

import html
import html.parser
import json
import logging
import re
import unicodedata
from dataclasses import replace
from pathlib import Path

from rag.errors import CorpusError
from rag.ingest.article import Article
from rag.ingest.dates import date_in_text, normalise_date
from rag.ingest.decode import declared_charset, decode_bytes
from rag.ingest.documents import docx_text, pdf_text
from rag.ingest.layout import first_sentence, split_page

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl", ".pdf", ".docx")
MAX_FILE_BYTES = 50 * 1024 * 1024  # one news page is ~20 kB; refuse obvious mistakes

class _HTMLText(html.parser.HTMLParser):
    """Visible text of an HTML page, one block per block-level element."""

    _BLOCK = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "li", "tr", "section", "article", "figcaption", "title"}
    _SKIP = {"script", "style", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in self._SKIP:
            self._skip += 1
        if tag in self._BLOCK:
            self.out.append("\n\n")
        if tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag in self._SKIP and self._skip:
            self._skip -= 1
        if tag in self._BLOCK:
            self.out.append("\n\n")
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._skip:
            return
        if self._in_title:
            self.title += data.strip()
            return
        self.out.append(data)


def html_to_text(markup: str) -> tuple[str, str]:
    """Return (title, text) of an HTML document; scripts and styles are dropped."""
    parser = _HTMLText()
    parser.feed(markup)
    parser.close()
    text = re.sub(r"[ \t]*\n[ \t\n]*\n[ \t]*", "\n\n", "".join(parser.out)).strip()
    return parser.title, text


def has_words(text: str) -> bool:
    """Whether `text` holds a letter, digit or CJK character: a file of zero-width spaces, other
    format characters or punctuation is as empty as a blank one (it ranked first for unrelated
    questions, issue 21)."""
    return any(ch.isalnum() for ch in text)


# trafilatura's main content is used when it keeps at least this share of the page's visible text;
# less means a page of several stories (a newspaper page saved as HTML), of which it would keep one:
# then the whole page goes to the page splitter, as before. Menus and footers of a news page are a
# small share of its text.
MAIN_CONTENT_MIN_SHARE = 0.3


def main_content(markup: str, visible: str) -> tuple[str, str, str] | None:
    """(title, text, date) of a web page's main content without its menus, footers and ads
    (`trafilatura`, which also reads the page's title and publication date), paragraphs separated by
    blank lines; None when it finds nothing or too little of `visible` (the page's whole text)."""
    try:
        import trafilatura
    except ImportError:  # the extractor is optional: the page is read whole
        return None
    try:
        # favor_recall and include_formatting: a page of several stories keeps each headline (as a
        # Markdown heading, whose marks are dropped below); with the defaults it kept the bodies only
        # date_extraction_params: the date from the page's metadata only (htmldate without its
        # extensive search, which read "版权所有 © 2019" in a footer as 2019-01-01)
        doc = trafilatura.bare_extraction(markup, with_metadata=True, include_comments=False,
                                          include_tables=False, include_formatting=True, favor_recall=True,
                                          date_extraction_params={"extensive_search": False, "original_date": True})
    except Exception as e:  # a page the extractor cannot parse is read whole
        log.info("main-content extraction failed (%s); reading the whole page", e)
        return None
    text = (getattr(doc, "text", None) or "").strip() if doc is not None else ""
    if not has_words(text) or len(text) < MAIN_CONTENT_MIN_SHARE * len("".join(visible.split())):
        return None
    title = (getattr(doc, "title", None) or "").strip()
    text = re.sub(r"(?m)^#{1,6}\s+", "", re.sub(r"\n+", "\n\n", text))
    if title and not text.startswith(title) and title in visible:
        text = f"{title}\n\n{text}"  # the headline it took out of the text, printed on the page above the story
    return title, text, (getattr(doc, "date", None) or "")


def _jsonl_articles(text: str, source: str, stem: str, problems: list[str]) -> list[Article]:
    articles = []
    bad: list[str] = []
    unread_dates: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            bad.append(f"{lineno} (不是 JSON not valid JSON: {getattr(e, 'msg', 'nested too deeply')})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not has_words(row["text"]):
            bad.append(f"{lineno} (缺少 \"text\" no non-empty \"text\" field)")
            continue
        body = unicodedata.normalize("NFC", row["text"].strip())
        title = row.get("title") if isinstance(row.get("title"), str) else ""
        title = title.strip() or first_sentence(body)
        raw_date = str(row.get("date") or "")
        date = normalise_date(raw_date)
        if raw_date.strip() and not date:
            unread_dates.append(f"{lineno} ({raw_date[:40]!r})")
        articles.append(
            Article(
                doc_id=f"{stem}-{lineno:02d}",
                source=source,
                title=title,
                text=body,
                url=str(row.get("url") or ""),
                date=date,
            )
        )
    if unread_dates:  # kept without a date: a date filter will leave them out, so say so
        shown = ", ".join(unread_dates[:5]) + (f" … ({len(unread_dates)} lines)" if len(unread_dates) > 5 else "")
        problems.append(f"{source}: 日期无法识别，按无日期处理 dates not understood, kept undated: line {shown}")
    if bad and not articles:
        raise CorpusError(f"{source}: 没有可用的行 no usable line: line {bad[0]}" + (f" and {len(bad) - 1} more" if len(bad) > 1 else ""))
    if bad:
        shown = ", ".join(bad[:5]) + (f" … ({len(bad)} lines)" if len(bad) > 5 else "")
        problems.append(f"{source}: 跳过的行 lines skipped: {shown}")
    return articles


def safe_stem(name: str) -> str:
    """A URL- and file-safe id stem for a corpus file name (CJK allowed)."""
    stem = re.sub(r"[^\w.-]+", "_", Path(name).stem, flags=re.UNICODE).strip("._") or "doc"
    return stem[:80]


def parse_document(data: bytes, source: str, stem: str | None = None,
                   problems: list[str] | None = None) -> list[Article]:
    """Parse one file's bytes into articles according to its suffix.

    Args:
        problems: if given, told about parts left out of a file that is
            otherwise read (a `.jsonl` file's bad lines), one line each.
    Raises:
        CorpusError: wrong type, bad encoding, or bad contents.
    """
    suffix = Path(source).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise CorpusError(f"{source}: 不支持的文件类型 unsupported file type {suffix or '(none)'}; 请用 use {', '.join(SUPPORTED_SUFFIXES)}")
    if len(data) > MAX_FILE_BYTES:
        raise CorpusError(f"{source}: 文件超过 {MAX_FILE_BYTES // 2**20} MB file is larger than {MAX_FILE_BYTES // 2**20} MB")
    stem = stem or safe_stem(source)
    if suffix in (".pdf", ".docx"):  # binary formats: their own readers, then the page splitter
        text = pdf_text(data, source) if suffix == ".pdf" else docx_text(data, source)
        articles, file_text = split_page(text, source, stem), text
    else:
        articles, file_text = _text_articles(data, source, stem, suffix, problems), ""
    # what a reader sees, not the markup: a page of <p>​​​</p> has letters only in its tags
    articles = [a for a in articles if has_words(a.text)]
    if not articles:
        raise CorpusError(f"{source}: 没有文字，只有不可见字符或标点 no words, only invisible characters or punctuation")
    return _dated(articles, file_text)


def _dated(articles: list[Article], file_text: str) -> list[Article]:
    """The articles with the date each one's text states (`dates.date_in_text`) where none was read
    from the file's metadata."""
    text = file_text or "\n".join(a.text for a in articles[:50])

    def body(a: Article) -> str:  # the text after the printed headline and byline
        return a.text[max((end for _, end in (*a.headline_spans, *a.byline_spans)), default=0) :]

    # the body first (a date under the headline); then the whole text: a file whose first line is
    # "2023-07-24 08:19，headline" has its date in what reads as the headline
    return [a if a.date else replace(a, date=date_in_text(body(a), text) or date_in_text(a.text)) for a in articles]


def _text_articles(data: bytes, source: str, stem: str, suffix: str, problems) -> list[Article]:
    declared = declared_charset(data) if suffix in (".html", ".htm") else None  # a page's own charset wins
    text, encoding = decode_bytes(data, source, declared)
    if encoding not in ("utf-8", "utf-8-sig"):
        log.info("%s: decoded as %s", source, encoding)
    if not text.strip():
        raise CorpusError(f"{source}: 空文件 file is empty")
    if not has_words(text):
        raise CorpusError(f"{source}: 没有文字，只有不可见字符或标点 no words, only invisible characters or punctuation")
    if suffix == ".jsonl":
        return _jsonl_articles(text, source, stem, problems if problems is not None else [])
    if suffix in (".html", ".htm"):
        title, body = html_to_text(text)
        date = ""
        main = main_content(text, body)
        if main is not None:  # the story without the site's menus and footers
            title, body, date = main[0] or title, main[1], main[2]
        articles = split_page(body, source, stem)
        # a <title> often carries the site's name: the page's own headline (<h1>) wins when there is one
        if title and len(articles) == 1 and not articles[0].headline_spans:
            articles[0] = Article(**{**articles[0].__dict__, "title": title})
        if date and len(articles) == 1:
            articles[0] = Article(**{**articles[0].__dict__, "date": normalise_date(date)})
        return articles
    return split_page(text, source, stem)

