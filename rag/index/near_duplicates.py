"""Near-duplicate articles: the same story from several outlets, grouped at build time.

An archive holds the same report several times (a wire story reprinted with
another dateline, a 原标题 line or an editor's note). Each copy stays an
article of its own (it may say one thing more), but search shows one of a
group, with the others as "also in", instead of filling the top hits with
copies (`Retriever.search`).

Two articles are near-duplicates when

- their sets of character 5-grams (white space removed) have a Jaccard
  similarity of at least JACCARD_MIN: 0.8, i.e. about 89 % of each one's
  5-grams shared when they are of equal length; or at least CONTAINED_MIN of
  the shorter one's 5-grams are in the longer one (a reprint under a 原标题 /
  来源 header, a story inside a round-up); candidates come from MinHash LSH
  (`datasketch`, 128 permutations) and are then compared exactly;
- and the numbers of the shorter one are, at least NUMBERS_MIN of them, also
  numbers of the other: template reports (a stock's close on 7月24日 and on
  7月31日) share their wording, not their figures, and are different facts.

Groups are the connected pairs. Measured on the 23,152 CRUD news articles
(README, "Near-duplicates"): 1,772 pairs at Jaccard ≥ 0.8 before the number
check, 31 of them template reports with other figures.
"""

from __future__ import annotations

import re

from rag.ingest.article import Article

SHINGLE = 5
NUM_PERM = 128
# candidates: far looser than JACCARD_MIN, since a short story inside a long one has a low Jaccard
# similarity (0.33 for a 176-character report in a 483-character reprint) however contained it is
LSH_THRESHOLD = 0.3
JACCARD_MIN = 0.8
CONTAINED_MIN = 0.9
NUMBERS_MIN = 0.8
MIN_CHARS = 50  # shorter texts (a caption, a one-line brief) are never grouped
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _shingles(text: str) -> set[str]:
    flat = "".join(text.split())
    return {flat[i : i + SHINGLE] for i in range(len(flat) - SHINGLE + 1)}


def _numbers_agree(a: str, b: str) -> bool:
    na, nb = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
    if not na or not nb:
        return True
    return len(na & nb) / min(len(na), len(nb)) >= NUMBERS_MIN


def near_duplicate_groups(articles: list[Article]) -> list[list[str]]:
    """Groups (two or more doc ids, in corpus order) of articles that are near-duplicates.

    Linear in the corpus apart from the candidate pairs LSH returns; about 40 s for 23,000 news
    articles of ~700 characters on 2 cores (most of it hashing).
    """
    from datasketch import MinHash, MinHashLSH

    texts = [a.text for a in articles]
    keep = [i for i, t in enumerate(texts) if len("".join(t.split())) >= MIN_CHARS]
    if len(keep) < 2:
        return []
    shingles = {i: _shingles(texts[i]) for i in keep}
    hashes = MinHash.bulk([[s.encode("utf-8") for s in shingles[i]] for i in keep], num_perm=NUM_PERM)
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    for i, h in zip(keep, hashes):
        lsh.insert(i, h)
    parent = {i: i for i in keep}

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, h in zip(keep, hashes):
        for j in lsh.query(h):
            if j <= i:
                continue
            a, b = shingles[i], shingles[j]
            shared = len(a & b)
            similar = shared / len(a | b) >= JACCARD_MIN or shared / min(len(a), len(b)) >= CONTAINED_MIN
            if similar and _numbers_agree(texts[i], texts[j]):
                ri, rj = root(i), root(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    groups: dict[int, list[str]] = {}
    for i in keep:
        groups.setdefault(root(i), []).append(articles[i].doc_id)
    return [g for g in groups.values() if len(g) > 1]
