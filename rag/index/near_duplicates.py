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

import numpy as np

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


class StoryGrouper:
    """Near-duplicate groups built article by article, resumable from what earlier segments stored.

    Each group has a leader, its first article; a later article joins the group of the most similar
    earlier leader it is a near-duplicate of, or leads a group of its own. Every member is thus a
    near-duplicate of its leader: a round-up that contains stories A and C does not chain A and C
    into one group (connected pairs did). Identical texts are grouped by their text without being
    compared; similarity is MinHash's estimate (128 permutations: about ±0.035 at 0.8), so only the
    signatures (1 KB each) and the 5-gram counts are kept, not the 5-gram sets. At most
    MAX_CANDIDATES comparisons per article. An index adds the articles of a new segment to a grouper
    `resume`d from the live articles, signatures and leaders of the earlier ones, so adding 100
    articles hashes 100 (the earlier leaders' signatures are read back, not recomputed).
    """

    def __init__(self) -> None:
        from datasketch import MinHashLSH

        self._lsh = MinHashLSH(threshold=LSH_THRESHOLD, num_perm=NUM_PERM)
        self._first_copy: dict[str, str] = {}  # text without white space -> the first article with it
        self._minhash: dict[str, object] = {}  # leader -> its MinHash
        self._size: dict[str, int] = {}
        self._text: dict[str, str] = {}  # leader -> its text (the numbers check)
        self.leader_of: dict[str, str] = {}  # every grouped article that is not a leader -> its leader
        self.signatures: dict[str, np.ndarray] = {}  # articles hashed by this grouper (not resumed): (NUM_PERM,) hash values
        self._order: dict[str, int] = {}  # leader -> its place among the leaders: earlier ones are compared first
        self.scheme = minhash_scheme()

    def resume(self, articles: list[Article], leader_of: dict[str, str], signatures: dict[str, np.ndarray]) -> None:
        """Take in earlier articles (in corpus order) as they were grouped: `leader_of` for their members,
        `signatures` ((NUM_PERM,) hash values of `self.scheme`) for the leaders; a leader without a signature is hashed now."""
        from datasketch import MinHash

        missing = []
        for a in articles:
            flat = "".join(a.text.split())
            if len(flat) < MIN_CHARS:
                continue
            self._first_copy.setdefault(flat, a.doc_id)
            leader = leader_of.get(a.doc_id, a.doc_id)
            if leader != a.doc_id:
                self.leader_of[a.doc_id] = leader
                continue
            if a.doc_id in signatures:
                self._enter(a, flat, MinHash(num_perm=NUM_PERM, hashvalues=signatures[a.doc_id], scheme=self.scheme))
            else:
                missing.append(a)
        if missing:
            self.add(missing)

    def add(self, articles: list[Article]) -> None:
        """Group new articles (in corpus order) with the earlier ones and with each other."""
        from datasketch import MinHash

        fresh = []
        for a in articles:
            flat = "".join(a.text.split())
            if len(flat) < MIN_CHARS:
                continue
            first = self._first_copy.setdefault(flat, a.doc_id)
            if first != a.doc_id:  # an identical text: the group of its first copy
                self.leader_of[a.doc_id] = self.leader_of.get(first, first)
            else:
                fresh.append((a, flat))
        hashes = MinHash.bulk(
            ([flat[k : k + SHINGLE].encode("utf-8") for k in range(len(flat) - SHINGLE + 1)] for _, flat in fresh),
            num_perm=NUM_PERM)
        for (a, flat), h in zip(fresh, hashes):
            self.signatures[a.doc_id] = np.asarray(h.hashvalues)
            size = max(1, len(flat) - SHINGLE + 1)
            best, best_j = None, 0.0
            for j in sorted(self._lsh.query(h), key=self._order.get)[:MAX_CANDIDATES]:
                jac = h.jaccard(self._minhash[j])
                # shared 5-grams over the shorter one's, from |A ∩ B| = J (|A| + |B|) / (1 + J)
                contained = jac * (size + self._size[j]) / ((1 + jac) * min(size, self._size[j]))
                if ((jac >= JACCARD_MIN or contained >= CONTAINED_MIN) and jac > best_j
                        and _numbers_agree(a.text, self._text[j])):
                    best, best_j = j, jac
            if best is not None:
                self.leader_of[a.doc_id] = best
            else:
                self._enter(a, flat, h)

    def _enter(self, a: Article, flat: str, h) -> None:
        """`a` leads a group: a candidate for every later article."""
        self._order[a.doc_id] = len(self._order)
        self._minhash[a.doc_id] = h
        self._size[a.doc_id] = max(1, len(flat) - SHINGLE + 1)
        self._text[a.doc_id] = a.text
        self._lsh.insert(a.doc_id, h)


def minhash_scheme() -> str:
    """datasketch's permutation scheme for new MinHashes: stored signatures of another scheme are hashed again."""
    from datasketch import MinHash

    return getattr(MinHash(num_perm=NUM_PERM), "scheme", "legacy")


def groups_of(doc_ids: list[str], leader_of: dict[str, str]) -> list[list[str]]:
    """Groups (two or more doc ids, in the order of `doc_ids`) among the articles `doc_ids` (the live
    ones, in corpus order): each leader with its members; members whose leader is gone stay together."""
    groups: dict[str, list[str]] = {}
    for d in doc_ids:
        groups.setdefault(leader_of.get(d, d), []).append(d)
    return [g for g in groups.values() if len(g) > 1]


def near_duplicate_groups(articles: list[Article]) -> list[list[str]]:
    """Groups (two or more doc ids, in corpus order) of articles that are near-duplicates (`StoryGrouper`).
    About 35 s for 23,000 news articles of ~700 characters on 2 cores, most of it hashing."""
    grouper = StoryGrouper()
    grouper.add(articles)
    return groups_of([a.doc_id for a in articles], grouper.leader_of)
