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
  (`datasketch`, 128 permutations), compared by MinHash's estimate;
- and the numbers of the shorter one are, at least NUMBERS_MIN of them, also
  numbers of the other: template reports (a stock's close on 7月24日 and on
  7月31日) share their wording, not their figures, and are different facts.

Each group has a leader (its first article) and every member is a
near-duplicate of it (`near_duplicate_groups`). Measured on the 23,152 CRUD
news articles: see the README, "Near-duplicates on a real archive".
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


def _numbers_agree(a: str, b: str) -> bool:
    na, nb = set(_NUMBER.findall(a)), set(_NUMBER.findall(b))
    if not na or not nb:
        return True
    return len(na & nb) / min(len(na), len(nb)) >= NUMBERS_MIN


MAX_CANDIDATES = 50  # earlier group leaders compared per article: bounded work per article


def near_duplicate_groups(articles: list[Article]) -> list[list[str]]:
    """Groups (two or more doc ids, in corpus order) of articles that are near-duplicates.

    Each group has a leader, its first article; a later article joins the group of the most similar
    earlier leader it is a near-duplicate of, or leads a group of its own. Every member is thus a
    near-duplicate of its leader: a round-up that contains stories A and C does not chain A and C
    into one group (connected pairs did). Identical texts are grouped by their hash without being
    compared; similarity is MinHash's estimate (128 permutations: about ±0.035 at 0.8), so only the
    signatures (1 KB each) and the 5-gram counts are kept, not the 5-gram sets. Linear in the
    corpus, at most MAX_CANDIDATES comparisons per article: about 35 s for 23,000 news articles
    of ~700 characters on 2 cores, most of it hashing.
    """
    from datasketch import MinHash, MinHashLSH

    flat = ["".join(a.text.split()) for a in articles]
    first_copy: dict[str, int] = {}
    copy_of: dict[int, int] = {}  # an identical text -> its first occurrence
    unique: list[int] = []
    for i, text in enumerate(flat):
        if len(text) < MIN_CHARS:
            continue
        j = first_copy.setdefault(text, i)
        if j != i:
            copy_of[i] = j
        else:
            unique.append(i)
    sizes = {i: max(1, len(flat[i]) - SHINGLE + 1) for i in unique}
    hashes = dict(zip(unique, MinHash.bulk(
        ([flat[i][k : k + SHINGLE].encode("utf-8") for k in range(len(flat[i]) - SHINGLE + 1)] for i in unique),
        num_perm=NUM_PERM)))
    lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
    leader_of: dict[int, int] = {}
    for i in unique:
        h = hashes[i]
        best, best_j = None, 0.0
        earlier = sorted(j for j in lsh.query(h) if leader_of[j] == j)[:MAX_CANDIDATES]
        for j in earlier:
            jac = h.jaccard(hashes[j])
            # shared 5-grams over the shorter one's, from |A ∩ B| = J (|A| + |B|) / (1 + J)
            contained = jac * (sizes[i] + sizes[j]) / ((1 + jac) * min(sizes[i], sizes[j]))
            if ((jac >= JACCARD_MIN or contained >= CONTAINED_MIN) and jac > best_j
                    and _numbers_agree(articles[i].text, articles[j].text)):
                best, best_j = j, jac
        leader_of[i] = best if best is not None else i
        lsh.insert(i, h)
    groups: dict[int, list[int]] = {}
    for i in sorted([*unique, *copy_of]):
        leader = leader_of[copy_of.get(i, i)]
        groups.setdefault(leader, []).append(i)
    return [[articles[i].doc_id for i in g] for g in groups.values() if len(g) > 1]
