"""Chinese text helpers, one home for each: CJK ranges, words and bigrams, sentences, names, pinyin.

Every stage that needs one of these imports it from here (page layout,
BM25, the reader's answer layer, the grounding check, the evals), so that
they all agree on what a Chinese character, a bigram or a sentence is.
"""

from __future__ import annotations

import bisect
import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from rag.errors import ConfigError

# CJK Unified Ideographs, Extension A and the compatibility ideographs: the characters of
# Chinese text (simplified and traditional). The one definition for every stage.
CJK_CHARS = "\u3400-\u9fff\uf900-\ufaff"
CJK_RUN = re.compile(f"[{CJK_CHARS}]+")
_WORD = re.compile(f"[{CJK_CHARS}]+|[A-Za-z]+|\\d+(?:\\.\\d+)?")
_jieba_lock = threading.Lock()
_jieba = None


def has_cjk(text: str) -> bool:
    """True when `text` holds at least one Chinese character."""
    return CJK_RUN.search(text) is not None


def get_jieba():
    """The jieba module, initialised once per process (its dictionary loads in ~1 s), quiet."""
    global _jieba
    with _jieba_lock:
        if _jieba is None:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _jieba = jieba
    return _jieba


def jieba_tokens(text: str) -> list[str]:
    """Search-mode jieba words (long words also yield their parts), lowercased, no punctuation."""
    jieba = get_jieba()
    return [t.lower() for t in jieba.lcut_for_search(text) if _WORD.fullmatch(t)]


def cjk_bigrams(text: str) -> list[str]:
    """Character bigrams inside each run of Chinese characters (none across punctuation or a single character)."""
    return [r[i : i + 2] for r in CJK_RUN.findall(text) for i in range(len(r) - 1)]


def bigram_tokens(text: str) -> list[str]:
    """BM25 and overlap terms: character bigrams inside CJK runs (a lone character as itself);
    whole words for Latin letters and numbers, lowercased."""
    out: list[str] = []
    for m in _WORD.finditer(text):
        tok = m.group(0)
        if CJK_RUN.fullmatch(tok):
            out.extend(tok[i : i + 2] for i in range(max(1, len(tok) - 1)))
        else:
            out.append(tok.lower())
    return out


def tokenize(text: str, kind: str = "jieba") -> list[str]:
    if kind == "jieba":
        return jieba_tokens(text)
    if kind == "bigram":
        return bigram_tokens(text)
    raise ConfigError(f"unknown tokenizer {kind!r}")


def squash(text: str) -> str:
    """Remove all white space (how the gold set compares strings)."""
    return re.sub(r"\s+", "", text)


# ---------------------------------------------------------------- pinyin bridge
#
# An English question names people and places in pinyin ("Jijiazhuang",
# "Zhang Lianyin"), which a small multilingual embedder rarely maps to 吉家庄 /
# 张连印. BM25 can: documents also get tone-less pinyin syllable bigrams of
# their Chinese text, and Latin words of a question that split completely into
# pinyin syllables yield the same bigrams. Chinese questions produce no such
# tokens, so Chinese retrieval is unaffected.

_PINYIN_PREFIX = "py_"
_syllables: frozenset[str] | None = None
_LATIN = re.compile(r"[A-Za-z]+")


def _pinyin(run: str) -> list[str]:
    from pypinyin import Style, lazy_pinyin

    return [s for s in lazy_pinyin(run, style=Style.NORMAL, errors="ignore", v_to_u=False) if s.isalpha()]


def _syllable_set() -> frozenset[str]:
    global _syllables
    if _syllables is None:
        from pypinyin import Style, lazy_pinyin

        chars = "".join(chr(c) for c in range(0x4E00, 0x9FA6))
        _syllables = frozenset(s for s in lazy_pinyin(chars, style=Style.NORMAL, errors="ignore") if s.isalpha())
    return _syllables


def _bigrams(sylls: list[str]) -> list[str]:
    return [_PINYIN_PREFIX + a + b for a, b in zip(sylls, sylls[1:])]


def pinyin_doc_tokens(text: str) -> list[str]:
    """Pinyin syllable bigrams of every CJK run of a passage."""
    out: list[str] = []
    for m in CJK_RUN.finditer(text):
        out.extend(_bigrams(_pinyin(m.group(0))))
    return out


def split_pinyin(word: str) -> list[str] | None:
    """Split a Latin word into pinyin syllables (fewest pieces), or None if it is not pinyin."""
    word = word.lower()
    sylls = _syllable_set()
    n = len(word)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for i in range(n):
        if best[i] is None:
            continue
        for j in range(i + 1, min(n, i + 6) + 1):
            piece = word[i:j]
            if piece in sylls and (best[j] is None or len(best[i]) + 1 < len(best[j])):
                best[j] = best[i] + [piece]
    return best[n]


def pinyin_query_tokens(query: str) -> list[str]:
    """Pinyin bigrams for the Latin words of a question that are pinyin ("Jijiazhuang")."""
    out: list[str] = []
    words = [w for w in _LATIN.findall(query)]
    if any(w[0].isupper() for w in words[1:]):
        # Proper names are capitalised: "income ... rise" are English, "Qinzhouhuang" is a name.
        words = [w if w[0].isupper() else "" for w in words]
        words[0] = ""  # the first word is capitalised anyway
    for i, w in enumerate(words):
        sylls = split_pinyin(w) if len(w) >= 4 else (split_pinyin(w) if w and w[0].isupper() and len(w) >= 2 else None)
        if sylls and len(sylls) >= 2:
            out.extend(_bigrams(sylls))
        # "Zhang Lianyin": a one-syllable surname joins the next word
        if sylls and len(sylls) == 1 and i + 1 < len(words):
            nxt = split_pinyin(words[i + 1]) if words[i + 1] else None
            if nxt:
                out.extend(_bigrams(sylls + nxt[:1]))
    return out


def bm25_doc_tokens(text: str, config) -> list[str]:
    """BM25 terms of a passage under an index's settings."""
    tokens = tokenize(text, config.bm25_tokenizer)
    return tokens + pinyin_doc_tokens(text) if config.bm25_pinyin else tokens


def bm25_query_tokens(query: str, config) -> list[str]:
    """BM25 terms of a question under an index's settings, without English function words.

    "who is the … of" carry nothing an English question asks for, but in an archive holding English
    text (a press release, a bilingual report) they outscore the pinyin of the name asked about:
    among the 20,000 CRUD news articles, "Who is the first secretary of Jijiazhuang village?" ranked
    an English press release first and the answer's article outside the top 10; without them, first.
    The list is bm25s's STOPWORDS_EN_PLUS (passages keep every word: only the question drops them).
    """
    tokens = [t for t in tokenize(query, config.bm25_tokenizer) if t not in _english_stopwords()]
    return tokens + pinyin_query_tokens(query) if config.bm25_pinyin else tokens


@lru_cache(maxsize=1)
def _english_stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    return frozenset(STOPWORDS_EN_PLUS)


_MARKUP = re.compile(r"(?m)^\s{0,3}#{1,6}\s+|\*\*|__|^\s*[-*>]\s+")


def snippet(text: str, limit: int = 60) -> str:
    """A passage's first `limit` characters on one line, without the source's Markdown marks (##, **)."""
    flat = re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()
    return flat if len(flat) <= limit else flat[:limit] + "…"


# ---------------------------------------------------------------- script


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str, same_length: bool = False) -> str:
    """`text` in simplified characters (OpenCC t2s), for matching and reading; what is shown keeps
    its own script. `same_length`: converted character by character where a phrase conversion would
    change the length, so that offsets into the result are offsets into `text`."""
    out = _t2s().convert(text)
    if same_length and len(out) != len(text):
        out = "".join(c2 if len(c2 := _t2s().convert(c)) == 1 else c for c in text)
    return out


# ---------------------------------------------------------------- sentences


@dataclass(frozen=True)
class Sentence:
    """A sentence of an article, with its [start, end) offsets in the article's text."""

    text: str
    start: int
    end: int


# A sentence ends at 。！？!?；; (closing quotes and brackets stay with it) or a line end.
_SENT = re.compile(r"[^。！？!?；;\n]+(?:[。！？!?；;]+[”’\"」』）)]*|$)", re.M)
# A run of clauses with no sentence end (a page of "，"-joined text) is cut into pieces of at most
# SENTENCE_MAX characters, at the last clause mark in each window (at a hard cut where a window has
# none in its second half): every per-sentence step of the answer path (pattern checks, quoting,
# scoring) then costs at most this much per piece (issue 20: one 18 KB sentence made each question
# take 40-60 s). The longest sentence in the seeds and both answer dev sets is 284 characters.
SENTENCE_MAX = 400
_CLAUSE_MARKS = "，,、：:"


def _cut(body: str, start: int) -> list[Sentence]:
    """`body` (a sentence at `start`) in pieces of at most SENTENCE_MAX characters; linear."""
    out, pos = [], 0
    while len(body) - pos > SENTENCE_MAX:
        window = body[pos : pos + SENTENCE_MAX]
        cut = max(window.rfind(c) for c in _CLAUSE_MARKS) + 1
        cut = cut if cut > SENTENCE_MAX // 2 else SENTENCE_MAX
        out.append((pos, pos + cut))
        pos += cut
    out.append((pos, len(body)))
    pieces = []
    for a, b in out:
        raw = body[a:b]
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip()
        if text:
            pieces.append(Sentence(text, start + a + lead, start + a + lead + len(text)))
    return pieces


@lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[tuple[Sentence, ...], tuple[int, ...]]:
    """An article's sentences in order, and their end offsets (for bisection)."""
    out = []
    for m in _SENT.finditer(text):
        raw = m.group(0)
        lead = len(raw) - len(raw.lstrip())
        body = raw.strip()
        if len(re.sub(r"\W", "", body)) < 2:
            continue
        out.extend(_cut(body, m.start() + lead))
    return tuple(out), tuple(s.end for s in out)


def sentences_in(article_text: str, start: int, end: int) -> list[Sentence]:
    """Sentences of an article that overlap [start, end), with article offsets (a sentence longer
    than SENTENCE_MAX characters comes in pieces). Logarithmic in the article's sentences plus the
    sentences returned."""
    split, ends = _split_cached(article_text)
    out = []
    for i in range(bisect.bisect_right(ends, start), len(split)):
        s = split[i]
        if s.start >= end:
            break
        out.append(s)
    return out


# ---------------------------------------------------------------- names

# The commonest Chinese surnames (the first ~120 by population): an author line under a headline
# ("王文军 吴杰 侯兴") is names that start with one.
SURNAMES = set(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    "姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤骆邢"
)


_ORG_SUFFIX = r"(?:局|委员会|委|公司|集团|银行|大学|学院|学校|中心|研究所|研究院|医院|协会|合作社|办公室|组织部|宣传部|统战部|分行|支行)"
_PLACE_SUFFIX = r"(?:省|市|县|区|旗|镇|乡|村|街道|社区|小区)"
# Role titles, with the body they belong to when it precedes them ("村委会主任", "党支部书记",
# "副局长"): a question about one role must not be answered with the holder of another.
ROLE = re.compile(r"(?:党支部|党总支|党委|党组|村委会|居委会|村民委员会|支部|村|镇|乡|县|市|省|区|局|厂|公司|学校)?"
                  r"(?:常务)?副?(?:第一书记|书记|主任|主席|局长|部长|省长|市长|县长|区长|镇长|乡长|村长|经理|董事长|"
                  r"总经理|总统|总理|校长|院长|队长|教练|会长|社长|厂长|所长|处长|科长|行长|主编|总裁|总监|"
                  r"秘书长|馆长|站长|团长|委员|司令员|司令|政委|参谋长|军长|师长)")
NAME_TAGS = ("nr", "ns", "nt")  # jieba's part-of-speech tags for people, places, organisations


def names(text: str, tags: tuple[str, ...] = NAME_TAGS) -> list[str]:
    """Words of two or more characters that jieba tags as names of the given kinds, in order
    ("nr" people, "ns" places, "nt" organisations)."""
    import jieba.posseg as pseg

    get_jieba()
    return [w for w, f in pseg.lcut(text) if f in tags and len(w) >= 2]


def named_spans(text: str) -> list[str]:
    """Places and organisations, whole: runs of jieba ns/nt words ("国家税务总局稷山县税务局")
    plus the place or organisation suffixes that follow them."""
    import jieba.posseg as pseg

    get_jieba()
    out, run = [], []
    for word, flag in pseg.lcut(text) + [("", "x")]:
        if flag in ("ns", "nt") or (run and re.fullmatch(_ORG_SUFFIX + "|" + _PLACE_SUFFIX, word)):
            run.append(word)
            continue
        if run:
            name = "".join(run)
            if len(name) >= 2:
                out.append(name)
            run = []
    return list(dict.fromkeys(out))
