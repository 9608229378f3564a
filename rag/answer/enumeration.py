"""The items an article enumerates, for list questions ("办了哪3件事？", "哪几个村", "采取了哪些措施").

News Chinese enumerates in three ways, each recognised from the text's own
markers (no lists of topics):

- ordinal markers: "一是…，二是…，三是…", "第一…第二…", "其一…其二…", "首先…其次…最后…";
- a colon followed by the items: "办了3件事:修复…道路,解决…问题,重修…广场。";
- a run of short items joined by "、" (and a last one by 和/及/与): "由西石村、李家岭村、王家岭村、富家河村合并而成".

Items keep their article offsets so that each can be cited.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import CJK_CHARS

_ORDINALS = "一二三四五六七八九十"
# 第一 counts things, not items, when a noun follows it: "第一书记", "第一次", "第一批" (the lookahead below).
_MARKER = re.compile(rf"(?:(?<![{_ORDINALS}])[{_ORDINALS}]是|第[{_ORDINALS}](?!书记|次|届|批|名|位|天|年|季|期|轮|阶段|线|把手|责任|时间|副)"
                     rf"(?:件事|个方面|方面|项|条|点|步|个)?(?:就是|是)?[，,、：:]?|"
                     rf"其[{_ORDINALS}][，,、是：:]?|"
                     r"首先[，,]?|其次[，,]?|再次[，,]?|最后[，,]?)")
_CLAUSE_END = re.compile(r"[，,；;。！？!?\n]")
# A colon that opens a list, not a quotation ("…说：“…”").
_COLON = re.compile(r"[：:](?![“\"「])")
_ITEM_MAX = 40  # characters: a longer "item" is a sentence of its own
# Two words joined by 、 are as often a pair inside a clause ("省委、市委") as a list: a run lists
# at least three.
RUN_MIN_ITEMS = 3
_RUN_ITEM_MAX = 12  # characters of one item of a 、-run
_RUN = re.compile(rf"[{CJK_CHARS}A-Za-z0-9“”]{{1,{_RUN_ITEM_MAX}}}(?:、[{CJK_CHARS}A-Za-z0-9“”]{{1,{_RUN_ITEM_MAX}}})+"
                  rf"(?:(?:和|及|与|以及)[{CJK_CHARS}A-Za-z0-9“”]{{1,{_RUN_ITEM_MAX}}})?")


@dataclass(frozen=True)
class Item:
    """One enumerated item: its words and [start, end) offsets in the article text."""

    text: str
    start: int
    end: int


def _trimmed(text: str, start: int, end: int, shortest: int = 2) -> Item | None:
    while start < end and text[start] in " \u3000，,、：:":
        start += 1
    while end > start and text[end - 1] in " \u3000，,；;。、":
        end -= 1
    return Item(text[start:end], start, end) if shortest <= end - start <= _ITEM_MAX else None


def marked_items(text: str, start: int, end: int) -> list[Item]:
    """Items after ordinal markers in text[start:end] ("一是A，二是B" -> A, B); [] unless at least
    two markers follow one another. Each item runs to the end of its clause or the next marker."""
    marks = list(_MARKER.finditer(text, start, end))
    if len(marks) < 2:
        return []
    out = []
    for i, m in enumerate(marks):
        stop = marks[i + 1].start() if i + 1 < len(marks) else end
        clause = _CLAUSE_END.search(text, m.end(), stop)
        # the item is the rest of the marker's clause; a marker that opens a sentence of its own
        # ("第一，…。") takes that sentence
        item_end = clause.start() if clause and clause.start() > m.end() + 1 else stop
        if clause and clause.start() <= m.end() + 1:
            sentence_end = re.search(r"[。；;！？!?\n]", text[m.end() : stop])
            item_end = m.end() + sentence_end.start() if sentence_end else stop
        item = _trimmed(text, m.end(), item_end)
        if item:
            out.append(item)
    return out if len(out) >= 2 else []


def colon_items(text: str, start: int, end: int) -> list[Item]:
    """Items after a list-opening colon in one sentence text[start:end], split at ，,；;、."""
    m = _COLON.search(text, start, end)
    if not m:
        return []
    out, at = [], m.end()
    for piece in re.finditer(r"[^，,；;、。！？!?]+", text[m.end() : end]):
        item = _trimmed(text, at + piece.start(), at + piece.end())
        if item:
            out.append(item)
    return out if 2 <= len(out) <= 8 else []


# Where the words before a run's first item stop ("平安村由|西石村") and the words after its last
# item start ("富家河村|4个村合并而成", "…|等"): function words, numbers, counted nouns.
_BEFORE_RUN = re.compile(r".*[由是在有了的为把将从对向于：:，,]")
_AFTER_RUN = re.compile(rf"\d|等|[的了是]|[{_ORDINALS}两]+[个项种家条件所名位]")


def run_items(text: str, start: int, end: int) -> list[Item]:
    """The items of the longest run of short words joined by 、 in text[start:end]
    ("西石村、李家岭村和富家河村" -> three items)."""
    runs = list(_RUN.finditer(text, start, end))
    if not runs:
        return []
    run = max(runs, key=lambda m: m.end() - m.start())
    out, at = [], run.start()
    pieces = list(re.finditer(r"[^、]+", run.group(0)))
    # items of one kind share their last character ("…村"): the last item ends at its first one
    ends = {p.group(0)[-1] for p in pieces[1:-1]} if len(pieces) > 2 else set()
    for i, piece in enumerate(pieces):
        a, b = piece.start(), piece.end()
        if i == 0:
            cut = _BEFORE_RUN.match(run.group(0), a, b - 2)
            a = cut.end() if cut else a
        if i == len(pieces) - 1:
            cut = _AFTER_RUN.search(run.group(0), a + 2, b)
            b = cut.start() if cut else b
            if len(ends) == 1:
                shared = run.group(0).find(ends.pop(), a + 1, b)
                b = shared + 1 if shared >= 0 else b
        words, piece_start = run.group(0)[a:b], a
        last = re.match(r"(.+?)(?:和|及|与|以及)(.+)$", words) if i == len(pieces) - 1 else None
        if last:
            for g in (1, 2):
                item = _trimmed(text, at + piece_start + last.start(g), at + piece_start + last.end(g), 1)
                if item:
                    out.append(item)
            continue
        item = _trimmed(text, at + a, at + b, 1)
        if item:
            out.append(item)
    return out if len(out) >= RUN_MIN_ITEMS else []


_OPENS = re.compile(rf"[ \u3000“\"「]*{_MARKER.pattern}")


def opens_with_marker(text: str, start: int) -> bool:
    """Whether the paragraph at text[start:] opens with an ordinal marker, after spaces or an
    opening quote ("“一是要…"): a lead-in that ends the paragraph before it ("初步确定了当前工作的
    重点。") is often followed by its enumeration as a paragraph, or a quotation, of its own."""
    return _OPENS.match(text, start) is not None


def items_in(text: str, sentence: tuple[int, int], paragraph_end: int) -> list[Item]:
    """The enumeration that a sentence opens or holds: ordinal markers from the sentence to the
    end of its paragraph first, then a colon list in the sentence, then a 、-run in it; [] if none."""
    lo, hi = sentence
    return marked_items(text, lo, paragraph_end) or colon_items(text, lo, hi) or run_items(text, lo, hi)
