"""Vector stores behind one small interface: FAISS files (default) or Milvus.

    store.search(query_vectors, depth) -> (scores, ids)   # ids are chunk rows
    store.ntotal                                          # number of vectors

`FaissStore` keeps an exact inner-product (or HNSW) index in the index
folder. `MilvusStore` keeps the vectors in a Milvus collection: Milvus Lite
(a local file, `milvus-lite:/path/file.db` or any `*.db` path) for tests and
single machines, a Milvus server or cluster by URI (`milvus://host:19530`,
`http(s)://...`) with no other change. Each build writes a new collection
named after its data folder; the manifest switch makes it current and the
previous collection is dropped, so readers never see a half-written one.
BM25 stays in the index folder for both: Milvus's own full-text search would
need its analyzer to tokenize Chinese the way we measured (character bigrams
plus pinyin), and keeping one BM25 implementation keeps the two backends'
answers identical.
"""

from __future__ import annotations

import re
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


def _milvus_client(uri: str):
    import logging

    # Milvus Lite logs "Method not implemented" for server-only calls it skips
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    try:
        from pymilvus import MilvusClient
    except ImportError as e:
        raise ImportError("the Milvus store needs: pip install pymilvus milvus-lite") from e
    if uri.endswith(".db"):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    return MilvusClient(uri)


class MilvusStore:
    """Vectors in a Milvus collection (Milvus Lite file, server or cluster)."""

    def __init__(self, uri: str, collection: str, client=None) -> None:
        self.uri = uri
        self.collection = collection
        self.client = client or _milvus_client(uri)
        if not self.client.has_collection(collection):
            raise LookupError(f"Milvus collection {collection} is missing at {uri}")
        self.client.load_collection(collection)

    @staticmethod
    def collection_prefix(index_dir: Path) -> str:
        """Collections of one index folder share a prefix (a server may hold many indexes)."""
        import hashlib

        return "rag_" + hashlib.sha256(str(Path(index_dir).resolve()).encode()).hexdigest()[:8] + "_"

    @classmethod
    def collection_name(cls, index_dir: Path, data_name: str) -> str:
        return cls.collection_prefix(index_dir) + re.sub(r"\W", "_", data_name)

    @classmethod
    def build(cls, uri: str, collection: str, vectors: np.ndarray, batch: int = 2000) -> "MilvusStore":
        client = _milvus_client(uri)
        if client.has_collection(collection):
            client.drop_collection(collection)
        client.create_collection(collection, dimension=int(vectors.shape[1]), metric_type="IP",
                                 consistency_level="Strong", auto_id=False)
        for i in range(0, len(vectors), batch):
            rows = [{"id": int(j), "vector": vectors[j].tolist()} for j in range(i, min(i + batch, len(vectors)))]
            client.insert(collection, rows)
        return cls(uri, collection, client)

    @property
    def ntotal(self) -> int:
        stats = self.client.get_collection_stats(self.collection)
        return int(stats.get("row_count", 0))

    def search(self, vectors: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        res = self.client.search(self.collection, data=[v.tolist() for v in vectors], limit=depth,
                                 search_params={"metric_type": "IP"}, output_fields=[])
        scores = np.full((len(vectors), depth), -np.inf, dtype=np.float32)
        ids = np.full((len(vectors), depth), -1, dtype=np.int64)
        for row, hits in enumerate(res):
            for col, hit in enumerate(hits[:depth]):
                ids[row, col] = int(hit["id"])
                scores[row, col] = float(hit["distance"])
        return scores, ids

    def drop_others(self, prefix: str) -> None:
        """Drop this index's previous collections (after the manifest switch)."""
        for name in self.client.list_collections():
            if name.startswith(prefix) and name != self.collection:
                self.client.drop_collection(name)
