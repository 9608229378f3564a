"""The answer layer: question analysis, reading and composing, follow-ups, generation with grounding.

    ask(query, retriever=r) -> Answer            # pipeline.py
    ask_stream(...)  -> str..., Answer           # the text as it grows, then the Answer

Modules: `question` (shape and terms), `instructions` (planted instructions),
`compose` (reader spans -> cited answer), `conversation` (follow-ups),
`generate` and `grounding` (the optional generator, checked sentence by
sentence), `types` (`Answer`, `Citation`, `AnswerPart`), `messages` (every
sentence shown to a person, for the CLI and the web renderer).
"""

from rag.answer.pipeline import answer_from_hits, ask, ask_stream
from rag.answer.types import Answer, AnswerPart, Citation

__all__ = ["Answer", "AnswerPart", "Citation", "answer_from_hits", "ask", "ask_stream"]
