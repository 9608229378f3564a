"""Cutting a question and a passage into model inputs (windows), identically for reading and training."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_QUESTION_TOKENS = 64  # longer questions are cut: the passage needs the room


@dataclass
class Window:
    """One model input: [bos] question [eos][eos] passage tokens [a, b) [eos]."""

    ids: list[int]
    context_start: int  # index of the first passage token in `ids`
    offsets: list[tuple[int, int]]  # char offsets in the raw context of the passage tokens in the window
    start: int = 0  # gold start/end token index in `ids` (0 = no answer: the <s> token)
    end: int = 0
    meta: dict = field(default_factory=dict)


def passage_windows(tokenizer, question: str, context: str, max_len: int, stride: int) -> list[Window]:
    """Every window of a passage for one question (the passage tokenised once).

    Training and reading both cut windows here, identically; offsets always
    point into the raw passage (see `E5Tokenizer.tokenize`).
    """
    q_ids = tokenizer.tokenize(question)[0][:MAX_QUESTION_TOKENS]
    ids, offsets = tokenizer.tokenize(context)
    head = [tokenizer.bos, *q_ids, tokenizer.eos, tokenizer.eos]
    room = max_len - len(head) - 1
    windows = []
    a = 0
    while True:
        b = min(len(ids), a + room)
        windows.append(Window(head + ids[a:b] + [tokenizer.eos], len(head), offsets[a:b]))
        if b >= len(ids):
            break
        a += stride
    return windows
