"""Composing an answer from retrieved passages: read -> compose -> verify.

retrieve -> read -> compose -> verify:

- retrieve: the retriever's top passages (hybrid by default);
- read: the trained reader (`rag.reader`) finds answer spans in the top
  `READ_PASSAGES` passages, each with a margin over its no-answer score;
- compose, by the question's shape (`question.py`):
  - one fact: the short answer, then the article sentence holding it,
    quoted with exact offsets and a `[n]` marker;
  - several parts (`A和B分别…`, two question words): each part read on its
    own passages and answered with its own citation;
  - open questions (`有哪些做法`, `为什么`, `怎么样`): 2–4 cited sentences
    that each add information;
  - when answers from different passages give different numbers, both are
    shown and cited instead of silently picking one;
- the reader abstains ("资料中没有找到") when the best margin is below the
  threshold calibrated on the reader's validation split (never on the dev
  gold set): "the articles do not say" beats a plausible guess.

The pipeline (`pipeline.py`) runs retrieval, follow-up resolution and the
optional generator around this.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

from rag.answer.instructions import INJECTION
from rag.answer.question import asked_about, content_terms, is_open_question, question_parts
from rag.answer.span import complete, expected
from rag.answer.types import AnswerPart, Citation
from rag.reader import load_reader
from rag.retrieval.retriever import Hit, Retriever
from rag.text import Sentence, bigram_tokens, has_cjk, sentences_in

log = logging.getLogger(__name__)

# Passages the reader reads per question: the retriever's top 5, where the
# evidence is for 98 % of dev questions (Hit@5) and 100 % of validation ones.
READ_PASSAGES = 5
# Open questions: how many sentences, and how much two quoted sentences may
# share (character bigrams) before the second adds nothing new.
OPEN_SENTENCES = (2, 4)
OPEN_MAX_OVERLAP = 0.5
# Open questions are answered by sentences the reader scores highly even
# when no single span clears the factoid threshold: the reader was trained on
# factoid questions, whose answers are short spans. Logit units below the
# calibrated threshold. Not measured on held-out data (CMRC's open-looking
# questions, 如何/为什么, want short spans; 53 of the 606 validation questions
# take this path): provisional.
OPEN_SLACK = 2.0
# ...and take further sentences down to this many logit units below that.
OPEN_SPREAD = 1.5
# Answers that disagree: a second number counts as a conflicting value when
# it, too, clears the threshold, comes from another article, and its margin is
# within this many logit units of the best one. On the validation split, where
# every question has one answer, windows of 3.0 / 2.0 / 1.5 / 1.0 / 0.5 fire on
# 12 / 8 / 7 / 7 / 4 of 606 questions (all false alarms); two test articles
# that really disagree (1.2亿 vs 1.8亿) differ by 0.9–1.2. 1.5 keeps those.
CONFLICT_WINDOW = 1.5

# Parts that differ by a name ("吉家庄村" / "西马村") are read on the passages
# naming it; a longer difference is a clause, not a name.
MEMBER_MAX_CHARS = 12
# A span this long relative to its sentence is not repeated before the quote.
SHORT_SHARE = 0.6

# Questions without Chinese characters: the reader was trained on Chinese
# questions only and does not read them reliably (README, English rows). They
# get the sentence of the top passages closest to the question in the
# multilingual embedder's space, labelled as unconfirmed, never a short answer.
CLOSEST_PASSAGES = 3


@dataclass(frozen=True)
class _Found:
    """A reader span placed in its article: the sentence that holds it."""

    text: str
    margin: float
    hit: Hit
    sentence: Sentence
    headline: bool = False  # the sentence is the article's printed headline


def _passages(hits: list[Hit], retriever: Retriever) -> tuple[list[str], list[int]]:
    """Reader inputs: headline + passage text; and where the passage text starts in each.

    The headline helps the reader know who "他" is; a span inside it is used only where the
    article prints that headline, and is then cited as the headline (`_in_headline`).
    """
    texts, shifts = [], []
    for h in hits:
        article = retriever.article(h.doc_id)
        body = article.text[h.start : h.end] if article is not None else h.text
        head = (h.title or "").strip()
        prefix = head + "\n" if head else ""
        texts.append(prefix + body)
        shifts.append(len(prefix))
    return texts, shifts


def _read(reader, question: str, hits: list[Hit], retriever: Retriever, max_spans: int = 10) -> tuple[list[_Found], float]:
    """Spans of `question` in `hits`, placed in their sentences (best first), and the threshold."""
    texts, shifts = _passages(hits, retriever)
    reading = reader.read(question, texts, max_spans=max_spans * 2)
    want, asked_noun = expected(question), asked_about(question)
    found: list[_Found] = []
    for sp in reading.spans:
        shift = shifts[sp.passage]
        hit = hits[sp.passage]
        article = retriever.article(hit.doc_id)
        if article is None:
            continue
        if sp.start < shift:  # in the title put before the passage: cited as the printed headline
            located = _in_headline(article, texts[sp.passage][sp.start : sp.end])
            if located is None:
                continue
            a, b = located
        else:
            a, b = hit.start + sp.start - shift, hit.start + sp.end - shift
            while a < b and article.text[a].isspace():  # a token's offsets may take in the line break before it
                a += 1
            while b > a and article.text[b - 1].isspace():
                b -= 1
        a = _out_of_byline(article, a, b)
        if a is None:
            continue  # inside the byline: a label, never an answer
        if "\n" in article.text[a:b]:
            continue  # across a paragraph break: the end of one statement and the start of another
        if article.text[a:b].strip() == asked_noun:
            continue  # the noun the question word asks about ("哪所大学" -> "大学") is no answer
        sents = sentences_in(article.text, a, b)
        if not sents or any(INJECTION.search(s.text) for s in sents):
            continue  # an instruction planted in an article is not a statement of fact
        if len(sents) > 1:
            sents = [Sentence(article.text[sents[0].start : sents[-1].end], sents[0].start, sents[-1].end)]
        completed = complete(article.text, a, b, (sents[0].start, sents[0].end), want)
        if completed is None:
            continue  # no value of the kind asked for (another unit, a duration for a year)
        a, b = completed
        found.append(_Found(article.text[a:b], sp.margin, hit, sents[0], article.in_headline(a)))
        if len(found) >= max_spans:
            break
    return found, reading.threshold


def _out_of_byline(article, start: int, end: int) -> int | None:
    """Where a span starts once the printed byline it starts in is cut off
    ("本报记者 林晓舟\n\n云岭果业公司" -> "云岭果业公司"); None when nothing of it is outside it."""
    while start < end and any(a <= start < b for a, b in article.byline_spans):
        start = next(b for a, b in article.byline_spans if a <= start < b)
        while start < end and article.text[start].isspace():
            start += 1
    return start if start < end else None


def _in_headline(article, words: str) -> tuple[int, int] | None:
    """Where a span the reader found in the title put before a passage stands in the article's
    printed headline (quoted and marked as the headline: a headline can state a fact no sentence
    repeats); None when the headline is not printed in the text (a .jsonl or <title> title)."""
    words = words.strip()
    at = article.text.find(words) if words else -1
    while at >= 0:
        if article.in_headline(at) and article.in_headline(at + len(words) - 1):
            return at, at + len(words)
        at = article.text.find(words, at + 1)
    return None


def cite(n: int, h: Hit, s: Sentence, headline: bool = False) -> Citation:
    """Citation number `n`: sentence `s` of the article of passage `h` (or its printed headline)."""
    return Citation(n, h.chunk_id, h.doc_id, h.source, h.title, s.text, s.start, s.end, headline)


def _citation(n: int, f: _Found) -> Citation:
    return cite(n, f.hit, f.sentence, f.headline)


_DIGITS = re.compile(r"\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万亿]+")


def _numbers(text: str) -> tuple[str, ...]:
    return tuple(_DIGITS.findall(text))


def _conflicting(best: _Found, others: list[_Found], threshold: float, question: str,
                 retriever: Retriever) -> _Found | None:
    """Another article's answer with a different number, nearly as sure as the best one, about the
    same subject: its article names every word of the question that the best one's article names
    (two roads built from one template, 南湾村道 and 北湾村道, are not two sources disagreeing)."""
    mine = _numbers(best.text)
    if not mine:
        return None
    best_text = _article_text(retriever, best.hit)
    named = [t for t in content_terms(question) if t in best_text]
    for f in others:
        if f.margin < threshold or best.margin - f.margin > CONFLICT_WINDOW:
            continue
        if not all(t in _article_text(retriever, f.hit) for t in named):
            continue
        theirs = _numbers(f.text)
        if theirs and theirs != mine and f.hit.doc_id != best.hit.doc_id and f.text not in best.text \
                and best.text not in f.text:
            return f
    return None


def _article_text(retriever: Retriever, hit: Hit) -> str:
    article = retriever.article(hit.doc_id)
    return f"{article.title}\n{article.text}" if article is not None else hit.text


def _adds_information(candidate: Sentence, chosen: list[Sentence]) -> bool:
    grams = set(bigram_tokens(candidate.text))
    if not grams:
        return False
    return all(len(grams & set(bigram_tokens(c.text))) / len(grams) < OPEN_MAX_OVERLAP for c in chosen)


@dataclass(frozen=True)
class Composed:
    """What the compose step decided, before the pipeline wraps it into an `Answer`."""

    text: str
    short: str | None
    citations: tuple[Citation, ...]
    kind: str
    confidence: float | None
    parts: tuple[AnswerPart, ...] = ()
    notices: tuple[str, ...] = ()


def _abstain(hits: list[Hit], confidence: float | None = None) -> Composed:
    return Composed("", None, (), "abstained", confidence)


def _compose_open(question: str, hits: list[Hit], retriever: Retriever, reader) -> Composed:
    found, threshold = _read(reader, question, hits, retriever, max_spans=20)
    if not found or found[0].margin < threshold - OPEN_SLACK:
        return _abstain(hits, found[0].margin - threshold if found else None)
    chosen: list[_Found] = []
    for f in found:
        if f.margin < threshold - OPEN_SLACK - OPEN_SPREAD:
            break
        if _adds_information(f.sentence, [c.sentence for c in chosen]):
            chosen.append(f)
        if len(chosen) >= OPEN_SENTENCES[1]:
            break
    if not chosen:
        return _abstain(hits, round(found[0].margin - threshold, 3))
    if len(chosen) < OPEN_SENTENCES[0]:
        # the best sentence's neighbours in its article carry the explanation on
        article = retriever.article(chosen[0].hit.doc_id)
        for s in sentences_in(article.text, chosen[0].sentence.end, chosen[0].hit.end):
            if len(chosen) >= OPEN_SENTENCES[0]:
                break
            if (not INJECTION.search(s.text) and not article.in_label(s.start)
                    and _adds_information(s, [c.sentence for c in chosen])):
                chosen.append(_Found("", chosen[0].margin, chosen[0].hit, s))
    chosen.sort(key=lambda f: (f.hit.rank, f.sentence.start))
    citations = tuple(_citation(i, f) for i, f in enumerate(chosen, 1))
    text = "\n".join(f"- {c.quote}[{c.n}]" for c in citations)
    return Composed(text, None, citations, "open", round(found[0].margin - threshold, 3))


def _compose_parts(parts: list[str], hits: list[Hit], retriever: Retriever, reader, k: int, mode) -> Composed:
    lines, citations, shorts, margins, values = [], [], [], [], []
    for part, member in zip(parts, _members(parts)):
        # each part on its own passages: the parts may be answered by different articles
        part_hits = _merge(retriever.search(part, k=k, mode=mode), hits)[:READ_PASSAGES]
        # the part differs from its sibling only by its member (吉家庄村 / 西马村): read the
        # passages that name it, when any do, so one village's answer is not given for both
        naming = [h for h in part_hits if member and member in f"{h.title}\n{h.text}"]
        part_hits = naming or part_hits
        found, threshold = _read(reader, part, part_hits, retriever, max_spans=1)
        label = part.rstrip("？?")
        if not found or found[0].margin < threshold:
            values.append(AnswerPart(label, None, None))  # the renderers say it is not in the articles
            continue
        f = found[0]
        margins.append(f.margin - threshold)
        same = next((c for c in citations if c.doc_id == f.hit.doc_id and c.start == f.sentence.start), None)
        cite = same or _citation(len(citations) + 1, f)
        if same is None:
            citations.append(cite)
        shorts.append(f.text)
        values.append(AnswerPart(label, f.text, cite.n))
        lines.append(f"{label}：{f.text}。{cite.quote}[{cite.n}]")
    if not citations:
        return _abstain(hits)
    return Composed("\n".join(lines), "；".join(shorts), tuple(citations), "parts", round(min(margins), 3),
                    tuple(values))


def _members(parts: list[str]) -> list[str]:
    """What each part says that the others do not: the text between their common
    prefix and suffix ("" when that is a whole clause rather than a name)."""
    if len(parts) < 2:
        return [""] * len(parts)
    prefix = len(os.path.commonprefix(parts))
    suffix = len(os.path.commonprefix([p[::-1] for p in parts]))
    out = []
    for p in parts:
        member = p[prefix : max(prefix, len(p) - suffix)]
        out.append(member if 2 <= len(member) <= MEMBER_MAX_CHARS else "")
    return out


def _merge(first: list[Hit], second: list[Hit]) -> list[Hit]:
    seen, out = set(), []
    for h in [*first, *second]:
        if h.chunk_id not in seen:
            seen.add(h.chunk_id)
            out.append(h)
    return out


def _compose_fact(question: str, hits: list[Hit], retriever: Retriever, reader) -> Composed:
    found, threshold = _read(reader, question, hits, retriever)
    if not found or found[0].margin < threshold:
        return _abstain(hits, round(found[0].margin - threshold, 3) if found else None)
    best = found[0]
    confidence = round(best.margin - threshold, 3)
    other = _conflicting(best, found[1:], threshold, question, retriever)
    if other is not None:
        c1, c2 = _citation(1, best), _citation(2, other)
        return Composed(f"{c1.quote}[1]\n{c2.quote}[2]", None, (c1, c2), "conflict", confidence,
                        (AnswerPart("", best.text, 1), AnswerPart("", other.text, 2)))
    c = _citation(1, best)
    if len(best.text) >= SHORT_SHARE * len(c.quote):
        return Composed(f"{c.quote}[1]", best.text, (c,), "short", confidence)  # the span is the sentence
    return Composed(f"{best.text}。{c.quote}[1]", best.text, (c,), "short", confidence)


def _compose_closest(question: str, hits: list[Hit], retriever: Retriever) -> Composed:
    """A non-Chinese question: the closest sentence by the multilingual embedder, marked unconfirmed."""
    candidates: list[_Found] = []
    for h in hits[:CLOSEST_PASSAGES]:
        article = retriever.article(h.doc_id)
        if article is None:
            continue
        for s in sentences_in(article.text, h.start, h.end):
            if not INJECTION.search(s.text) and not article.in_label(s.start):
                candidates.append(_Found("", 0.0, h, s))
    if not candidates:
        return _abstain(hits)
    q = retriever.encoder.encode_query([question])[0]
    sims = retriever.encoder.encode_documents([c.sentence.text for c in candidates]) @ q
    best = candidates[int(sims.argmax())]
    c = _citation(1, best)
    return Composed(f"{c.quote}[1]", None, (c,), "closest", None, notices=("closest_sentence",))


def compose_answer(question: str, hits: list[Hit], retriever: Retriever, reader=None, k: int = 5,
                   mode: str | None = None) -> Composed:
    """Read the passages and compose the answer for the question's shape.

    Args:
        question: the (resolved) question.
        hits: the retrieved passages, best first; the top READ_PASSAGES are read.
        reader: a loaded `Reader` (default: the shipped one).
        k, mode: retrieval settings for the sub-questions of a several-part question.
    """
    reader = reader or load_reader()
    top = hits[:READ_PASSAGES]
    if not top:
        return _abstain(hits)
    if not has_cjk(question):
        return _compose_closest(question, top, retriever)
    parts = question_parts(question)
    if len(parts) > 1:
        return _compose_parts(parts, top, retriever, reader, k, mode)
    if is_open_question(question):
        return _compose_open(question, top, retriever, reader)
    return _compose_fact(question, top, retriever, reader)
