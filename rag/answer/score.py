"""Which reader span to give, or none: one calibrated probability per candidate span.

The reader's margin says how sure it is that a span answers the question *in
its passage*; it cannot see that the passage is about another road, village
or role than the one asked about (two articles from one template, a
question about a 村委会主任 when only the 党支部书记 is named). So each
candidate span is scored by a small logistic model over

- ``margin``: the reader's margin minus its calibrated no-answer threshold;
- ``gap``: the margin minus the best candidate's margin (≤ 0);
- ``rank``: the retrieval rank of its passage (1 = best);
- ``article_coverage``: how much of the question's constraints
  (`question.constraints`: the people, places, organisations, roles, titles
  and dates it names) the candidate's article holds;
- ``sentence_coverage``: the same for the candidate's sentence and the one
  before it;
- ``constrained``: 1 when the question names any constraint.

The weights (`answer_score.json`) were fitted by `python -m evals.calibrate`
on data never used for reporting (its file records which); the answer is the
most probable candidate, given when its probability reaches `ANSWER_AT`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag.errors import ReaderError
from rag.text import cjk_bigrams

WEIGHTS_FILE = Path(__file__).with_name("answer_score.json")
FEATURES = ("margin", "gap", "rank", "article_coverage", "sentence_coverage", "constrained")
# A right answer scores 1, a wrong one -WRONG_ANSWER_COST and abstaining 0 (the reader's own
# calibration uses the same costs, rag.reader.training.train.WRONG_ANSWER_COST = 0.5):
# answering has the higher expected score exactly when p > cost / (1 + cost).
WRONG_ANSWER_COST = 0.5
ANSWER_AT = WRONG_ANSWER_COST / (1 + WRONG_ANSWER_COST)


def coverage(constraints: list[str], text: str) -> float:
    """Share of `constraints` that `text` holds, in [0, 1] (1.0 when there are none).

    A constraint written out counts 1; otherwise the share of its character
    bigrams in the text (a paraphrase, "北石镇的污水处理厂" for "北石镇污水处理厂",
    still counts most of it).
    """
    if not constraints:
        return 1.0
    total = 0.0
    for c in constraints:
        if c in text:
            total += 1.0
            continue
        grams = set(cjk_bigrams(c))
        total += sum(1 for g in grams if g in text) / len(grams) if grams else 0.0
    return total / len(constraints)


@dataclass(frozen=True)
class Candidate:
    """The features of one candidate span (see the module docstring), in `FEATURES` order."""

    margin: float
    gap: float
    rank: int
    article_coverage: float
    sentence_coverage: float
    constrained: float

    def vector(self) -> list[float]:
        return [float(getattr(self, name)) for name in FEATURES]


@lru_cache(maxsize=1)
def _weights() -> tuple[tuple[float, ...], float]:
    try:
        data = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
        coef = tuple(float(data["coef"][name]) for name in FEATURES)
        return coef, float(data["intercept"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ReaderError(f"the answer scorer's weights {WEIGHTS_FILE} are missing or damaged ({e!r}); "
                          f"restore the file from the repository or run `python -m evals.calibrate`") from None


def probability(c: Candidate) -> float:
    """The fitted probability that candidate `c` is a right answer, in (0, 1).

    Raises:
        ReaderError: the weights file is missing or damaged.
    """
    coef, intercept = _weights()
    z = intercept + sum(w * x for w, x in zip(coef, c.vector()))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))
