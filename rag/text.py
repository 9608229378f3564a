"""Chinese text helpers shared by BM25, the answerer and the evals."""

from __future__ import annotations

import re
import threading

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
    raise ValueError(f"unknown tokenizer {kind!r}")


def squash(text: str) -> str:
    """Remove all white space (how the gold set compares strings)."""
    return re.sub(r"\s+", "", text)
