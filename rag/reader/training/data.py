"""Reading-comprehension data for the reader: loading, splitting, hard negatives, windows.

Sources (both in `../shared/benchmarks/`, attribution in docs/reader-model-card.md):
CMRC 2018 dev (simplified Chinese, CC BY-SA 4.0) and DRCD dev + test
(traditional Chinese, CC BY-SA 3.0), converted to simplified Chinese with
OpenCC `t2s`; answer offsets are recomputed in the converted context because
a few characters change length.

The validation split is 20 % of CMRC 2018 dev articles (whole articles,
chosen by a hash of the article id, so it never changes and never leaks a
passage into training). Unanswerable examples are mined with our own BM25
(character bigrams, as the retriever's): a question paired with the
best-ranked passage of another article that does not contain its answer —
same topic, no answer. Validation negatives are mined among validation
passages only.

Reader v2 adds synthetic hard cases that the answer layer met as wrong answers
(issue 19): `swap_negatives` swaps a person, place, organisation or role of
the question for another of the same kind from another article — in the
question (asked about someone the passage never names) or in the passage
(a sibling passage of the same template about someone else) — both with no
answer; `with_headlines` puts a headline and a byline line above a share of
the passages, as the page layout does, so that spans learn to start in the
body.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from rag.errors import CorpusError
from rag.reader.windows import Window, passage_windows

VALIDATION_SHARE = 0.2


@dataclass
class QAExample:
    id: str
    question: str
    context: str
    answers: list[str]  # empty: unanswerable from this context
    starts: list[int]  # answer offsets in `context`
    article: str
    source: str
    mined: bool = False  # a hard negative (mined or synthetic)
    focus: int = -1  # for a synthetic negative: the character its window must hold (the old answer)
    title: str = ""


def _converter():
    try:
        import opencc
    except ImportError as e:
        raise ImportError("converting DRCD needs OpenCC: pip install opencc") from e
    return opencc.OpenCC("t2s")


def load_squad_examples(path: Path, source: str, to_simplified: bool = False) -> list[QAExample]:
    """SQuAD-format file -> answerable examples; traditional text converted when asked."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
        return _examples(data, source, _converter().convert if to_simplified else (lambda s: s))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CorpusError(f"{path} is not a readable SQuAD-format file ({type(e).__name__}: {e})") from None


def _examples(data: list, source: str, conv) -> list[QAExample]:
    out: list[QAExample] = []
    for ai, article in enumerate(data):
        article_id = f"{source}:{article.get('id') or article.get('title') or ai}"
        for para in article.get("paragraphs", []):
            context = conv(para["context"])
            for qa in para.get("qas", []):
                answers, starts = [], []
                for a in qa.get("answers", []):
                    text = conv(a.get("text", "")).strip()
                    if not text:
                        continue
                    # recompute the offset: conversion can shift it; take the
                    # occurrence nearest the original position
                    found = _find_all(context, text)
                    if not found:
                        continue
                    orig = int(a.get("answer_start", 0))
                    starts.append(min(found, key=lambda i: abs(i - orig)))
                    answers.append(text)
                if answers:
                    out.append(QAExample(str(qa.get("id")), conv(qa["question"]), context, answers, starts,
                                         article_id, source, title=conv(str(article.get("title") or ""))))
    return out


def _find_all(text: str, sub: str) -> list[int]:
    out, i = [], text.find(sub)
    while i >= 0:
        out.append(i)
        i = text.find(sub, i + 1)
    return out


def is_validation(article_id: str) -> bool:
    """Fixed split: a hash of the article id, independent of order and seed."""
    h = int(hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < VALIDATION_SHARE


def load_corpora(bench_dir: Path) -> tuple[list[QAExample], list[QAExample]]:
    """(train, validation) answerable examples from the shared benchmarks."""
    bench_dir = Path(bench_dir)
    cmrc = load_squad_examples(bench_dir / "cmrc2018" / "cmrc2018_dev.json", "cmrc2018")
    drcd = []
    for name in ("DRCD_dev.json", "DRCD_test.json"):
        drcd += load_squad_examples(bench_dir / "drcd" / name, "drcd-" + name.split("_")[1].split(".")[0],
                                    to_simplified=True)
    val = [e for e in cmrc if is_validation(e.article)]
    train = [e for e in cmrc if not is_validation(e.article)] + drcd
    return train, val


def mine_negatives(examples: list[QAExample], per_question: float, seed: int) -> list[QAExample]:
    """Hard unanswerable examples: each chosen question with the best BM25 passage
    of another article that does not contain any of its answers."""
    import bm25s

    from rag.text import bigram_tokens

    contexts = list(dict.fromkeys(e.context for e in examples))
    article_of = {}
    for e in examples:
        article_of.setdefault(e.context, e.article)
    retriever = bm25s.BM25()
    retriever.index([bigram_tokens(c) for c in contexts], show_progress=False)
    rng = random.Random(seed)
    chosen = [e for e in examples if rng.random() < per_question]
    out = []
    for e in chosen:
        q = bigram_tokens(e.question)
        if not q:
            continue
        docs, _ = retriever.retrieve([q], k=min(10, len(contexts)), show_progress=False)
        for idx in docs[0]:
            ctx = contexts[int(idx)]
            if article_of[ctx] == e.article or any(a in ctx for a in e.answers):
                continue
            out.append(QAExample(e.id + "#neg", e.question, ctx, [], [], article_of[ctx], e.source, mined=True))
            break
    return out


# jieba's part-of-speech tags of names, by the kind a swap keeps
# (jieba's "nz", other proper nouns, is left out: on CMRC questions it is mostly mis-cut phrases)
_ENTITY_KIND = {"nr": "person", "nrt": "person", "nrfg": "person", "ns": "place", "nt": "org"}


def question_entities(question: str, context: str) -> list[tuple[str, str]]:
    """(text, kind) of the people, places, organisations and roles a
    question names that its passage also holds: runs of jieba name words of one
    kind, merged ("莱昂德罗·内托"), at least two characters."""
    import jieba.posseg as pseg

    from rag.text import ROLE, get_jieba

    get_jieba()
    out, run, kind = [], [], None
    for word, flag in pseg.lcut(question) + [("", "x")]:
        k = _ENTITY_KIND.get(flag)
        if k and (k == kind or not run):
            run.append(word)
            kind = k
            continue
        if word == "·" and kind == "person":
            run.append(word)
            continue
        if run:
            text = "".join(run).strip("·")
            if len(text) >= 2 and text in context:
                out.append((text, kind))
        run, kind = ([word], k) if k else ([], None)
    out += [(m.group(0), "role") for m in ROLE.finditer(question) if m.group(0) in context]
    return list(dict.fromkeys(out))


def swap_negatives(examples: list[QAExample], share: float, seed: int) -> list[QAExample]:
    """Unanswerable twins of a share of the questions that name an entity their passage holds.

    Half swap the entity in the question for another of the same kind taken from
    another article (one the passage never mentions); half swap it in the passage
    instead, everywhere (a same-template passage about someone else). Each twin keeps
    `focus` on where the answer was, so its training window is the one that still
    looks answerable.
    """
    rng = random.Random(seed)
    found = [(e, question_entities(e.question, e.context)) for e in examples]
    pool: dict[str, list[tuple[str, str]]] = {}
    for e, ents in found:
        for text, kind in ents:
            pool.setdefault(kind, []).append((text, e.article))
    for kind in pool:
        pool[kind] = list(dict.fromkeys(pool[kind]))
    out = []
    for e, ents in found:
        if not ents or rng.random() >= share:
            continue
        text, kind = rng.choice(ents)
        candidates = pool.get(kind, [])
        for _ in range(20):
            other, article = rng.choice(candidates)
            if article != e.article and other not in e.context and text not in other and other not in text:
                break
        else:
            continue
        start = e.starts[0]
        if rng.random() < 0.5:
            out.append(QAExample(e.id + "#swapq", e.question.replace(text, other), e.context, [], [], e.article,
                                 e.source, mined=True, focus=start))
        else:
            shift = (len(other) - len(text)) * e.context[:start].count(text)
            out.append(QAExample(e.id + "#swapc", e.question, e.context.replace(text, other), [], [], e.article,
                                 e.source, mined=True, focus=start + shift))
    return out


def with_headlines(examples: list[QAExample], share: float, seed: int) -> list[QAExample]:
    """The examples, a `share` of them with their article's title and a byline line
    ("本报记者 <name>", a name from another question) above the passage, offsets shifted."""
    from rag.text import SURNAMES

    rng = random.Random(seed)
    people = sorted({t for e in examples for t, k in question_entities(e.question, e.question)
                     if k == "person" and 2 <= len(t) <= 3 and t[0] in SURNAMES}) or ["王明"]
    out = []
    for e in examples:
        if e.answers and e.title and rng.random() < share:
            head = f"{e.title}\n本报记者 {rng.choice(people)}\n"
            e = QAExample(e.id, e.question, head + e.context, e.answers, [s + len(head) for s in e.starts],
                          e.article, e.source, title=e.title)
        out.append(e)
    return out


def label_window(w: Window, start_char: int, end_char: int) -> bool:
    """Set gold token positions when the answer lies wholly inside the window."""
    inside = [i for i, (a, b) in enumerate(w.offsets) if a >= 0 and a < end_char and b > start_char]
    spans = [(a, b) for a, b in w.offsets if a >= 0]
    if not inside or not spans or spans[0][0] > start_char or _last_end(w) < end_char:
        w.start = w.end = 0
        return False
    w.start, w.end = w.context_start + inside[0], w.context_start + inside[-1]
    return True


def _last_end(w: Window) -> int:
    return max((b for a, b in w.offsets if a >= 0), default=-1)


def training_windows(tokenizer, examples: list[QAExample], max_len: int, stride: int, null_share: float,
                     seed: int) -> list[Window]:
    """One window holding the answer per answerable question, plus (with probability
    `null_share`) one window of its own passage without the answer; one window per
    mined negative (the window sharing most characters with the question)."""
    rng = random.Random(seed)
    out = []
    for ex in examples:
        windows = passage_windows(tokenizer, ex.question, ex.context, max_len, stride)
        if ex.mined or not ex.answers:
            qchars = set(ex.question)
            holding = [w for w in windows if any(a <= ex.focus < b for a, b in w.offsets)] if ex.focus >= 0 else []
            best = max(holding or windows,
                       key=lambda w: sum(1 for a, _ in w.offsets if a >= 0 and ex.context[a] in qchars))
            best.meta = {"id": ex.id}
            out.append(best)
            continue
        start, text = ex.starts[0], ex.answers[0]
        positives, nulls = [], []
        for w in windows:
            (positives if label_window(w, start, start + len(text)) else nulls).append(w)
        if positives:
            # the window where the answer sits most centrally
            best = min(positives, key=lambda w: abs((w.start + w.end) / 2 - len(w.ids) / 2))
            best.meta = {"id": ex.id}
            out.append(best)
        if nulls and rng.random() < null_share:
            w = rng.choice(nulls)
            w.meta = {"id": ex.id + "#own"}
            out.append(w)
    return out


def validation_squad(cmrc_file: Path, split: str = "validation") -> dict:
    """One split of CMRC 2018 dev as a SQuAD-format document (for open-corpus evals).

    Args:
        split: "validation" (20 % of the articles, never trained on) or "train" (the rest: what
            the reader was trained on, where answer-layer rules may be tuned).
    """
    try:
        data = json.loads(Path(cmrc_file).read_text(encoding="utf-8"))
        keep = [a for i, a in enumerate(data["data"])
                if is_validation(f"cmrc2018:{a.get('id') or a.get('title') or i}") == (split == "validation")]
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise CorpusError(f"{cmrc_file} is not a readable SQuAD-format file ({type(e).__name__}: {e})") from None
    label = "validation (20 % of CMRC 2018 dev articles)" if split == "validation" else "train (80 % of CMRC 2018 dev articles)"
    return {"version": data.get("version", ""), "split": label, "data": keep}
