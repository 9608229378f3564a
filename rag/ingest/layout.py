"""Page layout: one newspaper page -> its articles (headline, byline, captions).

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

import math
import re
import unicodedata
from dataclasses import dataclass

from rag.ingest.article import TITLE_MAX_CHARS, Article
from rag.text import CJK_CHARS, SURNAMES, cjk_bigrams, to_simplified

# records the version it was built with and is rebuilt (cheaply: unchanged passages come from
# the embedding cache) when it differs, so users never keep titles from an older splitter.
SPLITTER_VERSION = 7  # 4: headline and byline offsets on every article; 5: bounded headline runs;
# 6: traditional bylines, chunks keep their closing quotes; 7: a date leading the first line dates the
# article, a line shorter than the chunk overlap is one passage

_SENTENCE_END = "。！？!?…"
_CLAUSE_END = "，,、：:；;"
_CLOSERS = "”’\"』」）)】"
_HEADLINE_MAX = 40  # characters; the seeds' longest headline line is 32
_LONG_BLOCK = 40  # a block this long without a sentence end is body text

_BYLINE = re.compile(
    r"^[□■◇◆]?\s*(本报记者|本报通讯员|记者|通讯员|特约记者|本报特约|新华社记者)"
)
_LEAD = re.compile(rf"^(本报讯|本报[{CJK_CHARS}]{{1,4}}电|新华社[{CJK_CHARS}]{{1,4}}电|据.{{1,12}}报道)")
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
_SPACED_NAME = re.compile(rf"^[{CJK_CHARS}](?:\s+[{CJK_CHARS}]){{1,2}}$")
_NAME_WORD = re.compile(rf"^[{CJK_CHARS}]{{2,3}}$")


_COLUMN_LABEL_MAX = 6  # "金台潮声", "每周一学", "掠影": a column's name printed above its text


def _is_single_name(line: str) -> bool:
    """"赵成": one 2-3 character name starting with a common surname (an author under a headline)."""
    return bool(_NAME_WORD.match(line)) and line[0] in SURNAMES


def _is_name_line(line: str) -> bool:
    if _SPACED_NAME.match(line):
        return line[0] in SURNAMES
    words = line.split()
    return len(words) >= 2 and all(_NAME_WORD.match(w) and w[0] in SURNAMES for w in words)


# ---------------------------------------------------------------- page splitting


@dataclass
class _Block:
    text: str
    kind: str  # "head", "byline", "lead", "caption", "body"
    # the stripped text in simplified characters, what the layout patterns read (the article keeps
    # its own script): "本報記者 韓雨桐" is a byline as "本报记者 韩雨桐" is; 陳/張/劉 are common surnames
    plain: str = ""


def _classify(line: str) -> str:
    bare = to_simplified(_MD_HEADING.sub("", line).strip())
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


def _ends_mid_sentence(text: str, length: int | None = None) -> bool:
    """Whether a block (`text`, or its last part when `length`, the whole block's, is given) stops in
    the middle of a sentence."""
    last = text.rstrip()[-1]
    if last in _CLAUSE_END:
        return True
    if last in _SENTENCE_END or last in _CLOSERS:
        return False
    return (len(text.strip()) if length is None else length) >= _LONG_BLOCK


def _blocks(text: str) -> list[_Block]:
    """Blank-line separated blocks, with broken sentences re-joined (in one pass: the parts of a
    re-joined block are collected and joined once, never copied per part)."""
    raw = [b.strip() for b in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n"))]
    blocks: list[_Block] = []
    parts: list[list[str]] = []
    length = 0  # of the last block, its parts joined
    for part in raw:
        if not part:
            continue
        kind = _classify(part)
        prev = blocks[-1] if blocks else None
        if prev and prev.kind in ("body", "lead") and kind == "body" and _ends_mid_sentence(parts[-1][-1], length):
            parts[-1].append(part)  # the blank line was a column break inside a sentence
            length += len(part)
            continue
        blocks.append(_Block(part, kind))
        parts.append([part])
        length = len(part)
    for block, pieces in zip(blocks, parts):
        if len(pieces) > 1:
            block.text = "".join(pieces)
        block.plain = to_simplified(block.text.strip())
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
        and not _JUMP.match(block.plain)
    )


# A headline run is at most this many blocks (kicker, headline, subheads, bylines; the seeds' longest
# run is 3 headline lines and a byline), and its lines at most TITLE_MAX_CHARS together: a page of
# hundreds of short lines is a list, not a headline (issue 20: 240 such lines all became the title).
_HEADLINE_RUN_MAX = 6


def _headline(group: list[_Block]) -> tuple[list[_Block], list[_Block]]:
    """Headline blocks and byline blocks at the top of an article's blocks; the rest is body."""
    top, chars = [], 0
    for blk in group[:_HEADLINE_RUN_MAX]:
        if not (blk.kind in ("head", "byline") or _short_headline(blk)):
            break
        chars += len(blk.text.strip()) + 1
        if blk.kind != "byline" and chars > TITLE_MAX_CHARS:
            break
        top.append(blk)
    if any(b.kind == "byline" for b in top):
        first = next(i for i, b in enumerate(top) if b.kind == "byline")
        heads = [b for b in top[:first]]
    else:
        heads = [b for b in top if b.kind == "head"]
        heads = heads[: next((i for i, b in enumerate(top) if b.kind != "head"), len(top))]
    return heads, [b for b in top if b.kind == "byline"]


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
        while end - 1 > body_from and _PAGE_CREDIT.match(blocks[end - 1].plain):
            end -= 1
        last = blocks[end - 1]
        if seg.tail is None and last.kind == "caption" and _PHOTO_CREDIT.search(last.plain):
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
                     and _is_single_name(blocks[m].plain)), None)
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
# At most this many paragraphs above a headline are weighed as its lead (the seeds' longest is 2):
# each candidate costs a pass over the story above, so unbounded the pass was quadratic in the page
# (a 203 KB page: 43 s, issue 20).
_LEAD_MAX_BLOCKS = 6


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
        while (k_max < _LEAD_MAX_BLOCKS and seg.start - k_max - 1 > prev.head + 1
               and blocks[seg.start - k_max - 1].kind == "body"):
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
    df: dict[str, int] = {}
    for b in blocks:
        for g in set(cjk_bigrams(b.text)):
            df[g] = df.get(g, 0) + 1
    n = len(blocks)
    return {g: math.log((n + 1) / (d + 0.5)) for g, d in df.items()}


def _bigram_vector(text: str, weights: dict[str, float]) -> dict[str, float]:
    vec: dict[str, float] = {}
    for g in cjk_bigrams(text):
        vec[g] = vec.get(g, 0.0) + weights.get(g, 0.0)
    return vec


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b.get(g, 0.0) for g, v in a.items())
    norm = (sum(v * v for v in a.values()) * sum(v * v for v in b.values())) ** 0.5
    return dot / norm if norm else 0.0


def split_page(text: str, source: str, stem: str) -> list[Article]:
    """Split one newspaper page into articles (see the module docstring).

    Returns:
        The page's articles in page order, ids `<stem>-00`, `<stem>-01`, …; each
        article's headline, byline and caption blocks are listed as offsets into
        its text (`Article.headline_spans`, `.byline_spans`, `.captions`).
    """
    text = unicodedata.normalize("NFC", text)
    blocks = _blocks(text)
    if not blocks:
        return []
    articles = []
    for n, seg in enumerate(_segments(blocks)):
        group = blocks[seg.start : seg.end]
        if seg.tail is not None:  # title and author printed after the body
            heads = [blocks[i] for i in (seg.label, *range(seg.tail, seg.end - 1))]
            bylines = [blocks[seg.end - 1]]
        else:
            heads, bylines = _headline(blocks[seg.head : seg.end])
        head_ids, byline_ids = {id(b) for b in heads}, {id(b) for b in bylines}
        parts, captions, head_spans, byline_spans, pos = [], [], [], [], 0
        for blk in group:
            if parts:
                pos += 2
            span = (pos, pos + len(blk.text))
            if blk.kind == "caption" or (seg.photo and blk.kind == "body"):
                captions.append(span)
            if id(blk) in head_ids:
                head_spans.append(span)
            elif id(blk) in byline_ids:
                byline_spans.append(span)
            parts.append(blk.text)
            pos += len(blk.text)
        body = "\n\n".join(parts)
        title = re.sub(r"\s+", " ", " ".join(_MD_HEADING.sub("", b.text).strip() for b in heads))
        articles.append(
            Article(
                doc_id=f"{stem}-{n:02d}",
                source=source,
                title=title or first_sentence(body),
                text=body,
                byline=" ".join(b.text.strip().lstrip("□■◇◆ ") for b in bylines),
                captions=tuple(captions),
                headline_spans=tuple(head_spans),
                byline_spans=tuple(byline_spans),
            )
        )
    return articles


# An archive's timestamp before the text ("2023-07-24 08:19，"): not part of a title
_LEADING_STAMP = re.compile(r"^\W{0,3}(?:19|20)\d{2}\s*[-/.]\s*\d{1,2}\s*[-/.]\s*\d{1,2}(?:\s+\d{1,2}[:：]\d{2}(?:[:：]\d{2})?)?\W{0,3}[，,]?\s*")


def first_sentence(text: str, limit: int = 40) -> str:
    """The text's first sentence without a leading timestamp, at most `limit` characters: the title
    of an article printed without one."""
    stripped = _LEADING_STAMP.sub("", text.strip(), count=1) or text.strip()
    m = re.match(r"[^。！？!?\n]{1,%d}" % limit, stripped)
    return m.group(0) if m else stripped[:limit]

