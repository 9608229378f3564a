"""Check questions.jsonl of this set: format, sources, verbatim evidence and answers.

    python3 evals/answers_new/validate.py
"""
import collections
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
SEEDS = HERE.parent.parent / "seeds"
ARTICLES = HERE / "articles"
FIELDS = ("id", "question", "answers", "source", "evidence", "type", "case")
TYPES = {"number", "date", "person", "place", "entity", "list", "reason", "unanswerable"}
CASES = {"unit", "qualifier", "date", "year", "duration", "person", "role", "place", "org",
         "sibling", "headline", "byline", "conflict", "choice", "list", "reason", "summary",
         "two_part", "english", "number", "entity", "unanswerable"}


def squash(text):
    return re.sub(r"\s+", "", text)


def main():
    texts = {}
    for p in list(SEEDS.glob("*.txt")) + list(ARTICLES.glob("*.txt")):
        texts[p.name] = (("seed" if p.parent == SEEDS else "new"), squash(p.read_text(encoding="utf-8")))
    everything = "".join(t for _, t in texts.values())
    errors, ids = [], set()
    by_case, by_kind, unans = collections.Counter(), collections.Counter(), 0
    lines = (HERE / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines, 1):
        try:
            q = json.loads(line)
        except ValueError as exc:
            errors.append(f"line {n}: not JSON ({exc})")
            continue
        qid = q.get("id", f"line {n}")
        missing = [f for f in FIELDS if f not in q]
        if missing:
            errors.append(f"{qid}: missing {missing}")
            continue
        if qid in ids:
            errors.append(f"{qid}: duplicate id")
        ids.add(qid)
        if q["type"] not in TYPES:
            errors.append(f"{qid}: bad type {q['type']}")
        if q["case"] not in CASES:
            errors.append(f"{qid}: bad case {q['case']}")
        ans = q["answers"]
        if not isinstance(ans, list) or not all(isinstance(g, list) and g and all(isinstance(s, str) and s for s in g) for g in ans):
            errors.append(f"{qid}: answers must be a list of non-empty lists of strings")
            continue
        if not ans:
            unans += 1
            by_kind["unanswerable"] += 1
            if q["source"] is not None or q["evidence"] is not None or q["type"] != "unanswerable":
                errors.append(f"{qid}: unanswerable needs source/evidence null and type unanswerable")
            by_case[q["case"]] += 1
            continue
        by_case[q["case"]] += 1
        if q["source"] not in texts:
            errors.append(f"{qid}: source {q['source']} not found")
            continue
        kind, src = texts[q["source"]]
        by_kind[kind] += 1
        ev = squash(q["evidence"] or "")
        if not ev or ev not in src:
            errors.append(f"{qid}: evidence not verbatim in {q['source']}: {q['evidence']}")
        if q["case"] == "conflict" and len(ans) < 2:
            errors.append(f"{qid}: conflict needs 2+ groups")
        if q["case"] in ("list", "summary", "two_part") and len(ans) < 2:
            errors.append(f"{qid}: {q['case']} needs 2+ groups")
        for g in ans:
            hits = [s for s in g if squash(s) in src]
            if q["case"] == "conflict":
                hits = hits or [s for s in g if squash(s) in everything]
            if not hits:
                errors.append(f"{qid}: no string of group {g} in {q['source']}")
        if len(ans) == 1 and not any(squash(s) in ev for s in ans[0]):
            errors.append(f"{qid}: answer {ans[0]} not inside evidence")
    for e in errors:
        print("ERROR", e)
    print(f"{len(lines)} questions, {len(errors)} errors, {unans} unanswerable")
    print("per source kind:", dict(by_kind))
    print("per case:", dict(sorted(by_case.items())))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
