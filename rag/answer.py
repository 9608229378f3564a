"""Answers with verified citations: `ask(query, retriever=...)` -> `Answer`.

The default answerer is extractive: it never writes a word that is not in an
article. It scores every sentence of the retrieved passages by how much of
the question's content (IDF-weighted words; pinyin bigrams for English
names) it and its neighbours contain, whether it holds a span of the asked-for
type (number, date, person, place, organisation), and the passage's
retrieval rank; it quotes the best sentence(s) with `[n]` markers and, for
typed questions, puts the extracted span first.

It abstains when the best sentence's neighbourhood covers too little of the
question (threshold calibrated on the dev gold set, see README) or when a
typed question finds no span of that type: "the articles do not say" beats a
plausible guess for people who cite what we show them.

A generator (see `generate.py`) may write the answer instead; every sentence
it writes is checked against the passage it cites (`grounding.py`).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from .extract import (
    INJECTION,
    SPAN_TYPES,
    Sentence,
    best_span,
    candidate_spans,
    pinyin_set,
    question_terms,
    question_type,
    sentences_in,
    term_present,
)
from .retriever import MAX_QUERY_CHARS, Hit, Retriever, article_link, clean_query

log = logging.getLogger(__name__)

# Calibrated on evals/gold_dev.jsonl (see README "Abstention"): below this
# IDF-weighted coverage of the question's content words the articles are
# taken not to answer it.
ABSTAIN_COVERAGE = 0.47
NOT_FOUND = "资料中没有找到"


@dataclass(frozen=True)
class Citation:
    """A quoted sentence of an article that supports (part of) an answer."""

    n: int
    chunk_id: str
    doc_id: str
    source: str
    title: str
    quote: str
    start: int  # offsets of the quote in the article
    end: int
    link: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Answer:
    """An answer, the citations it rests on, and the passages it came from."""

    query: str
    text: str
    short_answer: str | None
    abstained: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...] = ()
    answerer: str = "extractive"
    resolved_query: str = ""  # the query after follow-up resolution
    notices: tuple[str, ...] = ()  # e.g. "question cut", "generator fell back"
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "resolved_query": self.resolved_query or self.query,
            "text": self.text,
            "short_answer": self.short_answer,
            "abstained": self.abstained,
            "answerer": self.answerer,
            "notices": list(self.notices),
            "citations": [c.to_dict() for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
        }


@dataclass
class _Candidate:
    sentence: Sentence
    hit: Hit
    coverage: float  # of the sentence alone
    window: float  # of the sentence with its neighbours
    typed: float  # 1 if it holds a span of the asked-for type (0.5 if a weak one)
    score: float = 0.0
    extra: dict = field(default_factory=dict)


def _coverage(terms: list[str], weights: dict[str, float], text: str, pinyin) -> float:
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    got = 0.0
    for t in terms:
        if term_present(t, text, pinyin):
            got += weights[t]
        elif len(t) >= 3 and not t.startswith("py_"):
            pieces = [t[i : i + 2] for i in range(len(t) - 1)]
            got += 0.7 * weights[t] * sum(p in text for p in pieces) / len(pieces)
    return got / total


def _idf(retriever: Retriever, terms: list[str]) -> dict[str, float]:
    import math

    chunks = retriever.chunks
    n = len(chunks)
    bm25 = retriever.index.bm25
    out = {}
    for t in terms:
        if t.startswith("py_"):
            tid = bm25.vocab_dict.get(t)
            indptr = bm25.scores["indptr"]
            df = int(indptr[tid + 1] - indptr[tid]) if tid is not None else 0
        else:
            df = sum(1 for c in chunks if t in c.text or t in c.title)
        out[t] = math.log((n + 1) / (df + 0.5))
    return out


def _ranking_weights(terms, weights, focus, sentences: list[str]) -> dict[str, float]:
    """Sharpen global IDF for choosing among candidate sentences.

    Words of the question's topic (李国平, 小常村) recur in many sentences of
    the retrieved passages; the attribute asked about (销售收入) in few. Local
    rarity over the candidate sentences separates them; the focus term next to
    the question word counts extra.
    """
    import math

    m = len(sentences)
    out = {}
    for t in terms:
        if t.startswith("py_"):
            out[t] = weights[t]
            continue
        local = sum(1 for s in sentences if t in s)
        rarity = math.log((m + 1) / (local + 1)) / math.log(m + 1) if m else 0.0
        out[t] = weights[t] * (0.5 + rarity) * (1.5 if t in focus else 1.0)
    return out


def _candidates(query: str, qtype: str, terms: list[str], weights, hits: list[Hit], retriever: Retriever,
                focus: set[str] = frozenset()) -> list[_Candidate]:
    english = not re.search(r"[\u4e00-\u9fff]", query)
    seen: set[tuple[str, int]] = set()
    out: list[_Candidate] = []
    passages = []  # (hit, its sentences), once per hit
    for hit in hits:
        article = retriever.article(hit.doc_id)
        if article is not None:
            passages.append((hit, sentences_in(article.text, hit.start, hit.end)))
    pool = list(dict.fromkeys(s.text for _, sents in passages for s in sents))
    rank_weights = _ranking_weights(terms, weights, focus, pool)
    for hit, sents in passages:
        # English questions match by pinyin: the passage's pinyin once, not per sentence
        py_hit = pinyin_set(f"{hit.title}\n{hit.text}") if english else None
        for i, s in enumerate(sents):
            key = (hit.doc_id, s.start)
            if key in seen or INJECTION.search(s.text):
                continue  # an instruction planted in an article is not a statement of fact
            seen.add(key)
            window = "".join(x.text for x in sents[max(0, i - 1) : i + 2])
            py_s = pinyin_set(s.text) if english else None
            py_w = pinyin_set(window) if english else None
            cov = _coverage(terms, rank_weights, s.text, py_s)
            win = _coverage(terms, rank_weights, window, py_w)
            # Is the question's topic in this passage at all, and its attribute
            # near this sentence? Topic words may sit anywhere in the passage.
            context = f"{hit.title}\n{hit.text}\n{window}"
            support = _coverage(terms, weights, context, (py_hit | py_w) if english else None)
            typed = 0.0
            if qtype in SPAN_TYPES:
                spans = candidate_spans(s.text, query, qtype)
                fit = 1.0 if qtype in ("place", "org", "person") else max(b for _, b in spans) if spans else 0.0
                typed = min(1.0, max(0.5, fit)) if spans else 0.0
            neighbours = [x for x in (sents[i - 1] if i > 0 else None, sents[i + 1] if i + 1 < len(sents) else None)
                          if x and not INJECTION.search(x.text)]
            out.append(_Candidate(s, hit, cov, win, typed, extra={"support": support, "neighbours": neighbours}))
    if english and out:
        _add_dense(query, out, retriever)
    for c in out:
        c.score = c.coverage + 0.5 * c.window + 0.8 * c.typed + 0.3 / (c.hit.rank + 1) + c.extra.get("dense", 0.0)
    out.sort(key=lambda c: -c.score)
    return out


def _add_dense(query: str, cands: list[_Candidate], retriever: Retriever) -> None:
    """English questions: lexical overlap is blind, so let the embedder rank sentences."""
    import numpy as np

    from .embedding import encode_documents, encode_query

    top = sorted(cands, key=lambda c: (c.hit.rank, c.sentence.start))[:24]
    q = encode_query(retriever.embedder, query)
    sims = encode_documents(retriever.embedder, [c.sentence.text for c in top]) @ q
    lo, hi = float(np.min(sims)), float(np.max(sims))
    for c, s in zip(top, sims):
        c.extra["dense"] = 1.0 * (float(s) - lo) / (hi - lo + 1e-6)


def _citation(n: int, cand: _Candidate) -> Citation:
    h, s = cand.hit, cand.sentence
    return Citation(n, h.chunk_id, h.doc_id, h.source, h.title, s.text, s.start, s.end, article_link(h.doc_id, s.start, s.end))


def _abstain_text(query: str, hits: list[Hit]) -> str:
    lines = [f"{NOT_FOUND}“{query}”的答案：检索到的文章里没有能回答这个问题的句子。"]
    if hits:
        lines.append("可能相关的段落（possibly related）：")
        for h in hits[:3]:
            snippet = h.text.replace("\n", " ")[:60]
            lines.append(f"- {h.title}（{h.source}）：{snippet}…")
    return "\n".join(lines)


def extractive_answer(query: str, hits: list[Hit], retriever: Retriever) -> tuple[str, str | None, bool, list[Citation]]:
    """(text, short answer, abstained, citations) from retrieved passages only."""
    qtype = question_type(query)
    terms, focus = question_terms(query)
    weights = _idf(retriever, terms)
    cands = _candidates(query, qtype, terms, weights, hits, retriever, focus)
    if not cands:
        return _abstain_text(query, hits), None, True, []
    best = cands[0]
    if qtype in SPAN_TYPES and best.typed == 0:
        # A typed question is answered by a span: prefer a sentence that has one,
        # unless the best sentence's neighbour holds it (handled below).
        typed = [c for c in cands if c.typed > 0 and c.score >= 0.7 * best.score]
        if typed and not any(best_span(nb.text, query, qtype, terms) for nb in best.extra["neighbours"]):
            best = typed[0]
    english = not re.search(r"[\u4e00-\u9fff]", query)
    support = best.extra["support"]
    if terms and not english and support < ABSTAIN_COVERAGE:
        return _abstain_text(query, hits), None, True, []
    short = None
    chosen = [best]
    if qtype in SPAN_TYPES:
        span = best_span(best.sentence.text, query, qtype, terms)
        if span is None:
            # "那天，…社区成立": the span may sit in the sentence next to it
            for nb in best.extra["neighbours"]:
                span = best_span(nb.text, query, qtype, terms)
                if span is not None:
                    other = _Candidate(nb, best.hit, 0.0, 0.0, 1.0)
                    chosen = sorted([best, other], key=lambda c: c.sentence.start)
                    break
        if span is None:
            return _abstain_text(query, hits), None, True, []
        short = span.text
    if len(chosen) == 1 and qtype in ("list", "reason"):
        for c in cands[1:3]:
            if c.score >= 0.85 * best.score and c.sentence.text != best.sentence.text:
                chosen.append(c)
                break
    citations = [_citation(i, c) for i, c in enumerate(chosen, 1)]
    body = "".join(f"{c.quote}[{c.n}]" for c in citations)
    text = f"{short}。{body}" if short else body
    return text, short, False, citations


def ask(
    query: str,
    retriever: Retriever,
    k: int | None = None,
    mode: str | None = None,
    history: list | None = None,
    generator=None,
) -> Answer:
    """Answer a question from the articles, with citations.

    Args:
        query: the question.
        retriever: a loaded `Retriever`.
        k: passages to retrieve (default from the retriever's config).
        mode: "hybrid", "dense" or "bm25".
        history: earlier turns, as Gradio-style {"role", "content"} messages
            or (user, assistant) pairs; used to resolve follow-up questions.
        generator: optional `Generator`; its answer is checked sentence by
            sentence and falls back to the extractive answer if nothing holds.
    Returns:
        Answer
    Raises:
        ValueError: an empty or unusable question.
    """
    answer = None
    for event in ask_stream(query, retriever, k=k, mode=mode, history=history, generator=generator):
        if isinstance(event, Answer):
            answer = event
    assert answer is not None
    return answer


def ask_stream(
    query: str,
    retriever: Retriever,
    k: int | None = None,
    mode: str | None = None,
    history: list | None = None,
    generator=None,
) -> Iterator[str | Answer]:
    """Like `ask`, but yields the answer text as it grows (str), then the `Answer`."""
    from .conversation import resolve_followup

    t0 = time.perf_counter()
    notices = []
    raw = query if isinstance(query, str) else ""
    if isinstance(query, str) and len(query.strip()) > MAX_QUERY_CHARS:
        notices.append(f"问题过长，只使用了前 {MAX_QUERY_CHARS} 个字符。")
    query = clean_query(query)
    resolved = resolve_followup(query, history or [])
    k = k or retriever.config.k
    hits = retriever.search(resolved, k=k, mode=mode)
    if generator is not None:
        from .grounding import grounded_generation

        result = None
        for event in grounded_generation(resolved, hits, retriever, generator):
            if isinstance(event, str):
                yield event
            else:
                result = event
        text, short, abstained, citations, gen_notices = result
        notices.extend(gen_notices)
        answerer = "generative" if not any("抽取式" in n for n in gen_notices) else "extractive"
    else:
        text, short, abstained, citations = extractive_answer(resolved, hits, retriever)
        answerer = "extractive"
        for i in range(0, len(text), 24):  # the text is ready; stream it for a live UI
            yield text[: i + 24]
    yield Answer(
        query=raw.strip() or query,
        text=text,
        short_answer=short,
        abstained=abstained,
        citations=tuple(citations),
        hits=tuple(hits),
        answerer=answerer,
        resolved_query=resolved,
        notices=tuple(notices),
        seconds=time.perf_counter() - t0,
    )
