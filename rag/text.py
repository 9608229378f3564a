"""Chinese text helpers shared by BM25, the answerer and the evals."""

from __future__ import annotations

import re
import threading

from .errors import ConfigError

_WORD = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+|[A-Za-z]+|\d+(?:\.\d+)?")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_jieba_lock = threading.Lock()
_jieba = None


def _get_jieba():
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
    jieba = _get_jieba()
    return [t.lower() for t in jieba.lcut_for_search(text) if _WORD.fullmatch(t)]


def bigram_tokens(text: str) -> list[str]:
    """Character bigrams inside CJK runs; whole words for Latin letters and numbers."""
    out: list[str] = []
    for m in _WORD.finditer(text):
        tok = m.group(0)
        if _CJK_RUN.fullmatch(tok):
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
    for m in _CJK_RUN.finditer(text):
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
    """BM25 terms of a question under an index's settings."""
    tokens = tokenize(query, config.bm25_tokenizer)
    return tokens + pinyin_query_tokens(query) if config.bm25_pinyin else tokens


_MARKUP = re.compile(r"(?m)^\s{0,3}#{1,6}\s+|\*\*|__|^\s*[-*>]\s+")


def snippet(text: str, limit: int = 60) -> str:
    """A passage's first `limit` characters on one line, without the source's Markdown marks (##, **)."""
    flat = re.sub(r"\s+", " ", _MARKUP.sub("", text)).strip()
    return flat if len(flat) <= limit else flat[:limit] + "…"
