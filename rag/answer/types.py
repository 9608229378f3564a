"""The answer layer's result: `Answer`, the `Citation`s it rests on, and its parts.

An `Answer` is data, not prose: its kind, short answer, the quoted sentences
(`citations`), per-part values (`parts`), the passages it was chosen from
(`hits`) and notice codes. The words around it ("资料中没有找到", notes on a
cut question or a corrected generator) are written by the CLI and the web
renderer from `rag.answer.messages`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.retrieval.retriever import Hit

# short: one fact, its span and the sentence holding it; parts: one short answer per sub-question;
# open: 2-4 sentences; conflict: two articles give different values; closest: a non-Chinese question,
# the nearest sentence, unconfirmed; generated: checked generator text; abstained: not in the articles.
KINDS = ("short", "parts", "open", "conflict", "closest", "generated", "abstained")


@dataclass(frozen=True)
class Citation:
    """A quoted sentence of an article that supports (part of) an answer; `[n]` in the text points here."""

    n: int
    chunk_id: str
    doc_id: str
    source: str
    title: str
    quote: str
    start: int  # [start, end) offsets of the quote in the article's text
    end: int
    headline: bool = False  # the quote is the article's printed headline, not a sentence of its body

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AnswerPart:
    """One value of a `parts` or `conflict` answer.

    `label` is the sub-question it answers ("" for a conflict's values);
    `short_answer` is None when the articles do not answer that part;
    `citation` is the `Citation.n` it rests on.
    """

    label: str
    short_answer: str | None
    citation: int | None

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Answer:
    """An answer, the citations it rests on, and the passages it came from.

    `text` is the answer's body: the short answer and the quoted sentences
    with `[n]` markers, no interface wording ("" when abstained).
    `notices` are codes of `rag.answer.messages.NOTICES`.
    """

    query: str
    text: str
    short_answer: str | None
    abstained: bool
    citations: tuple[Citation, ...]
    hits: tuple[Hit, ...] = ()
    answerer: str = "extractive"  # or "generative"
    resolved_query: str = ""  # the query after follow-up resolution
    notices: tuple[str, ...] = ()
    seconds: float = 0.0
    kind: str = "short"  # one of KINDS
    confidence: float | None = None  # the reader's margin over its abstention threshold (logits)
    probability: float | None = None  # for a short answer: the answer scorer's probability that it is right
    parts: tuple[AnswerPart, ...] = ()
    removed_sentences: int = 0  # generated sentences dropped by the grounding check

    def to_dict(self) -> dict:
        return {
            "query": self.query,
            "resolved_query": self.resolved_query or self.query,
            "text": self.text,
            "short_answer": self.short_answer,
            "abstained": self.abstained,
            "kind": self.kind,
            "confidence": self.confidence,
            "probability": self.probability,
            "answerer": self.answerer,
            "notices": list(self.notices),
            "removed_sentences": self.removed_sentences,
            "parts": [p.to_dict() for p in self.parts],
            "citations": [c.to_dict() for c in self.citations],
            "hits": [h.to_dict() for h in self.hits],
        }
