"""Evaluation metrics: pure functions, used by `evals/` and unit-tested.

Gold-set conventions (evals/README.md): strings are compared with white
space removed; a retrieved passage or a citation "hits" when it contains the
evidence clause. CMRC 2018 conventions: exact match and character F1 over
the longest common substring after removing punctuation and white space.
"""

from __future__ import annotations

import math
import statistics
import unicodedata

from rag.text import squash


def evidence_rank(passages: list[str], evidence: str) -> int | None:
    """1-based rank of the first passage containing the evidence clause, or None."""
    ev = squash(evidence)
    for i, p in enumerate(passages, 1):
        if ev and ev in squash(p):
            return i
    return None


def hit_at(ranks: list[int | None], k: int) -> float:
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def mrr_at(ranks: list[int | None], k: int = 10) -> float:
    return sum(1.0 / r for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def ndcg_at(ranks: list[int | None], k: int = 10) -> float:
    """nDCG@k with one relevant passage per question (ideal DCG = 1)."""
    return sum(1.0 / math.log2(r + 1) for r in ranks if r is not None and r <= k) / len(ranks) if ranks else 0.0


def answer_matches(text: str, groups: list[list[str]]) -> bool:
    """Every answer group has at least one string that appears in the text."""
    flat = squash(text or "")
    return bool(groups) and all(any(squash(s) in flat for s in group) for group in groups)


def citation_hits(quote: str, evidence: str) -> bool:
    """A citation supports the gold answer when its quote contains the evidence
    clause (or, for evidence longer than one sentence, lies inside it)."""
    q, ev = squash(quote).strip("。！？；，、：”“\"'!?;,"), squash(evidence)
    return bool(q) and bool(ev) and (ev in q or q in ev)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# ---------------------------------------------------------------- CMRC 2018


def cmrc_normalize(text: str) -> str:
    """Remove punctuation and white space, lower-case (CMRC 2018 evaluation)."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return "".join(ch for ch in text if not (unicodedata.category(ch)[0] in "PZS" or ch.isspace()))


def _lcs_len(a: str, b: str) -> int:
    """Length of the longest common substring."""
    best = 0
    prev = [0] * (len(b) + 1)
    for ca in a:
        cur = [0] * (len(b) + 1)
        for j, cb in enumerate(b, 1):
            if ca == cb:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


def cmrc_f1(prediction: str, answers: list[str]) -> float:
    """Character F1 over the longest common substring, best over the gold answers."""
    pred = cmrc_normalize(prediction)
    best = 0.0
    for ans in answers:
        gold = cmrc_normalize(ans)
        if not pred or not gold:
            continue
        lcs = _lcs_len(pred, gold)
        if lcs == 0:
            continue
        p, r = lcs / len(pred), lcs / len(gold)
        best = max(best, 2 * p * r / (p + r))
    return best


def cmrc_em(prediction: str, answers: list[str]) -> float:
    pred = cmrc_normalize(prediction)
    return float(any(pred == cmrc_normalize(a) for a in answers if a))
