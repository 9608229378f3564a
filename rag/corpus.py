"""Corpus loading: files on disk -> `Article` records.

A seed file is a whole newspaper page: a page banner, several articles, each
opened by a block of short headline lines and often a byline, with sub-heads,
photo captions and layout damage (a sentence cut in two by a column break,
which shows up as a blank line in the middle of a sentence).

The page is read as blank-line separated *blocks*. Each block is classified
(headline-like, byline, caption, body); an article starts at a run of
headline-like blocks that is either two or more lines long or followed by a
byline / `本报讯` lead. A lone short line inside an article is a sub-head and
stays in that article. Broken sentences are re-joined when the first half
ends in clause punctuation (`，`、`：`) or is a long block with no sentence end.
Then layout patterns move the boundaries (`_segments`): a commentary whose
headline and author are printed after its body, paragraphs printed above
their headline (by lexical cohesion), and photo items and boxes printed at a
story's end (split off when they share almost no rare words with it). Author
lines without `本报记者` (`骆 驼`, `王文军 吴杰 侯兴`) are bylines.

Nothing is dropped: an article's `text` holds every block that belongs to it,
headline and byline included, so that the non-space characters of a file are
exactly the concatenation of its articles' texts (tests check this). Captions
stay in the text; their spans are listed in `Article.captions`.

Compromises: layout breaks that cut a line with no punctuation at all (a
16-character column fragment looks like a sub-head) are not re-joined; a box
or photo printed in the middle of a story stays in it (articles are
contiguous text). Both keep the text, only the grouping is imperfect.
"""

from __future__ import annotations

import hashlib
import html
import html.parser
import json
import logging
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import CorpusError

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".txt", ".md", ".html", ".htm", ".jsonl")
# Raised whenever a change here can move an article's boundaries, title or byline: an index
# records the version it was built with and is rebuilt (cheaply: unchanged passages come from
# the embedding cache) when it differs, so users never keep titles from an older splitter.
SPLITTER_VERSION = 3
MAX_FILE_BYTES = 50 * 1024 * 1024  # one news page is ~20 kB; refuse obvious mistakes

_SENTENCE_END = "。！？!?…"
_CLAUSE_END = "，,、：:；;"
_CLOSERS = "”’\"』」）)】"
_HEADLINE_MAX = 40  # characters; the seeds' longest headline line is 32
_LONG_BLOCK = 40  # a block this long without a sentence end is body text

_BYLINE = re.compile(
    r"^[□■◇◆]?\s*(本报记者|本报通讯员|记者|通讯员|特约记者|本报特约|新华社记者)"
)
_LEAD = re.compile(r"^(本报讯|本报[\u4e00-\u9fff]{1,4}电|新华社[\u4e00-\u9fff]{1,4}电|据.{1,12}报道)")
_CAPTION = re.compile(
    r"^(图[①-⑳\d一二三四五六七八九十]*\s*[:：]|[上下左右]+图\s*[:：]|左下图|右下图)"
    r"|([(（]\s*资料(照片|图片)\s*[)）]|资料图片|\s摄)$"
)
# Jump lines ("下转第2版"), source notes and dated attributions under a quote
# are short and unpunctuated like headlines, but belong to the text above.
_JUMP = re.compile(r"^([(（]\s*(下转|上接|转第|接第|来源|据)|——\s*\d{4}年)")
_MD_HEADING = re.compile(r"^#{1,6}\s+")
# Authors printed without "本报记者" under a commentary's or a report's headline: "骆 驼" (a
# two-character name spaced to the width of three), "王文军 吴杰 侯兴" (several names). A line
# counts as names when every word is 2-3 Chinese characters starting with a common surname,
# or it is 2-3 single characters with spaces between; headline words ("感悟初心 勇挑重担")
# are longer or do not start with a surname. One unspaced name ("赵成") stays a headline line:
# alone it cannot be told from a three-character subhead.
_SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤骆邢"
)
_SPACED_NAME = re.compile(r"^[\u4e00-\u9fff](?:\s+[\u4e00-\u9fff]){1,2}$")
_NAME_WORD = re.compile(r"^[\u4e00-\u9fff]{2,3}$")


_COLUMN_LABEL_MAX = 6  # "金台潮声", "每周一学", "掠影": a column's name printed above its text


def _is_single_name(line: str) -> bool:
    """"赵成": one 2-3 character name starting with a common surname (an author under a headline)."""
    return bool(_NAME_WORD.match(line)) and line[0] in _SURNAMES


def _is_name_line(line: str) -> bool:
    if _SPACED_NAME.match(line):
        return line[0] in _SURNAMES
    words = line.split()
    return len(words) >= 2 and all(_NAME_WORD.match(w) and w[0] in _SURNAMES for w in words)


@dataclass(frozen=True)
class Article:
    """One article: its text with headline and byline, and where it came from."""

    doc_id: str
    source: str
    title: str
    text: str
    byline: str = ""
    url: str = ""
    date: str = ""
    captions: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str


@dataclass
class Corpus:
    """The articles of a folder, the files skipped with reasons, and file hashes."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    file_hashes: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # parts left out of files that were read


# ---------------------------------------------------------------- decoding


_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))  # UTF-32 first: its LE BOM starts like UTF-16's


def decode_bytes(data: bytes, source: str = "<bytes>") -> tuple[str, str]:
    """Decode a file's bytes as UTF-8 or a Chinese legacy encoding.

    Returns:
        (text, encoding name).
    Raises:
        CorpusError: binary data or an encoding we cannot identify.
    """
    for bom, codec in _BOMS:  # UTF-16/32 files (Windows "Unicode") have NUL bytes but are text
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec), codec
            except UnicodeDecodeError:
                raise CorpusError(f"{source}: 编码损坏 damaged {codec} text") from None
    if b"\x00" in data[:4096]:
        raise CorpusError(f"{source}: 二进制文件，不是文本 looks like a binary file, not text")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    try:
        utf8: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    # Short GBK byte runs can also be valid UTF-8 (丝 = CB BF = "˿"): UTF-8 wins
    # unless it reads as noise. GBK/GB2312 are subsets of GB18030; try it strictly
    # before asking a detector, which can mistake short GBK for Big5.
    if utf8 is not None and _mostly_cjk_or_ascii(utf8):
        return utf8, "utf-8"
    try:
        gb = data.decode("gb18030")
        if _mostly_cjk_or_ascii(gb):
            return gb, "gb18030"
    except UnicodeDecodeError:
        pass
    if utf8 is not None:
        return utf8, "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise CorpusError(f"{source}: 无法识别的编码 unknown text encoding (not UTF-8 or GB18030)")
    return str(best), best.encoding


def _plausible(ch: str) -> bool:
    """A character Chinese news text is made of: ASCII, CJK, CJK and general punctuation, symbols (□★①)."""
    o = ord(ch)
    return (o < 0x80 or 0xA0 <= o <= 0xFF or 0x2000 <= o <= 0x2BFF or 0x3000 <= o <= 0x9FFF
            or 0xF900 <= o <= 0xFAFF or 0xFE30 <= o <= 0xFE4F or 0xFF00 <= o <= 0xFFEF)


def _mostly_cjk_or_ascii(text: str) -> bool:
    if not text:
        return True
    return sum(map(_plausible, text)) / len(text) > 0.9


# ---------------------------------------------------------------- page splitting


@dataclass
class _Block:
    text: str
    kind: str  # "head", "byline", "lead", "caption", "body"


def _classify(line: str) -> str:
    bare = _MD_HEADING.sub("", line).strip()
    if _CAPTION.search(bare):
        return "caption"
    if (_BYLINE.match(bare) or _is_name_line(bare)) and len(bare) <= _HEADLINE_MAX:
        return "byline"
    if _LEAD.match(bare):
        return "lead"
    if _MD_HEADING.match(line):
        return "head"
    if _JUMP.match(bare):
        return "body"
    if len(bare) <= _HEADLINE_MAX and bare[-1] not in _SENTENCE_END + _CLAUSE_END and not (
        bare[-1] in _CLOSERS and len(bare) > 1 and bare[-2] in _SENTENCE_END
    ):
        return "head"
    return "body"


def _ends_mid_sentence(text: str) -> bool:
    last = text.rstrip()[-1]
    if last in _CLAUSE_END:
        return True
    if last in _SENTENCE_END or last in _CLOSERS:
        return False
    return len(text.strip()) >= _LONG_BLOCK


def _blocks(text: str) -> list[_Block]:
    """Blank-line separated blocks, with broken sentences re-joined."""
    raw = [b.strip() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))]
    blocks: list[_Block] = []
    for part in raw:
        if not part:
            continue
        kind = _classify(part)
        prev = blocks[-1] if blocks else None
        if prev and prev.kind in ("body", "lead") and kind == "body" and _ends_mid_sentence(prev.text):
            prev.text += part  # the blank line was a column break inside a sentence
            continue
        blocks.append(_Block(part, kind))
    return blocks


def _article_starts(blocks: list[_Block]) -> list[int]:
    starts = [0]
    i = 0
    while i < len(blocks):
        if blocks[i].kind not in ("head", "byline"):
            i += 1
            continue
        j = i
        while j < len(blocks) and blocks[j].kind in ("head", "byline"):
            j += 1
        # A headline may end in ！ or ？ ("为小伙儿办好每一件事，充实且幸福！"):
        # before a byline, take in the short lines just above it too.
        if any(b.kind == "byline" for b in blocks[i:j]):
            while i > starts[-1] and _short_headline(blocks[i - 1]):
                i -= 1
        run = blocks[i:j]
        followed_by_lead = j < len(blocks) and blocks[j].kind == "lead"
        has_byline = any(b.kind == "byline" for b in run)
        if i > 0 and (len(run) >= 2 or has_byline or followed_by_lead):
            starts.append(i)
        i = j
    return starts


def _short_headline(block: _Block) -> bool:
    bare = block.text.strip()
    return (
        block.kind in ("head", "body")
        and len(bare) <= _HEADLINE_MAX
        and not bare.endswith("。")
        and not _JUMP.match(bare)
    )


def _headline(group: list[_Block]) -> tuple[list[str], list[str]]:
    """Headline lines and byline lines at the top of an article's blocks."""
    top = []
    for blk in group:
        if blk.kind in ("head", "byline") or _short_headline(blk):
            top.append(blk)
        else:
            break
    if any(b.kind == "byline" for b in top):
        first = next(i for i, b in enumerate(top) if b.kind == "byline")
        heads = [b for b in top[:first]]
    else:
        heads = [b for b in top if b.kind == "head"]
        heads = heads[: next((i for i, b in enumerate(top) if b.kind != "head"), len(top))]
    bylines = [b.text.lstrip("□■◇◆ ") for b in top if b.kind == "byline"]
    return [_MD_HEADING.sub("", b.text).strip() for b in heads], bylines


@dataclass
class _Segment:
    """Blocks [start, end) of one article; its headline run starts at `head` (at `start` unless a
    lead is printed above the headline) or is the trailing run [tail, end) after its body."""

    start: int
    end: int
    head: int
    label: int | None = None  # a column label block printed above the text
    tail: int | None = None
    photo: bool = False  # a photo item: its text is a caption


def _segments(blocks: list[_Block]) -> list[_Segment]:
    starts = _article_starts(blocks)
    segments = [_Segment(a, b, a) for a, b in zip(starts, starts[1:] + [len(blocks)])]
    segments = _split_trailing_titles(blocks, segments)
    weights = _bigram_weights(blocks)  # rarity of words on this page, for both cohesion rules
    _pull_leads_above_headlines(blocks, segments, weights)
    return _split_off_boxes_and_photos(blocks, segments, weights)


_PHOTO_CREDIT = re.compile(r"摄\s*([(（][^)）]{1,12}[)）])?$|资料(图片|照片)[)）]?$")
# The page's own credits printed under its last item ("版式设计：沈亦伶"): part of no story.
_PAGE_CREDIT = re.compile(r"^(版式设计|责任编辑|本版编辑|美术编辑|图片编辑|校对)\s*[:：]")
_PHOTO_HEAD_MAX = 12  # "保障春耕灌溉": a photo item's headline is short
_BOX_MAX_COHESION = 0.05  # a box shares (almost) no rare words with the story it is printed in
_PHOTO_MAX_COHESION = 0.1  # nor does a photo item (a story's own photo names its people and places)


def _split_off_boxes_and_photos(blocks: list[_Block], segments: list[_Segment],
                                weights: dict[str, float]) -> list[_Segment]:
    """Items printed at the end of a story's blocks but not part of it: a photo item (a short
    headline or none, a caption, a photo credit "白燕荣 摄") and a box under a column label
    ("每周一学" and quotations). Split off when they share (almost) no rare words with the story."""
    out: list[_Segment] = []
    for seg in segments:
        body_from = seg.head
        while body_from < seg.end and blocks[body_from].kind in ("head", "byline"):
            body_from += 1
        item, photo = None, False
        end = seg.end
        while end - 1 > body_from and _PAGE_CREDIT.match(blocks[end - 1].text.strip()):
            end -= 1
        last = blocks[end - 1]
        if seg.tail is None and last.kind == "caption" and _PHOTO_CREDIT.search(last.text.strip()):
            photo = True
            item = end - 1
            while item - 1 > body_from and blocks[item - 1].kind == "caption":  # 图① … 图④ together
                item -= 1
            for i in range(item - 1, max(body_from, item - 3) - 1, -1):
                if blocks[i].kind == "head" and len(blocks[i].text.strip()) <= _PHOTO_HEAD_MAX:
                    item = i
                    break
                if blocks[i].kind not in ("body", "caption"):
                    break
        elif seg.tail is None:
            item = next((i for i in range(body_from + 1, seg.end - 1) if blocks[i].kind == "head"
                         and len(blocks[i].text.strip()) <= _COLUMN_LABEL_MAX and " " not in blocks[i].text.strip()
                         and all(b.kind == "body" for b in blocks[i + 1 : seg.end])), None)
        if item is not None and item > body_from:
            rest = _bigram_vector(" ".join(b.text for b in blocks[seg.start : item]), weights)
            box = _bigram_vector(" ".join(b.text for b in blocks[item : seg.end]), weights)
            if _cosine(rest, box) < (_PHOTO_MAX_COHESION if photo else _BOX_MAX_COHESION):
                out.append(_Segment(seg.start, item, seg.head, seg.label, seg.tail))
                out.append(_Segment(item, seg.end, item, photo=photo))
                continue
        out.append(seg)
    return out


def _split_trailing_titles(blocks: list[_Block], segments: list[_Segment]) -> list[_Segment]:
    """A commentary printed as column label, body, then headline and author ("金台潮声" … "为基层减负
    为实干撑腰" / "赵成"), followed by the next story's headline run: the label-to-author blocks are
    one article, titled from its end; the story starts after the author."""
    out: list[_Segment] = []
    for seg in segments:
        run_end = seg.start
        while run_end < seg.end and blocks[run_end].kind in ("head", "byline"):
            run_end += 1
        name = next((m for m in range(seg.start + 1, run_end) if blocks[m].kind == "head"
                     and _is_single_name(blocks[m].text.strip())), None)
        rest_has_byline = name is not None and any(b.kind == "byline" for b in blocks[name + 1 : run_end])
        label = None
        if rest_has_byline and out:
            prev = out[-1]
            label = next((i for i in range(seg.start - 1, prev.start, -1)
                          if blocks[i].kind == "head" and len(blocks[i].text.strip()) <= _COLUMN_LABEL_MAX
                          and " " not in blocks[i].text.strip() and blocks[i + 1].kind == "body"), None)
        if label is None:
            out.append(seg)
            continue
        prev.end = label
        out.append(_Segment(label, name + 1, label, label=label, tail=seg.start))
        out.append(_Segment(name + 1, seg.end, name + 1))
    return out


_LEAD_MIN_GAIN = 0.05  # how much closer (cosine) a lead must be to the story below than to the one above


def _pull_leads_above_headlines(blocks: list[_Block], segments: list[_Segment], weights: dict[str, float]) -> None:
    """Paragraphs printed above a headline ("“手工三明治……来看一看。”" above "帮妈妈卖早餐的小学生")
    go with the story below when they share its words (names, places) more than the story above.

    Lexical cohesion (as TextTiling): character bigrams weighted by how rare they are on the page.
    Only body blocks directly above a headline run that has a byline are considered, never across
    a headline, caption or byline.
    """
    for prev, seg in zip(segments, segments[1:]):
        if seg.tail is not None or not any(b.kind == "byline" for b in blocks[seg.head : seg.head + 6]):
            continue
        k_max = 0
        while seg.start - k_max - 1 > prev.head + 1 and blocks[seg.start - k_max - 1].kind == "body":
            k_max += 1
        below = _bigram_vector(" ".join(b.text for b in blocks[seg.start : seg.end]), weights)
        best, gain = 0, _LEAD_MIN_GAIN
        for k in range(1, k_max + 1):
            lead = _bigram_vector(" ".join(b.text for b in blocks[seg.start - k : seg.start]), weights)
            above = _bigram_vector(" ".join(b.text for b in blocks[prev.start : seg.start - k]), weights)
            g = _cosine(lead, below) - _cosine(lead, above)
            if g > gain:
                best, gain = k, g
        if best:
            seg.start -= best
            prev.end = seg.start


def _bigram_weights(blocks: list[_Block]) -> dict[str, float]:
    import math

    df: dict[str, int] = {}
    for b in blocks:
        for g in set(_bigrams(b.text)):
            df[g] = df.get(g, 0) + 1
    n = len(blocks)
    return {g: math.log((n + 1) / (d + 0.5)) for g, d in df.items()}


def _bigrams(text: str) -> list[str]:
    runs = re.findall(r"[\u4e00-\u9fff]+", text)
    return [r[i : i + 2] for r in runs for i in range(len(r) - 1)]


def _bigram_vector(text: str, weights: dict[str, float]) -> dict[str, float]:
    vec: dict[str, float] = {}
    for g in _bigrams(text):
        vec[g] = vec.get(g, 0.0) + weights.get(g, 0.0)
    return vec


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b.get(g, 0.0) for g, v in a.items())
    norm = (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5
    return dot / norm if norm else 0.0


def split_page(text: str, source: str, stem: str) -> list[Article]:
    """Split one newspaper page into articles (see the module docstring)."""
    text = unicodedata.normalize("NFC", text)
    blocks = _blocks(text)
    if not blocks:
        return []
    articles = []
    for n, seg in enumerate(_segments(blocks)):
        group = blocks[seg.start : seg.end]
        if seg.tail is not None:  # title and author printed after the body
            heads = [_MD_HEADING.sub("", blocks[i].text).strip() for i in (seg.label, *range(seg.tail, seg.end - 1))]
            bylines = [blocks[seg.end - 1].text.strip()]
        else:
            heads, bylines = _headline(blocks[seg.head : seg.end])
        parts, captions, pos = [], [], 0
        for blk in group:
            if parts:
                pos += 2
            if blk.kind == "caption" or (seg.photo and blk.kind == "body"):
                captions.append((pos, pos + len(blk.text)))
            parts.append(blk.text)
            pos += len(blk.text)
        body = "\n\n".join(parts)
        title = re.sub(r"\s+", " ", " ".join(heads)) or _first_sentence(body)
        articles.append(
            Article(
                doc_id=f"{stem}-{n:02d}",
                source=source,
                title=title,
                text=body,
                byline=" ".join(bylines),
                captions=tuple(captions),
            )
        )
    return articles


def _first_sentence(text: str, limit: int = 40) -> str:
    m = re.match(r"[^。！？!?\n]{1,%d}" % limit, text.strip())
    return m.group(0) if m else text[:limit]


# ---------------------------------------------------------------- formats


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


def _jsonl_articles(text: str, source: str, stem: str, problems: list[str]) -> list[Article]:
    articles = []
    bad: list[str] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as e:
            bad.append(f"{lineno} (不是 JSON not valid JSON: {getattr(e, 'msg', 'nested too deeply')})")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
            bad.append(f"{lineno} (缺少 \"text\" no non-empty \"text\" field)")
            continue
        body = unicodedata.normalize("NFC", row["text"].strip())
        title = str(row.get("title") or "").strip() or _first_sentence(body)
        articles.append(
            Article(
                doc_id=f"{stem}-{lineno:02d}",
                source=source,
                title=title,
                text=body,
                url=str(row.get("url") or ""),
                date=str(row.get("date") or ""),
            )
        )
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
    text, encoding = decode_bytes(data, source)
    if encoding not in ("utf-8", "utf-8-sig"):
        log.info("%s: decoded as %s", source, encoding)
    if not text.strip():
        raise CorpusError(f"{source}: 空文件 file is empty")
    if suffix == ".jsonl":
        return _jsonl_articles(text, source, stem, problems if problems is not None else [])
    if suffix in (".html", ".htm"):
        title, body = html_to_text(text)
        articles = split_page(body, source, stem)
        if title and len(articles) == 1:
            articles[0] = Article(**{**articles[0].__dict__, "title": title})
        return articles
    return split_page(text, source, stem)


def keep_ids(articles: list[Article], previous: list[Article]) -> list[Article]:
    """The articles with the ids an earlier split gave them, so links cited before stay valid.

    Ids are positions on the page (`<stem>-00`, `-01`, …): when a newer splitter finds one more
    article on a page, the positions after it move. Here an article whose text is unchanged keeps
    its old id; an article holding most of a changed old article's paragraphs inherits its id; any
    other gets the next number not used on its page.
    """
    if not previous:
        return articles
    by_source: dict[str, list[Article]] = {}
    for old in previous:
        by_source.setdefault(old.source, []).append(old)
    out: list[Article] = []
    for source in dict.fromkeys(a.source for a in articles):
        new = [a for a in articles if a.source == source]
        old = by_source.get(source, [])
        ids: dict[int, str] = {}
        unused = {o.doc_id: o for o in old}
        for i, a in enumerate(new):  # unchanged text: same id
            same = next((o for o in unused.values() if o.text == a.text), None)
            if same is not None:
                ids[i] = same.doc_id
                del unused[same.doc_id]
        for doc_id, o in list(unused.items()):  # a changed article: its id to the one holding most of it
            paragraphs = [p for p in o.text.split("\n\n") if p.strip()]
            best, share = None, 0.5
            for i, a in enumerate(new):
                if i in ids:
                    continue
                held = sum(len(p) for p in paragraphs if p in a.text) / max(1, sum(map(len, paragraphs)))
                if held > share:
                    best, share = i, held
            if best is not None:
                ids[best] = doc_id
                del unused[doc_id]
        taken = {o.doc_id for o in old} | set(ids.values())
        for i, a in enumerate(new):
            if i not in ids:
                stem, n = a.doc_id.rsplit("-", 1)[0], 0
                while f"{stem}-{n:02d}" in taken:
                    n += 1
                ids[i] = f"{stem}-{n:02d}"
                taken.add(ids[i])
            out.append(replace(a, doc_id=ids[i]) if ids[i] != a.doc_id else a)
    return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def corpus_files(folder: str | Path) -> list[Path]:
    """The files of a corpus folder, sorted by name; raises if there is no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def id_stems(names: list[str], known: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """The article-id stem of each file name, unique within the folder and stable as files are added.

    Files already indexed (`known`, from the previous build) claim their
    stems first, so a new `a.md` beside an indexed `a.txt` gets `a_md`
    and never takes over the ids `a-00`… that earlier answers cite.
    """
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names, key=lambda n: (n not in known, n)):
        stem = safe_stem(name)
        if stem in taken:  # a.txt and a.md: keep both, with distinct ids
            stem = f"{stem}_{Path(name).suffix.lstrip('.').lower()}"
        base, n = stem, 2
        while stem in taken:
            stem, n = f"{base}-{n}", n + 1
        taken.add(stem)
        stems[name] = stem
    return stems


def load_corpus(folder: str | Path, known: set[str] | frozenset[str] = frozenset()) -> Corpus:
    """Read every supported file of a folder into articles.

    Files of other types, undecodable, unreadable or empty files are skipped
    and listed in `Corpus.skipped` with the reason (and logged), never
    silently; lines left out of a file are listed in `Corpus.problems`.

    Args:
        known: names of the files the previous build indexed; their article
            ids win over those of files added since (see `id_stems`).
    """
    corpus = Corpus()
    listed = corpus_files(folder)
    files = [p for p in listed if p.suffix.lower() in SUPPORTED_SUFFIXES]
    corpus.skipped += [SkippedFile(p.name, f"unsupported file type {p.suffix or '(none)'}")
                       for p in listed if p.suffix.lower() not in SUPPORTED_SUFFIXES]
    stems = id_stems([p.name for p in files], known)
    for path in files:
        name = path.name
        try:
            data = path.read_bytes()
        except OSError as e:  # one unreadable file must not stop the build (and every search)
            corpus.skipped.append(SkippedFile(name, f"无法读取 cannot read it ({e.strerror or e})"))
            continue
        try:
            articles = parse_document(data, name, stems[name], corpus.problems)
        except CorpusError as e:
            corpus.skipped.append(SkippedFile(name, str(e).removeprefix(f"{name}: ")))
            continue
        corpus.file_hashes[name] = hashlib.sha256(data).hexdigest()
        corpus.articles.extend(articles)
    for s in corpus.skipped:
        log.warning("skipped %s: %s", s.source, s.reason)
    for problem in corpus.problems:
        log.warning("%s", problem)
    if not corpus.articles:
        raise CorpusError(f"no readable articles in {folder}")
    return corpus
