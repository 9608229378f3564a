"""The answer pipeline: `ask(query, retriever=...)` -> `Answer`.

clean the question -> resolve a follow-up from the history -> retrieve ->
(optionally) generate and check every sentence against the passage it cites
(`grounding.py`) -> otherwise, or when nothing generated holds, read and
compose with the trained reader (`compose.py`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from rag.answer.compose import Composed, cite, compose_answer
from rag.answer.conversation import resolve_followup
from rag.answer.types import Answer
from rag.reader import load_reader
from rag.retrieval.query import MAX_QUERY_CHARS, normalize_query
from rag.retrieval.retriever import Hit, Retriever

log = logging.getLogger(__name__)

def _to_answer(c: Composed, query: str, hits: list[Hit], seconds: float, resolved: str = "",
               notices: tuple[str, ...] = (), answerer: str = "extractive", removed: int = 0) -> Answer:
    return Answer(query=query, text=c.text, short_answer=c.short, abstained=c.kind == "abstained",
                  citations=c.citations, hits=tuple(hits), answerer=answerer, resolved_query=resolved or query,
                  notices=(*notices, *c.notices), seconds=seconds, kind=c.kind, confidence=c.confidence,
                  probability=c.probability,
                  parts=c.parts, removed_sentences=removed)


def answer_from_hits(question: str, hits: list[Hit], retriever: Retriever, reader=None) -> Answer:
    """The reader's answer to `question` from already retrieved `hits` (evals use this)."""
    t0 = time.perf_counter()
    return _to_answer(compose_answer(question, hits, retriever, reader), question, hits, time.perf_counter() - t0)


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
            sentence and falls back to the reader's answer if nothing holds.
    Returns:
        Answer
    Raises:
        QueryError: an empty or unusable question, a bad k or mode.
        ReaderError: the reader's weights are missing or damaged.
        StaleIndexError: the encoder is not the one the index was built with.
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
    t0 = time.perf_counter()
    notices = []
    raw = query if isinstance(query, str) else ""
    normalized = normalize_query(query)
    if len(normalized) > MAX_QUERY_CHARS:  # measured after cleaning: control characters do not count
        log.info("question cut from %d to %d characters", len(normalized), MAX_QUERY_CHARS)
        notices.append("question_cut")
    query = normalized[:MAX_QUERY_CHARS]
    reader = load_reader()  # a missing or damaged reader fails here, before any work
    resolved = resolve_followup(query, history or [])
    k = retriever.config.k if k is None else k  # k=0 is refused by search, as it is there
    hits = retriever.search(resolved, k=k, mode=mode)
    composed = None
    answerer = "extractive"
    removed = 0
    if generator is not None:
        from rag.answer.grounding import GroundedDraft, grounded_generation

        draft = None
        for event in grounded_generation(resolved, hits, retriever, generator):
            if isinstance(event, GroundedDraft):
                draft = event
            else:
                yield event
        if draft is not None and draft.sources:
            citations = tuple(cite(n, h, s) for n, h, s in draft.sources)
            removed = draft.removed
            if removed:
                notices.append("generated_removed")
            composed = Composed(draft.text, None, citations, "generated", None)
            answerer = "generative"
        else:
            notices.append("generator_abstained" if draft is not None and draft.generator_abstained
                           and not draft.removed else "generator_unverified")
    if composed is None:
        composed = compose_answer(resolved, hits, retriever, reader, k=k, mode=mode)
        for i in range(0, len(composed.text), 24):  # the text is ready; stream it for a live UI
            yield composed.text[: i + 24]
    yield _to_answer(composed, raw.strip() or query, hits, time.perf_counter() - t0, resolved, tuple(notices),
                     answerer, removed)
