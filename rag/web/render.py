"""What the web UI shows, as text: answer Markdown and article pages.

No Gradio here (app.py owns the UI); this module only turns `Answer`s and
`Article`s into Markdown/HTML, with the words of `rag.answer.messages`. Every piece of article or user text is escaped
first: an article containing `<script>`, attributes or Markdown links shows
them as text, never as markup.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from rag.answer.instructions import without_instructions
from rag.answer.messages import (ALSO_IN, ALSO_IN_SHOWN, ANSWER_LABEL, DISAGREE, HEADLINE, NOT_FOUND, NOT_FOUND_REASON, POSSIBLY_RELATED,
                                 RELATED_PASSAGES, SOURCES, notice_text)
from rag.answer.types import Answer
from rag.ingest.article import Article
from rag.text import snippet

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~<$])")  # "$": never a LaTeX delimiter


def article_link(doc_id: str, start: int | None = None, end: int | None = None) -> str:
    """The URI of an article page (`/article/<id>`, served by app.py), optionally at a highlighted span."""
    link = f"/article/{quote(doc_id, safe='')}"
    if start is not None and end is not None:
        link += f"?start={start}&end={end}#hl"
    return link


def answer_json(answer: Answer) -> dict:
    """`Answer.to_dict()` with each citation's and hit's article link: the `/ask` API's answer."""
    out = answer.to_dict()
    for key, items in (("citations", answer.citations), ("hits", answer.hits)):
        out[key] = [{**item.to_dict(), "link": article_link(item.doc_id, item.start, item.end)} for item in items]
    return out


# Addresses in article text would become live links in the chat (Markdown's autolinking reads
# "http://2130706433/login" as a link to 127.0.0.1): a word joiner (U+2060, invisible) after "://",
# "www" and "@" stops it; the text reads and copies as written, apart from that character.
_AUTOLINK = re.compile(r"(?<=://)|(?<=www)(?=\\?\.)|(?<=@)", re.I)


def md_escape(text: str) -> str:
    """Text safe inside Markdown: HTML-escaped, Markdown punctuation backslashed, never a link."""
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)).replace("\n", "  \n")
    return _AUTOLINK.sub("\u2060", escaped)


def _marker_links(text: str, answer: Answer) -> str:
    links = {c.n: article_link(c.doc_id, c.start, c.end) for c in answer.citations}
    escaped = md_escape(text)

    def link(m):
        n = int(m.group(1))
        return f"[\\[{n}\\]]({links[n]})" if n in links else m.group(0)

    return re.sub(r"\\\[(\d+)\\\]", link, escaped)


def answer_markdown(answer: Answer) -> str:
    """The chat message for a finished answer: linked [n] markers, sources, then every retrieved passage."""
    if answer.abstained:
        parts = [f"⚠️ **{NOT_FOUND}答案**（not in the articles）\n\n{NOT_FOUND_REASON}"]
        related = answer.hits[:RELATED_PASSAGES]
        if related:
            parts.append(f"\n\n**{POSSIBLY_RELATED}**\n")
            parts += [f"\n- [{md_escape(h.title)}]({article_link(h.doc_id, h.start, h.end)}) · `{html.escape(h.source)}`  \n{md_escape(snippet(without_instructions(h.text)))}"
                      for h in related]
        parts.append(_notices(answer))
        parts.append(_retrieved(answer))
        return "".join(parts)
    # a notice is its own paragraph: "*…*" directly before Chinese text would not render as italics
    parts = [_notices(answer).lstrip("\n") + ("\n\n" if answer.notices else "")]
    if answer.kind == "conflict":
        values = " / ".join(f"{md_escape(p.short_answer or '')}" for p in answer.parts)
        parts.append(f"**{DISAGREE}：{values}**\n")
    elif answer.short_answer:
        parts.append(f"**{ANSWER_LABEL}：{md_escape(answer.short_answer)}**\n")
    text = answer.text
    if answer.short_answer and text.startswith(answer.short_answer + "。"):
        text = text[len(answer.short_answer) + 1 :]
    parts.append(_marker_links(text, answer))
    missing = [p.label for p in answer.parts if p.short_answer is None]
    if missing:
        parts.append("".join(f"  \n{md_escape(label)}：{NOT_FOUND}。" for label in missing))
    if answer.citations:
        parts.append(f"\n\n**{SOURCES}**\n")
        for c in answer.citations:
            hit = next((h for h in answer.hits if h.chunk_id == c.chunk_id), None)
            context = _highlight_in_passage(hit.text, c.quote) if hit else f"<mark>{md_escape(c.quote)}</mark>"
            if c.headline:
                context = f"<mark>{md_escape(c.quote)}</mark>{HEADLINE}"
            also = also_in_html(hit).removeprefix("<br>") if hit else ""
            dated = f" · {html.escape(hit.date)}" if hit and hit.date else ""
            parts.append(
                f"\n{c.n}. [{md_escape(c.title)}]({article_link(c.doc_id, c.start, c.end)}) · `{html.escape(c.source)}`{dated}  \n{context}\n"
                + (f"  \n{also}\n" if also else "")
            )
    parts.append(_retrieved(answer))
    return "".join(parts)


def _retrieved(answer: Answer) -> str:
    """Every passage the answer was chosen from, with its score, folded away by default.

    HTML, escaped by hand: Markdown inside a <details> block is not rendered.
    """
    if not answer.hits:
        return ""
    items = "".join(
        f'<li><a href="{html.escape(article_link(h.doc_id, h.start, h.end), quote=True)}">{html.escape(h.title)}</a> · '
        f"<code>{html.escape(h.source)}</code>{' · ' + html.escape(h.date) if h.date else ''} · 分数 score {h.score:.4g}"
        f"<br>{html.escape(snippet(h.text, 120))}"
        f"{also_in_html(h)}</li>"
        for h in answer.hits
    )
    return (f"\n\n<details><summary>检索到的 {len(answer.hits)} 段 · retrieved passages</summary>"
            f"<ol>{items}</ol></details>")


def also_in_html(hit) -> str:
    """"亦见 also in: <links>" for a passage whose story other articles also carry ("" when none)."""
    if not hit.also_in:
        return ""
    links = ", ".join(f'<a href="{html.escape(article_link(d), quote=True)}">{html.escape(d)}</a>'
                      for d in hit.also_in[:ALSO_IN_SHOWN])
    more = f" … (+{len(hit.also_in) - ALSO_IN_SHOWN})" if len(hit.also_in) > ALSO_IN_SHOWN else ""
    return f"<br>{ALSO_IN}: {links}{more}"


def _highlight_in_passage(passage: str, quote: str, width: int = 80) -> str:
    """The passage around the quote, the quote in bold: shows the sentence in its context."""
    i = passage.find(quote)
    if i < 0:
        return f"<mark>{md_escape(quote)}</mark>"
    a, b = max(0, i - width), min(len(passage), i + len(quote) + width)
    # never cut a number or a Latin word in two ("…248辆" for 3248辆): widen to its ends (at most 20)
    for _ in range(20):
        if 0 < a and passage[a - 1].isascii() and passage[a - 1].isalnum() and passage[a].isascii() and passage[a].isalnum():
            a -= 1
        if b < len(passage) and passage[b - 1].isascii() and passage[b - 1].isalnum() and passage[b].isascii() and passage[b].isalnum():
            b += 1
    before = passage[a:i].replace("\n", " ")
    after = passage[i + len(quote) : b].replace("\n", " ")
    lead = "…" if a > 0 else ""
    tail = "…" if b < len(passage) else ""
    # <mark>, not **: Markdown emphasis does not close after "。" next to a CJK character
    return f"{lead}{md_escape(before)}<mark>{md_escape(quote)}</mark>{md_escape(after)}{tail}"


def _notices(answer: Answer) -> str:
    return "".join(f"\n\n*{md_escape(notice_text(n, n=answer.removed_sentences))}*" for n in answer.notices)


def user_markdown(text: str) -> str:
    """A user's message as shown in the chat: the text typed, never HTML or Markdown."""
    return md_escape(text)


def user_text(markdown: str) -> str:
    """The text a user typed, back from `user_markdown` (the chat history holds the shown form)."""
    text = markdown.replace("  \n", "\n")
    text = re.sub(r"\\([\\`*_{}\[\]()#+\-.!|>~<])", r"\1", text)
    return html.unescape(text)


def streaming_markdown(text: str) -> str:
    """A partial answer while it streams (markers become links when it is done)."""
    return md_escape(text) + " ▌"


# ---------------------------------------------------------------- article pages

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif;
       max-width: 46rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.8; color: #222; }}
h1 {{ font-size: 1.5rem; line-height: 1.4; }}
.meta {{ color: #666; font-size: .9rem; }}
p {{ margin: .8rem 0; white-space: pre-wrap; }}
mark {{ background: #ffe066; padding: 0 .1rem; scroll-margin-top: 30vh; }}
.caption {{ color: #555; font-size: .9rem; border-left: 3px solid #ccc; padding-left: .6rem; }}
a.back {{ font-size: .9rem; }}
</style></head>
<body>
<a class="back" href="/">← 返回问答</a>
<h1>{title}</h1>
<p class="meta">{meta}</p>
<article>{body}</article>
<script>var m = document.getElementById("hl"); if (m) m.scrollIntoView({{block: "center"}});</script>
</body></html>"""


def article_page(article: Article, start: int | None = None, end: int | None = None) -> str:
    """One article as HTML, the span [start, end) highlighted and scrolled into view.

    One paragraph per line of the text. The headline and byline lines at the
    top are shown once, in the page's heading and meta line, not again as body
    (unless the highlight falls in them).
    """
    text = article.text
    valid = start is not None and end is not None and 0 <= start < end <= len(text)
    paragraphs, first, in_head = [], True, True
    for line in re.finditer(r"[^\n]+", text):
        b_start, b_end = line.span()
        block = line.group(0)
        lo, hi = (max(start, b_start), min(end, b_end)) if valid else (0, 0)
        marked = valid and lo < hi
        label = in_head and _is_label(b_start, b_end, article)
        if label and not marked:
            continue
        if block.strip() and not label:
            in_head = False
        if marked:
            ident = ' id="hl"' if first else ""
            first = False
            inner = (html.escape(text[b_start:lo]) + f"<mark{ident}>" + html.escape(text[lo:hi]) + "</mark>"
                     + html.escape(text[hi:b_end]))
        else:
            inner = html.escape(block)
        caption = any(c_start <= b_start < c_end for c_start, c_end in article.captions)
        paragraphs.append(f'<p class="caption">{inner}</p>' if caption else f"<p>{inner}</p>")
    meta = " · ".join(html.escape(x) for x in (article.byline, f"来源文件 {article.source}", article.date) if x)
    if article.url:
        meta += f' · <a href="{html.escape(article.url, quote=True)}" rel="noopener noreferrer">原文链接</a>' if article.url.startswith(("http://", "https://")) else f" · {html.escape(article.url)}"
    return _PAGE.format(title=html.escape(article.title), meta=meta, body="\n".join(paragraphs))


def _is_label(start: int, end: int, article: Article) -> bool:
    """The line [start, end) lies in the printed headline or byline (shown in the page's heading and meta line)."""
    return any(a <= start and end <= b for a, b in (*article.headline_spans, *article.byline_spans))


def parse_offset(value: str | None) -> int | None:
    """A ?start= / ?end= query value as an offset; anything else (abc, -1, 1e9) means no highlight."""
    if value is None or not value.strip().isdigit() or len(value.strip()) > 9:
        return None
    return int(value.strip())


def not_found_page(doc_id: str) -> str:
    """The 404 page for an article id that is not in the index (the id escaped)."""
    body = f"<p>没有编号为 <code>{html.escape(doc_id)}</code> 的文章（article not found）。</p>"
    return _PAGE.format(title="404 文章不存在", meta="", body=body)
