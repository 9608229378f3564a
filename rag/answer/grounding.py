"""The grounding check: a generated sentence reaches the user only if the
passage it cites supports it.

A sentence is supported when it cites at least one retrieved passage by
`[n]`, every number in it appears in the cited passage(s), every person,
place and organisation name (jieba ns/nr/nt) appears there too, and at least
`MIN_OVERLAP` of its Chinese character bigrams occur in the cited text.
Unsupported sentences are removed and the answer says how many; if nothing
survives, the extractive answer is given instead, with a note saying so.

Checking works sentence by sentence while the generator streams, so the user
sees verified sentences as they complete, never unverified text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from rag.answer.generate import build_messages
from rag.answer.instructions import without_instructions
from rag.answer.messages import NOT_FOUND
from rag.retrieval.retriever import Hit
from rag.text import Sentence, cjk_bigrams, names, sentences_in

MIN_OVERLAP = 0.6
_MARKER = re.compile(r"\[(\d{1,2})\]")
_SENTENCE = re.compile(r"[^。！？!?\n]*[。！？!?\n]+(?:\s*\[\d{1,2}\])*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


@dataclass(frozen=True)
class Verdict:
    sentence: str  # without markers
    cited: tuple[int, ...]
    supported: bool
    reason: str = ""


def _bigrams(text: str) -> set[str]:
    return set(cjk_bigrams(text))


def check_sentence(sentence: str, hits: list[Hit]) -> Verdict:
    """Is one generated sentence supported by the text of the passages it cites?"""
    cited = tuple(int(n) for n in _MARKER.findall(sentence))
    body = _MARKER.sub("", sentence).strip()
    if not cited:
        return Verdict(body, cited, False, "cites no passage")
    if any(n < 1 or n > len(hits) for n in cited):
        return Verdict(body, cited, False, "cites a passage that does not exist")
    # Headlines are labels, not statements: a sentence that only repeats one
    # (a base model echoing "《标题》[1]") answers nothing.
    bare = re.sub(r"[《》“”\"'\s。！？!?，,]", "", body)
    if not bare or any(bare in re.sub(r"[《》“”\"'\s。！？!?，,]", "", hits[n - 1].title) for n in set(cited)):
        return Verdict(body, cited, False, "only repeats a headline")
    source = "\n".join(hits[n - 1].text for n in set(cited))
    source = without_instructions(source, " ")
    flat = re.sub(r"[\s,，]", "", source)
    passage_sentences = [x for x in re.split(r"(?<=[。！？!?；;\n])", source) if x.strip()]
    for clause in re.split(r"[，,；;：:]", body):
        for num in _NUMBER.findall(clause.replace(",", "")):
            if num not in flat:
                return Verdict(body, cited, False, f"number {num} is not in the cited passage")
            # the number must stand in a passage sentence that says what this clause says:
            # "站前广场占地12000平方米" is wrong when 12000 belongs to a car park
            grams = _bigrams(clause)
            homes = [x for x in passage_sentences if num in re.sub(r"[\s,，]", "", x)]
            best = max((len(grams & _bigrams(x)) / len(grams) for x in homes), default=1.0) if grams else 1.0
            if best < 0.5:
                return Verdict(body, cited, False, f"number {num} belongs to another statement in the passage")
    for name in names(body):
        if name not in source:
            return Verdict(body, cited, False, f"name {name} is not in the cited passage")
    grams = _bigrams(body)
    if not grams:
        return Verdict(body, cited, False, "no Chinese text to check against the passage")
    overlap = len(grams & _bigrams(source)) / len(grams)
    if overlap < MIN_OVERLAP:
        return Verdict(body, cited, False, f"only {overlap:.0%} of it appears in the cited passage")
    return Verdict(body, cited, True)


def _complete_sentences(buf: str, final: bool) -> tuple[list[str], str]:
    """Split off the sentences of a stream buffer that are complete, markers included."""
    out, pos = [], 0
    for m in _SENTENCE.finditer(buf):
        rest = buf[m.end():]
        if not final and (not rest.strip() or rest.lstrip().startswith("[")):
            break  # its [n] markers may still be coming
        if m.group(0).strip():
            out.append(m.group(0))
        pos = m.end()
    tail = buf[pos:]
    if final and tail.strip():
        out.append(tail)
        tail = ""
    return out, tail


def _best_quote(body: str, hit: Hit, retriever):
    """The article sentence of a cited passage that a generated sentence rests on."""
    article = retriever.article(hit.doc_id)
    sents = sentences_in(article.text, hit.start, hit.end) if article else []
    if not sents:
        return None
    grams = _bigrams(body)
    return max(sents, key=lambda s: len(grams & _bigrams(s.text)) / (len(_bigrams(s.text)) or 1) + len(grams & _bigrams(s.text)))


@dataclass(frozen=True)
class GroundedDraft:
    """What survived the check: the visible text and, per citation number, the
    cited passage and the article sentence the generated text rests on."""

    text: str
    sources: tuple[tuple[int, Hit, Sentence], ...]  # (citation number, hit, quoted sentence)
    removed: int
    generator_abstained: bool


def grounded_generation(query: str, hits: list[Hit], retriever, generator, max_tokens: int = 256) -> Iterator:
    """Stream a checked generated answer.

    Yields the visible answer text as it grows (str), then a `GroundedDraft`.
    An empty draft (nothing kept) tells the answer layer to answer with the
    reader instead.
    """
    messages = build_messages(query, [(h.title, h.text) for h in hits])
    kept: list[Verdict] = []
    removed: list[Verdict] = []
    generator_abstained = False
    shown = ""
    buf = ""
    numbering: dict[int, int] = {}  # passage number -> citation number
    sources: list[tuple[int, Hit, Sentence]] = []

    def accept(sentence: str) -> None:
        nonlocal generator_abstained, shown
        if NOT_FOUND in sentence and not kept:
            generator_abstained = True
            return
        verdict = check_sentence(sentence, hits)
        if not verdict.supported:
            removed.append(verdict)
            return
        kept.append(verdict)
        marks = ""
        for n in dict.fromkeys(verdict.cited):
            if n not in numbering:
                hit = hits[n - 1]
                quote = _best_quote(verdict.sentence, hit, retriever)
                if quote is None:
                    continue
                numbering[n] = len(sources) + 1
                sources.append((numbering[n], hit, quote))
            marks += f"[{numbering[n]}]"
        shown += verdict.sentence + marks

    max_tokens = getattr(generator, "max_tokens", None) or max_tokens
    for piece in generator.stream(messages, max_tokens=max_tokens):
        buf += piece
        done, buf = _complete_sentences(buf, final=False)
        before = shown
        for s in done:
            accept(s)
        if shown != before:
            yield shown
    done, buf = _complete_sentences(buf, final=True)
    for s in done:
        accept(s)
    yield GroundedDraft(shown if kept else "", tuple(sources) if kept else (), len(removed), generator_abstained)
