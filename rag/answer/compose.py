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
from dataclasses import dataclass, replace

from rag.answer.instructions import overlaps_instruction
from rag.answer.enumeration import items_in, opens_with_marker
from rag.answer.question import (SUMMARY_QUESTION, asked_about, asked_count, choice_sides, constraints, content_terms,
                                 question_parts, question_shape)
from rag.answer.score import ANSWER_AT, Candidate, coverage, probability, proximity
from rag.answer.span import Expected, complete, expected, expected_english, holds, role_titles, same_role, typed
from rag.answer.types import AnswerPart, Citation
from rag.reader import load_reader
from rag.retrieval.retriever import Hit, Retriever
from rag.text import (CJK_CHARS, ROLE, Sentence, bigram_tokens, has_cjk, pinyin_doc_tokens, pinyin_query_tokens,
                      sentences_in, to_simplified)

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
# factoid questions, whose answers are short spans. How far below the
# calibrated threshold, as a share of it: logits are not comparable between
# readers (threshold 3.26 for the 6-layer v2, 5.42 for the 12-layer v3, whose
# margins spread wider), so the floor scales with the threshold; the shares are
# v2's 2.0 and 1.5 logits over its 3.26. Not measured on held-out data (CMRC's
# open-looking questions, 如何/为什么, want short spans; 53 of the 606
# validation questions take this path): provisional.
OPEN_SLACK = 2.0 / 3.26
# ...and take further sentences down to this share of the threshold below that.
OPEN_SPREAD = 1.5 / 3.26


def _open_floor(threshold: float, spread: bool = False) -> float:
    """The lowest margin an open answer's sentences may have (`OPEN_SLACK`, `OPEN_SPREAD`)."""
    scale = max(threshold, 1.0)  # a threshold near or below 0 would put the floor nowhere
    return threshold - scale * (OPEN_SLACK + (OPEN_SPREAD if spread else 0.0))
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
    probability: float = 0.0  # the answer scorer's probability that this span is right (score.py)


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
    """Spans of `question` in `hits`, placed in their sentences (best first), and the threshold.

    The reader reads question and passages in simplified characters (it was trained on simplified
    text; DRCD's traditional text was converted): a Big5 archive's "高雄港…總投資金額" is read as
    "高雄港…总投资金额". The conversion keeps every offset, so spans are cut from the article's
    own text, in its own script.
    """
    texts, shifts = _passages(hits, retriever)
    reading = reader.read(to_simplified(question), [to_simplified(t, same_length=True) for t in texts],
                          max_spans=max_spans * 2)
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
        if not sents or any(overlaps_instruction(article.text, s.start, s.end) for s in sents):
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
    return _scored(question, found, reading.threshold, retriever), reading.threshold


SUPPORT_MAX = 2


def _support(f: _Found, found: list[_Found]) -> float:
    """Other sentences in which the reader found the same words (at most SUPPORT_MAX). Sentences, not
    passages: a headline is read above every passage of its article, and is one statement."""
    here = (f.hit.doc_id, f.sentence.start)
    return float(min(SUPPORT_MAX, len({(g.hit.doc_id, g.sentence.start) for g in found
                                       if g.text == f.text and (g.hit.doc_id, g.sentence.start) != here})))


def candidate_features(question_constraints: list[str], f: _Found, top_margin: float, threshold: float,
                       retriever: Retriever, want: Expected, found: list[_Found] = ()) -> Candidate:
    """The answer scorer's features of one span (see `rag.answer.score`)."""
    article = retriever.article(f.hit.doc_id)
    before = sentences_in(article.text, f.sentence.start - 1, f.sentence.start) if article is not None else []
    near = (article.text[before[0].start : f.sentence.end] if before and article.text[before[0].end : f.sentence.start].count("\n") < 2
            else f.sentence.text)
    near = f"{article.title if article is not None else f.hit.title}\n{near}"
    return Candidate(margin=f.margin - threshold, gap=f.margin - top_margin, rank=f.hit.rank,
                     article_coverage=coverage(question_constraints, _article_text(retriever, f.hit)),
                     sentence_coverage=coverage(question_constraints, near),
                     constrained=float(bool(question_constraints)), typed=typed(want, f.text),
                     proximity=_proximity(question_constraints, f, article), support=_support(f, found))


def answer_candidates(question: str, hits: list[Hit], retriever: Retriever, reader=None,
                      max_spans: int = 10) -> list[tuple[str, Candidate]]:
    """Every span the reader offers for a one-fact question that passes the span checks, with the
    answer scorer's features, best reader margin first: what `python -m evals.calibrate` fits on."""
    found, threshold = _read(reader or load_reader(), question, hits[:READ_PASSAGES], retriever, max_spans)
    if not found:
        return []
    wanted, want, top = constraints(question), expected(question), max(f.margin for f in found)
    found.sort(key=lambda f: -f.margin)
    return [(f.text, candidate_features(wanted, f, top, threshold, retriever, want, found)) for f in found]


def _proximity(question_constraints: list[str], f: _Found, article) -> float:
    if article is None:
        return 0.0
    at = article.text.find(f.text, f.sentence.start, f.sentence.end)
    if at < 0:
        return 0.0
    return proximity(question_constraints, f.sentence.text, at - f.sentence.start, at - f.sentence.start + len(f.text))


def _scored(question: str, found: list[_Found], threshold: float, retriever: Retriever) -> list[_Found]:
    """The spans with their probabilities, most probable first."""
    if not found:
        return found
    wanted, want = constraints(question), expected(question)
    top = max(f.margin for f in found)
    scored = [replace(f, probability=probability(candidate_features(wanted, f, top, threshold, retriever, want, found)))
              for f in found]
    return sorted(scored, key=lambda f: -f.probability)


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
    repeats); None when the headline is not printed in the text (a .jsonl or <title> title).

    A title of several printed lines is read joined by spaces; a span that runs on from one line
    into the next ("青禾镇获评省级卫生乡镇 全镇群众…") is cut at the line's end, as a span across
    a paragraph break of the body is never an answer either."""
    words = words.strip()
    cuts = [m.start() for m in re.finditer(" ", words)][::-1]  # the longest part that is printed first
    for part in [words] + [words[:c].strip() for c in cuts]:
        for a, b in article.headline_spans if part else ():
            at = article.text.find(part, a, b)  # within the headline only: bounded by its length
            if at >= 0:
                return at, at + len(part)
    return None


def cite(n: int, h: Hit, s: Sentence, headline: bool = False) -> Citation:
    """Citation number `n`: sentence `s` of the article of passage `h` (or its printed headline)."""
    return Citation(n, h.chunk_id, h.doc_id, h.source, h.title, s.text, s.start, s.end, headline)


def _citation(n: int, f: _Found) -> Citation:
    return cite(n, f.hit, f.sentence, f.headline)


_DIGITS = re.compile(r"\d+(?:\.\d+)?|[零〇一二两三四五六七八九十百千万亿]+")


def _values(text: str) -> tuple[str, ...]:
    """The facts a span states that two sources can disagree on: its numbers, else its role titles
    ("原局长" / "原副局长")."""
    return tuple(_DIGITS.findall(text)) or tuple(m.group(0) for m in ROLE.finditer(text))


def _conflicting(best: _Found, others: list[_Found], threshold: float, question: str,
                 retriever: Retriever) -> _Found | None:
    """Another answer with a different number or role, nearly as sure as the best one, about the
    same subject: its article names every word of the question that the best one's article names
    (two roads built from one template, 南湾村道 and 北湾村道, are not two sources disagreeing).
    Within one article only roles count, and only when both sentences name every constraint of
    the question (one article calling a person 原司令 and later 原副司令)."""
    mine = _values(best.text)
    if not mine:
        return None
    best_text = _article_text(retriever, best.hit)
    named = [t for t in content_terms(question) if t in best_text]
    wanted = constraints(question)
    for f in others:
        if f.margin < threshold or best.margin - f.margin > CONFLICT_WINDOW:
            continue
        if not all(t in _article_text(retriever, f.hit) for t in named):
            continue
        theirs = _values(f.text)
        if not theirs or theirs == mine or f.text in best.text or best.text in f.text:
            continue
        if f.hit.doc_id != best.hit.doc_id:
            return f
        roles = not _DIGITS.search(best.text + f.text)
        if roles and wanted and f.sentence.start != best.sentence.start \
                and coverage(wanted, f.sentence.text) == coverage(wanted, best.sentence.text) == 1.0:
            return f
    return None


# A role title this many characters or fewer from the person it belongs to ("原副局长郑国华").
ROLE_NEXT_TO_NAME = 2


def _role_conflict(best: _Found, question: str, hits: list[Hit], retriever: Retriever) -> _Found | None:
    """Another retrieved sentence that gives the same person a different role title: a sentence
    naming every constraint of the question with a title next to a person it names ("原副局长郑国华"
    where the answer says "原局长郑国华"). Read from the text, not the reader: a second article
    that states another post is a disagreement whatever the reader's margin for it."""
    mine = role_titles(best.text)
    wanted = constraints(question)
    if not mine or not wanted:
        return None
    for h, s in _sentences_of(hits, retriever):
        if (h.doc_id, s.start) == (best.hit.doc_id, best.sentence.start) or coverage(wanted, s.text) < 1.0:
            continue
        for title, a, b in role_titles(s.text):
            near = any(0 <= s.text.find(c, b) - b <= ROLE_NEXT_TO_NAME or 0 <= a - (s.text.rfind(c, 0, a) + len(c))
                       <= ROLE_NEXT_TO_NAME for c in wanted if c in s.text and not ROLE.search(c))
            if near and not any(same_role(title, t) for t, _, _ in mine):
                return _Found(title, best.margin, h, s)
    return None


def _last_clause(span: str) -> str:
    """A value to show for a span that runs across a sentence end: the words after it."""
    return re.split(r"[。！？!?；;]", span)[-1] or span


# What "the passage's article" means to the checks that look beyond the passage (constraint coverage,
# the summary's subject, the names of an English question): its headline and at most this many
# characters either side of the passage. A news article is shorter (the longest in the seeds and the
# dev sets is under 4,000 characters); a 100,000-character one must not make every question that
# retrieves it slower than its passage would (issue 20).
ARTICLE_CONTEXT_CHARS = 4000


def _article_text(retriever: Retriever, hit: Hit) -> str:
    article = retriever.article(hit.doc_id)
    if article is None:
        return hit.text
    return f"{article.title}\n{article.text[max(0, hit.start - ARTICLE_CONTEXT_CHARS) : hit.end + ARTICLE_CONTEXT_CHARS]}"


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
    probability: float | None = None  # the answer scorer's probability of the short answer (score.py)


def _abstain(hits: list[Hit], confidence: float | None = None) -> Composed:
    return Composed("", None, (), "abstained", confidence)


# A sentence that only attributes a quote ("卢海燕说。") or is a few characters long says nothing
# on its own: never one of an open answer's sentences.
_FRAGMENT = re.compile(r"^[“”\"「」]?[^，。,]{0,12}(?:说|表示|介绍|告诉记者|坦言|笑着说)[。！!]?[”\"」]?$")
FRAGMENT_MIN_CHARS = 8
# Words that give a reason: a 为什么 question is answered by the sentence that has one.
_CAUSE = re.compile(r"因为|由于|为了|原因|所以|因此|导致|为此|目的是|旨在|以便|考虑到")


# A reason sentence shares at least this share of the question's other content words (the
# 为什么 question is about its event, not any event in the article that had a cause).
REASON_MIN_SHARE = 0.3


def _fragment(sentence: Sentence) -> bool:
    return len(re.findall(rf"[{CJK_CHARS}]", sentence.text)) < FRAGMENT_MIN_CHARS or bool(_FRAGMENT.match(sentence.text))


def _sentences_of(hits: list[Hit], retriever: Retriever) -> list[tuple[Hit, Sentence]]:
    """Every body sentence of the hits' passages (no headline, byline or planted instruction)."""
    out = []
    for h in hits:
        article = retriever.article(h.doc_id)
        if article is not None:
            out += [(h, s) for s in sentences_in(article.text, h.start, h.end)
                    if not article.in_label(s.start) and not overlaps_instruction(article.text, s.start, s.end)]
    return out


def _reasons(question: str, hits: list[Hit], retriever: Retriever, margin: float) -> list[_Found]:
    """Sentences of the top passages that give a reason (`_CAUSE`) about the question's subject: all
    of its constraints and at least one other content word of the question, best covered first."""
    wanted = constraints(question)
    terms = [t for t in content_terms(question) if not any(t in w for w in wanted)]
    scored = []
    for h, s in _sentences_of(hits, retriever):
        if not _CAUSE.search(s.text) or _fragment(s):
            continue
        article_cov = coverage(wanted, _article_text(retriever, h))
        shared = sum(1 for t in terms if t in s.text)
        if article_cov >= 1.0 and shared >= REASON_MIN_SHARE * len(terms):
            scored.append((shared / max(len(terms), 1) + coverage(wanted, s.text), -h.rank, h, s))
    scored.sort(key=lambda x: (-x[0], -x[1]))
    return [_Found("", margin, h, s) for _, _, h, s in scored]


def _compose_open(question: str, hits: list[Hit], retriever: Retriever, reader, reason: bool = False) -> Composed:
    found, threshold = _read(reader, question, hits, retriever, max_spans=20)
    found.sort(key=lambda f: -f.margin)  # sentences the reader rates, not one value: by margin
    found = [f for f in found if not _fragment(f.sentence)]
    if reason:
        # the sentences that give a reason first, then what the reader rates
        found = _reasons(question, hits, retriever, _open_floor(threshold))[:1] + found
    if not found or found[0].margin < _open_floor(threshold):
        return _abstain(hits, found[0].margin - threshold if found else None)
    chosen: list[_Found] = []
    for f in found:
        if f.margin < _open_floor(threshold, spread=True):
            break
        overlaps = any(c.hit.doc_id == f.hit.doc_id and c.sentence.start < f.sentence.end
                       and f.sentence.start < c.sentence.end for c in chosen)
        if not overlaps and _adds_information(f.sentence, [c.sentence for c in chosen]):
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
            if (not overlaps_instruction(article.text, s.start, s.end) and not article.in_label(s.start) and not _fragment(s)
                    and _adds_information(s, [c.sentence for c in chosen])):
                chosen.append(_Found("", chosen[0].margin, chosen[0].hit, s))
    chosen.sort(key=lambda f: (f.hit.rank, f.sentence.start))
    citations = tuple(_citation(i, f) for i, f in enumerate(chosen, 1))
    text = "\n".join(f"- {c.quote}[{c.n}]" for c in citations)
    return Composed(text, None, citations, "open", round(found[0].margin - threshold, 3))


LIST_MAX_ITEMS = 10
# How far after a sentence an enumeration it opens is followed (one long paragraph of markers
# must not make every sentence's scan reach its end: the scan stays linear in the passages).
LIST_SCAN_CHARS = 1500
# Category nouns that names end in: a list asked by one of these holds names of that kind.
_NAME_END = r"(村|镇|乡|县|市|省|区|旗|国|公司|企业|工程|项目|大桥|桥|路|站|厂|学校|医院|银行|大学)$"


def _paragraph_end(text: str, at: int) -> int:
    end = text.find("\n", at)
    return len(text) if end < 0 else end


def _following_enumeration_end(text: str, s: Sentence, limit: int) -> int | None:
    """Where an enumeration ends that opens the paragraph(s) after sentence `s`, when `s` ends its
    paragraph ("…初步确定了当前工作的重点。" / "“一是…二是…”", or one item per paragraph:
    "一是…" / "二是…" / "三是…"): the end of the last consecutive paragraph that opens with an
    ordinal marker, not beyond `limit`; None when `s` does not end its paragraph or no such
    paragraph follows."""
    limit = min(limit, len(text))
    end = _paragraph_end(text, s.end)
    if text[s.end : end].strip():
        return None
    last = None
    while end < limit:
        following = end
        while following < limit and text[following] in "\n\r \t\u3000\xa0":
            following += 1
        if following >= limit or not opens_with_marker(text, following):
            break
        end = last = min(_paragraph_end(text, following), limit)
    return last


def _compose_list(question: str, hits: list[Hit], retriever: Retriever, reader) -> Composed:
    """A list question: the items of an enumeration (`enumeration.items_in`) in the passages about
    the question's subject, each cited; an open answer when no sentence there enumerates.

    Among the sentences that open or hold an enumeration, the one chosen has as many items as the
    question says ("哪3件事"), then shares the most of the question's words (its own and the
    sentence before it: "确定了三项重点：一是…"), then was rated by the reader.
    """
    found, threshold = _read(reader, question, hits, retriever, max_spans=20)
    found.sort(key=lambda f: -f.margin)
    if not found or found[0].margin < _open_floor(threshold):
        return _abstain(hits, round(found[0].margin - threshold, 3) if found else None)
    wanted, count = constraints(question), asked_count(question)
    terms = [t for t in content_terms(question) if not any(t in w for w in wanted)]
    # "哪几个村", "哪些工程": the items are names of that kind ("西石村"), when the noun is one that
    # names end in; "哪3件事", "哪些措施" take any items
    named = re.search(rf"哪[^，,。？?]{{0,6}}?{_NAME_END[:-1]}", question)
    kind_end = named.group(1) if named else ""
    most = max(coverage(wanted, _article_text(retriever, h)) for h in hits)
    rated = {(f.hit.chunk_id, f.sentence.start) for f in found if f.margin >= _open_floor(threshold, spread=True)}
    best = None
    for h, s in _sentences_of(hits, retriever):
        if coverage(wanted, _article_text(retriever, h)) < most:
            continue  # another subject's enumeration
        article = retriever.article(h.doc_id)
        limit = s.start + LIST_SCAN_CHARS
        items = items_in(article.text, (s.start, s.end), min(_paragraph_end(article.text, s.end), limit))
        if not items:  # the sentence's own list first; else an enumeration in the paragraphs it leads into
            further = _following_enumeration_end(article.text, s, limit)
            items = items_in(article.text, (s.start, s.end), further) if further else []
        items = items[:LIST_MAX_ITEMS]
        if not items or (kind_end and not all(i.text.endswith(kind_end) for i in items)):
            continue
        before = [b for b in sentences_in(article.text, max(0, s.start - 200), s.start) if b.end <= s.start][-1:]
        near = article.text[before[0].start if before else s.start : s.end]  # the list's lead-in, too
        key = (count is None or len(items) == count, sum(1 for t in terms if t in near) + coverage(wanted, near),
               (h.chunk_id, s.start) in rated, -h.rank)
        if best is None or key > best[0]:
            best = (key, h, items)
    if best is None or best[0][1] == 0:
        return _compose_open(question, hits, retriever, reader)
    _, hit, items = best
    article = retriever.article(hit.doc_id)
    citations: list[Citation] = []
    lines = []
    for item in items:
        s = sentences_in(article.text, item.start, item.end)[0]
        c = next((c for c in citations if c.start == s.start), None)
        if c is None:
            c = cite(len(citations) + 1, hit, s)
            citations.append(c)
        lines.append(f"- {item.text}[{c.n}]")
    return Composed("\n".join(lines), "、".join(i.text for i in items), tuple(citations), "list",
                    round(found[0].margin - threshold, 3),
                    tuple(AnswerPart("", i.text, next(c.n for c in citations if c.start <= i.start < c.end))
                          for i in items))


SUMMARY_SENTENCES = (2, 4)


def _compose_summary(question: str, hits: list[Hit], retriever: Retriever) -> Composed:
    """"总结一下/概括…": 2–4 sentences of the article about the question's subject (the retrieved
    article that holds the most of its constraints), chosen for the question's words and for saying
    something new (greedy, maximal marginal relevance over character bigrams), in article order."""
    subject = SUMMARY_QUESTION.sub(" ", question)
    wanted, terms = constraints(subject), content_terms(subject)
    best = max(hits, key=lambda h: (coverage(wanted, _article_text(retriever, h)), -h.rank), default=None)
    if best is None or coverage(wanted, _article_text(retriever, best)) < 1.0:
        return _abstain(hits)
    article = retriever.article(best.doc_id)
    if article is None:
        return _abstain(hits)
    hit_ranges = [(h.start, h.end) for h in hits if h.doc_id == best.doc_id]
    scored = []
    for i, s in enumerate(sentences_in(article.text, 0, len(article.text))):
        if article.in_label(s.start) or overlaps_instruction(article.text, s.start, s.end) or _fragment(s):
            continue
        score = sum(1 for t in terms if t in s.text) / max(len(terms), 1) + coverage(wanted, s.text)
        score += 0.5 * any(a <= s.start < b for a, b in hit_ranges) + (0.3 if i < 3 else 0.0)
        scored.append((score, s))
    chosen: list[Sentence] = []
    for score, s in sorted(scored, key=lambda x: -x[0]):
        if len(chosen) >= SUMMARY_SENTENCES[1]:
            break
        if _adds_information(s, chosen):
            chosen.append(s)
    if len(chosen) < SUMMARY_SENTENCES[0]:
        return _abstain(hits)
    chosen.sort(key=lambda s: s.start)
    citations = tuple(cite(i, best, s) for i, s in enumerate(chosen, 1))
    return Composed("\n".join(f"- {c.quote}[{c.n}]" for c in citations), None, citations, "open", None)


def _compose_parts(parts: list[str], hits: list[Hit], retriever: Retriever, reader, k: int, mode) -> Composed:
    lines, citations, shorts, margins, values = [], [], [], [], []
    for part, member in zip(parts, _members(parts)):
        # each part on its own passages: the parts may be answered by different articles
        part_hits = _merge(retriever.search(part, k=k, mode=mode), hits)[:READ_PASSAGES]
        # the part differs from its sibling only by its member (吉家庄村 / 西马村): read the
        # passages that name it, when any do, so one village's answer is not given for both
        naming = [h for h in part_hits if member and member in f"{h.title}\n{h.text}"]
        part_hits = naming or part_hits
        found, threshold = _read(reader, part, part_hits, retriever, max_spans=3)
        label = part.rstrip("？?")
        if not found or found[0].probability < ANSWER_AT:
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
    if not found or found[0].probability < ANSWER_AT:
        return _abstain(hits, round(found[0].margin - threshold, 3) if found else None)
    best = found[0]
    confidence = round(best.margin - threshold, 3)
    other = _conflicting(best, found[1:], threshold, question, retriever)
    if other is None and expected(question).kind == "role":
        other = _role_conflict(best, question, hits, retriever)
    if other is not None:
        c1, c2 = _citation(1, best), _citation(2, other)
        values = [_last_clause(best.text), _last_clause(other.text)]
        titles = [role_titles(v) for v in values]
        if all(titles):  # two posts: shown alike ("原司令 / 原副司令", not "河北省军区原司令 / 原副司令")
            values = [t[-1][0] for t in titles]
        return Composed(f"{c1.quote}[1]\n{c2.quote}[2]", None, (c1, c2), "conflict", confidence,
                        (AnswerPart("", values[0], 1), AnswerPart("", values[1], 2)))
    c = _citation(1, best)
    p = round(best.probability, 3)
    if len(best.text) >= SHORT_SHARE * len(c.quote):  # the span is the sentence
        return Composed(f"{c.quote}[1]", best.text, (c,), "short", confidence, probability=p)
    return Composed(f"{best.text}。{c.quote}[1]", best.text, (c,), "short", confidence, probability=p)


# Options of an "A还是B" question are looked up as the longest end of the words before 还是 (and
# start of the words after it) that a retrieved sentence holds, at most this many characters.
CHOICE_MAX_CHARS = 12
# One option wins over the other when its best sentence and that sentence's article hold this much
# more of the question's constraints (`score.coverage`, summed); closer than that, both are shown
# with their sources.
CHOICE_MARGIN = 0.25


def _option(side: str, sentences: list[str], from_end: bool) -> str | None:
    """The option a side of 还是 names: its longest end (start) that some sentence holds, without
    a leading verb ("是2台4线" -> "2台4线") when the rest is held too; None when no sentence does."""
    for n in range(min(len(side), CHOICE_MAX_CHARS), 1, -1):
        option = side[-n:] if from_end else side[:n]
        if any(option in t for t in sentences):
            if from_end:
                m = re.search(r"[是为由在到用选去]([^是为由在到用选去]{2,})$", option)
                if m and any(m.group(1) in t for t in sentences):
                    option = m.group(1)
            return option
    return None


def _compose_choice(question: str, sides: tuple[str, str], hits: list[Hit], retriever: Retriever) -> Composed:
    """"A还是B？": the option that the retrieved sentences about the question's subject state, cited;
    both, each with its source, when articles about the same subject state each of them."""
    sentences = _sentences_of(hits, retriever)
    texts = [s.text for _, s in sentences]
    options = [o for o in (_option(sides[0], texts, True), _option(sides[1], texts, False)) if o]
    if not options:
        return _abstain(hits)
    rest = question
    for o in options:
        rest = rest.replace(o, " ")
    wanted = constraints(rest)
    support = []  # (option, coverage of its article and sentence, its hit, its sentence)
    for o in options:
        held = [(coverage(wanted, _article_text(retriever, h)) + coverage(wanted, s.text), -h.rank, h, s)
                for h, s in sentences if o in s.text]
        cov, _, h, s = max(held, key=lambda x: (x[0], x[1]))
        support.append((o, cov, h, s))
    support.sort(key=lambda x: -x[1])
    first = support[0]
    if len(support) == 1 or first[1] - support[1][1] >= CHOICE_MARGIN:
        c = cite(1, first[2], first[3])
        return Composed(f"{first[0]}。{c.quote}[1]", first[0], (c,), "short", None)
    second = support[1]
    if first[3] == second[3] and first[2].doc_id == second[2].doc_id:
        # one sentence states both: quote it (no short answer stitched from two pieces of it)
        c = cite(1, first[2], first[3])
        return Composed(f"{c.quote}[1]", None, (c,), "open", None)
    c1, c2 = cite(1, first[2], first[3]), cite(2, second[2], second[3])
    return Composed(f"{c1.quote}[1]\n{c2.quote}[2]", None, (c1, c2), "conflict", None,
                    (AnswerPart("", first[0], 1), AnswerPart("", second[0], 2)))


def _compose_closest(question: str, hits: list[Hit], retriever: Retriever) -> Composed:
    """A non-Chinese question: the sentence of the top passages whose closest clause (by the
    multilingual embedder) states a value of the kind asked ("how many" -> a number, "who" -> a
    name: `span.expected_english`), marked unconfirmed. Clauses, not whole sentences, are compared:
    a sentence on the right topic often holds the wrong number ("辖区有5120辆电动车，新建的充电桩可满足
    4000余辆" for "how many vehicles can the new piles serve"). No sentence with such a clause:
    abstain."""
    kind = expected_english(question)
    names = set(pinyin_query_tokens(question))  # the question's names, as pinyin bigrams
    top = hits[:CLOSEST_PASSAGES]
    if names:
        # the passages whose articles name most of them ("Quanshui Town" is not 石门镇)
        held = {h.chunk_id: len(names & set(pinyin_doc_tokens(_article_text(retriever, h)))) for h in top}
        top = [h for h in top if held[h.chunk_id] == max(held.values())]
    clauses: list[tuple[_Found, str]] = []
    for h, s in _sentences_of(top, retriever):
        for clause in re.split(r"[，,；;：:]", s.text):
            if len(clause) >= 4 and holds(kind, clause):
                clauses.append((_Found("", 0.0, h, s), clause))
    if not clauses:
        return _abstain(hits)
    q = retriever.encoder.encode_query([question])[0]
    sims = retriever.encoder.encode_documents([c for _, c in clauses]) @ q
    best = clauses[int(sims.argmax())][0]
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
    sides = choice_sides(question)
    if sides is not None:
        return _compose_choice(question, sides, top, retriever)
    parts = question_parts(question)
    if len(parts) > 1:
        return _compose_parts(parts, top, retriever, reader, k, mode)
    shape = question_shape(question)
    if shape == "list":
        return _compose_list(question, top, retriever, reader)
    if shape == "summary":
        return _compose_summary(question, top, retriever)
    if shape in ("open", "reason"):
        return _compose_open(question, top, retriever, reader, reason=shape == "reason")
    return _compose_fact(question, top, retriever, reader)
