"""The local vector store: FAISS in each segment's folder (exact inner product, or HNSW).

    store.search(query_vectors, depth) -> (scores, ids)   # ids are rows of the loaded chunks
    store.ntotal                                          # number of vectors

Loading merges the segments' live vectors (`FaissStore.merged`). The other
backend, Milvus, keeps vectors, BM25 and passages together: `rag.index.milvus`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np



class FaissStore:
    """FAISS in a file: exact inner product (flat) or HNSW."""

    FILE = "vectors.faiss"

    def __init__(self, index) -> None:
        self.index = index

    @classmethod
    def build(cls, vectors: np.ndarray, index_type: str = "flat") -> "FaissStore":
        import faiss

        dim = vectors.shape[1]
        if index_type == "hnsw":
            index = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 80
            index.hnsw.efSearch = 64
        else:
            index = faiss.IndexFlatIP(dim)
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        return cls(index)

    def save(self, folder: Path) -> None:
        import faiss

        faiss.write_index(self.index, str(folder / self.FILE))

    @classmethod
    def load(cls, folder: Path) -> "FaissStore":
        import faiss

        return cls(faiss.read_index(str(folder / cls.FILE)))

    @classmethod
    def merged(cls, parts: list[tuple["FaissStore", np.ndarray]], index_type: str = "flat") -> "FaissStore":
        """One store of the live rows (bool masks) of several, in order: a segment alone with every
        row live is used as it is; otherwise the live vectors are copied into a new index (a flat
        copy is a memcpy; HNSW builds its graph again: ~1 min per 50,000 rows here).
        """
        if len(parts) == 1 and parts[0][1].all():
            return parts[0][0]
        dim = parts[0][0].index.d
        live = [store.index.reconstruct_n(0, store.ntotal)[mask] if store.ntotal else np.zeros((0, dim), np.float32)
                for store, mask in parts]
        return cls.build(np.concatenate(live) if live else np.zeros((0, dim), np.float32), index_type)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def search(self, vectors: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), depth)
