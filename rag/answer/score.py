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
- ``sentence_coverage``: the same for the candidate's sentence, the one before it and
  the article's headline (which names the subject that "全村" refers to);
- ``proximity``: how close the span stands to a constraint inside its sentence
  (exp(−distance / 20 characters); 0 when the sentence names none): facts about 姚欣 are
  written next to 姚欣 ("国家税务总局稷山县税务局的姚欣");
- ``support``: in how many other sentences the reader found the same span (0–2): a name
  found in several sentences is likelier right than a name found once;
- ``covered_margin``: the margin times the article coverage — a sure span in an article about
  another road or village is not a sure answer (the model is linear: without this product a
  high margin outweighs a missing constraint);
- ``constrained``: 1 when the question names any constraint;
- ``typed``: 1 when the span has the form the question asks for (`span.typed`), 0 when not,
  0.5 when the question's words do not say.

The weights (`answer_score.json`) were fitted by `python -m evals.calibrate`
on data never used for reporting (its file records which); the answer is the
most probable candidate, given when its probability reaches `ANSWER_AT`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from rag.errors import ReaderError
from rag.text import cjk_bigrams, to_simplified

WEIGHTS_FILE = Path(__file__).with_name("answer_score.json")
FEATURES = ("margin", "gap", "rank", "article_coverage", "sentence_coverage", "constrained", "typed",
            "covered_margin", "proximity", "support")
# A right answer scores 1, a wrong one -WRONG_ANSWER_COST and abstaining 0 (the reader's own
# calibration uses the same costs, rag.reader.training.train.WRONG_ANSWER_COST = 0.5):
# answering has the higher expected score exactly when p > cost / (1 + cost).
WRONG_ANSWER_COST = 0.5
ANSWER_AT = WRONG_ANSWER_COST / (1 + WRONG_ANSWER_COST)


PROXIMITY_CHARS = 20.0


def proximity(constraints: list[str], sentence: str, start: int, end: int) -> float:
    """exp(-d / PROXIMITY_CHARS) for the distance d in characters between [start, end) of `sentence`
    and the nearest occurrence of a constraint in it (0 inside or touching); 0.0 when none occurs.
    Script-blind: a simplified constraint is found in a traditional sentence (offsets kept)."""
    sentence = to_simplified(sentence, same_length=True)
    constraints = [to_simplified(c) for c in constraints]
    best = None
    for c in constraints:
        at = sentence.find(c)
        while at >= 0:
            d = max(0, start - (at + len(c)), at - end)
            best = d if best is None else min(best, d)
            at = sentence.find(c, at + 1)
    return 0.0 if best is None else math.exp(-best / PROXIMITY_CHARS)


def coverage(constraints: list[str], text: str) -> float:
    """Share of `constraints` that `text` holds, in [0, 1] (1.0 when there are none).

    A constraint written out counts 1; otherwise the share of the character bigrams of its
    distinctive part that the text holds: a paraphrase ("北石镇的污水处理厂" for
    "北石镇污水处理厂") still counts most, another place of the same kind ("西岭村道" for
    "北岭村道") nothing — the suffix they share is left out. A role counts only written out, and
    not as its deputy's title ("村委会副主任" holds no "村委会主任").
    """
    if not constraints:
        return 1.0
    # script-blind: a Big5 archive's "高雄港第七貨櫃中心" holds the question's "高雄港第七货柜中心"
    text = to_simplified(text)
    total = 0.0
    for c in map(to_simplified, constraints):
        if _held(c, text):
            total += 1.0
            continue
        if _ROLE_END.search(c):
            continue  # another post is not part of this one ("村委会副主任" for "村委会主任")
        head = _KIND_SUFFIX.sub("", c) or c
        grams = set(cjk_bigrams(head)) or set(head)
        total += sum(1 for g in grams if g in text) / len(grams) if grams else 0.0
    return total / len(constraints)


def _held(constraint: str, text: str) -> bool:
    """The constraint written out in the text; a role without 副 is not held by its deputy
    ("局长" is not in "副局长")."""
    if "副" in constraint or not _ROLE_END.search(constraint):
        return constraint in text
    return re.search(rf"(?<!副){re.escape(constraint)}", text) is not None


_ROLE_END = re.compile(r"(?:书记|主任|主席|局长|部长|县长|市长|镇长|村长|经理|董事长|校长|院长|队长|会长|社长|厂长|所长|站长|司令)$")


# The kind a name ends in (a place, an organisation, a road, a role): shared by every name of
# that kind, so it says nothing about which one a text is about.
_KIND_SUFFIX = re.compile(r"(?:村道|村|镇|乡|县|市|旗|省|区|街道|社区|公司|集团|合作社|大学|学院|学校|医院|银行|公路|大桥|桥|厂|"
                          r"局|厅|委员会|办公室|中心|研究院|研究所|协会|书记|主任|主席|局长|部长|县长|市长|镇长|村长|经理|"
                          r"董事长|校长|院长|队长|会长|社长|厂长|所长|站长|司令)$")


@dataclass(frozen=True)
class Candidate:
    """The features of one candidate span (see the module docstring), in `FEATURES` order."""

    margin: float
    gap: float
    rank: int
    article_coverage: float
    sentence_coverage: float
    constrained: float
    typed: float
    proximity: float = 0.0
    support: float = 0.0

    @property
    def covered_margin(self) -> float:
        return self.margin * self.article_coverage

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
