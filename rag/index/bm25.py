"""BM25 over passages, kept in segments: the keyword half of hybrid search.

Each segment of the index (`rag.index.segment`) stores its passages' term
counts (`SegmentTerms`: a CSR matrix of counts over the segment's own
vocabulary, and the passage lengths). Loading merges the live passages of
all segments into one `BM25` with the statistics of the whole index (the
number of passages, each term's document frequency, the mean length), so
adding 100 articles writes only their counts and a score never depends on
how the passages were split into segments.

Written here rather than taken from bm25s (which built the index before)
because bm25s computes its weights once over one fixed corpus: it cannot
merge segments or drop removed passages without re-tokenising everything.
The weights are bm25s's default ("lucene", Kamphuis et al. 2020, the same k1
and b), so scores are the same as bm25s's over the same passages
(`tests/test_index.py` checks it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.config import Config
from rag.text import bm25_doc_tokens

K1 = 1.5  # bm25s's defaults, which the retrieval figures were measured with
B = 0.75
EMPTY = "∅"  # the one term of a passage without any (bm25s needed one; kept so lengths stay >= 1)


@dataclass
class SegmentTerms:
    """Term counts of one segment's passages: row i = passage i, in chunk order."""

    vocab: list[str]  # the segment's terms; column j = vocab[j]
    indptr: np.ndarray  # int64 (passages + 1,)
    terms: np.ndarray  # int32 (nnz,): column of each count
    counts: np.ndarray  # float32 (nnz,)
    lengths: np.ndarray  # float32 (passages,): terms per passage, repeats counted

    FILES = ("bm25.npz", "bm25_vocab.json")

    @classmethod
    def of(cls, texts: list[str], config: Config) -> "SegmentTerms":
        """Count the BM25 terms (the index's tokenizer; `rag.text.bm25_doc_tokens`) of passages."""
        vocab: dict[str, int] = {}
        indptr, terms, counts, lengths = [0], [], [], []
        for text in texts:
            tokens = bm25_doc_tokens(text, config) or [EMPTY]
            ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int64, count=len(tokens))
            unique, n = np.unique(ids, return_counts=True)
            terms.append(unique)
            counts.append(n)
            lengths.append(len(tokens))
            indptr.append(indptr[-1] + len(unique))
        return cls(list(vocab), np.asarray(indptr, np.int64),
                   np.concatenate(terms).astype(np.int32) if terms else np.zeros(0, np.int32),
                   np.concatenate(counts).astype(np.float32) if counts else np.zeros(0, np.float32),
                   np.asarray(lengths, np.float32))

    def save(self, folder: Path) -> None:
        np.savez(folder / "bm25.npz", indptr=self.indptr, terms=self.terms, counts=self.counts, lengths=self.lengths)
        (folder / "bm25_vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "SegmentTerms":
        with np.load(folder / "bm25.npz", allow_pickle=False) as z:
            parts = {k: z[k] for k in ("indptr", "terms", "counts", "lengths")}
        vocab = json.loads((folder / "bm25_vocab.json").read_text(encoding="utf-8"))
        if (not isinstance(vocab, list) or len(parts["indptr"]) != len(parts["lengths"]) + 1
                or int(parts["indptr"][-1]) != len(parts["terms"]) or len(parts["terms"]) != len(parts["counts"])
                or (len(parts["terms"]) and int(parts["terms"].max()) >= len(vocab))):
            raise ValueError(f"BM25 counts in {folder} do not fit together")
        return cls(vocab, **parts)


class BM25:
    """BM25 scores of the live passages of every segment, with whole-index statistics.

    Args:
        segments: (terms of a segment, boolean mask of its live passages) in chunk order; the
            merged rows are the live passages, segment after segment.
    """

    def __init__(self, segments: list[tuple[SegmentTerms, np.ndarray]]) -> None:
        vocab: dict[str, int] = {}
        rows_terms, rows_counts, rows_ptr, lengths = [], [], [np.zeros(1, np.int64)], []
        offset = 0
        for seg, live in segments:
            to_global = np.fromiter((vocab.setdefault(t, len(vocab)) for t in seg.vocab), dtype=np.int32,
                                    count=len(seg.vocab))
            keep = np.flatnonzero(live)
            starts, ends = seg.indptr[keep], seg.indptr[keep + 1]
            take = _ranges(starts, ends)
            rows_terms.append(to_global[seg.terms[take]] if len(take) else np.zeros(0, np.int32))
            rows_counts.append(seg.counts[take])
            rows_ptr.append(offset + np.cumsum(ends - starts))
            offset += int((ends - starts).sum())
            lengths.append(seg.lengths[keep])
        terms = np.concatenate(rows_terms) if rows_terms else np.zeros(0, np.int32)
        counts = np.concatenate(rows_counts) if rows_counts else np.zeros(0, np.float32)
        indptr = np.concatenate(rows_ptr)
        length = np.concatenate(lengths) if lengths else np.zeros(0, np.float32)
        n = len(length)
        self.vocab = vocab
        self.num_docs = n
        if n == 0:
            self.data, self.indices, self.colptr = np.zeros(0, np.float32), np.zeros(0, np.int32), np.zeros(len(vocab) + 1, np.int64)
            return
        df = np.bincount(terms, minlength=len(vocab)).astype(np.float64)
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        row_of = np.repeat(np.arange(n, dtype=np.int32), np.diff(indptr))
        norm = K1 * ((1 - B) + B * length / length.mean())
        weights = (idf[terms] * counts / (norm[row_of] + counts)).astype(np.float32)
        order = np.argsort(terms, kind="stable")  # column-major: a query term's postings lie together
        self.data, self.indices = weights[order], row_of[order]
        self.colptr = np.concatenate([[0], np.cumsum(np.bincount(terms, minlength=len(vocab)))]).astype(np.int64)

    def get_scores(self, tokens: list[str]) -> np.ndarray:
        """float32 (live passages,): the sum over the query's terms (repeats counted, unknown ones
        ignored) of each passage's BM25 weight."""
        scores = np.zeros(self.num_docs, dtype=np.float32)
        for t in tokens:
            j = self.vocab.get(t)
            if j is not None:
                a, b = self.colptr[j], self.colptr[j + 1]
                scores[self.indices[a:b]] += self.data[a:b]  # rows are distinct within a column
        return scores


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenation of range(s, e) for each pair, without a Python loop."""
    sizes = ends - starts
    if not len(sizes) or not sizes.sum():
        return np.zeros(0, np.int64)
    firsts = np.repeat(starts - np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes)
    return firsts + np.arange(int(sizes.sum()))

