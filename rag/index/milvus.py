"""All of retrieval in Milvus: vectors, BM25, passages and their metadata in one collection.

For archives beyond one machine (`--store milvus://HOST:PORT`, or Milvus Lite
in a file: `--store milvus-lite[:FILE.db]`). Each row is one passage of one
segment (`rag.index.segment`):

    key          VARCHAR primary key, "<segment>/<chunk_id>"
    segment      the data folder it was written with (searches see only the manifest's segments)
    chunk_id, doc_id, source, title, text, start, end, date (YYYY-MM-DD or "")
    bm25_text    headline + passage, analysed by Milvus's jieba tokenizer
    sparse       Milvus's own BM25 function over bm25_text
    vector       the passage's e5 vector (inner product)

Search runs inside Milvus: dense (`vector`), BM25 (`sparse`), or both fused
by Milvus's reciprocal-rank fusion (`RRFRanker`, k = Config.rrf_k; Milvus has
no weighted RRF, so the local backend's BM25 weight 1.5 is not applied), with
the segments and the date range as a scalar filter. What differs from the
local backend: BM25 tokens are jieba words (not character bigrams plus
pinyin, so an English question finds Chinese names by its vector only), and
the fusion is unweighted; the README gives the dev gold figures of both.

Writes: a full build creates a new collection, filled before the manifest
names it (the previous one is dropped after the switch). An update inserts
the new segment's rows before the switch (invisible until the manifest lists
the segment) and deletes the rows of removed articles after it; until that
delete has run, the retriever drops them from results itself (the manifest
lists them), so a build killed in between shows no removed text.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path

import numpy as np

from rag.ingest.chunking import Chunk

log = logging.getLogger(__name__)

MAX_TEXT = 8192  # characters per VARCHAR field (a passage is at most chunk_size, a headline 120)
INSERT_BATCH = 500
DELETE_BATCH = 200  # ids per delete expression


def milvus_client(uri: str):
    """A MilvusClient for a server URI or a Milvus Lite file (its folder created)."""
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)  # Lite logs "Method not implemented" for server-only calls
    logging.getLogger("grpc._server").setLevel(logging.CRITICAL)  # Lite's server logs those calls as tracebacks
    try:  # Milvus Lite's analyzer imports jieba, which sets itself to DEBUG on import: import it first, then quiet it
        import jieba

        jieba.setLogLevel(logging.WARNING)
    except ImportError:
        pass
    try:
        from pymilvus import MilvusClient
    except ImportError as e:
        raise ImportError("the Milvus store needs: pip install pymilvus milvus-lite") from e
    if uri.endswith(".db"):
        Path(uri).parent.mkdir(parents=True, exist_ok=True)
    return MilvusClient(uri)


def collection_prefix(index_dir: Path) -> str:
    """Collections of one index folder share a prefix (a server may hold many indexes)."""
    return "rag_" + hashlib.sha256(str(Path(index_dir).resolve()).encode()).hexdigest()[:8] + "_"


def collection_name(index_dir: Path, data_name: str) -> str:
    return collection_prefix(index_dir) + re.sub(r"\W", "_", data_name)


def _quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class MilvusIndex:
    """One index's collection: insert a segment, delete articles, search (dense, BM25, hybrid)."""

    OUTPUT = ["chunk_id", "doc_id", "source", "title", "text", "start", "end", "date", "segment"]

    def __init__(self, uri: str, collection: str, client=None) -> None:
        self.uri = uri
        self.collection = collection
        self.client = client or milvus_client(uri)
        if not self.client.has_collection(collection):
            raise LookupError(f"Milvus collection {collection} is missing at {uri}")
        self.client.load_collection(collection)

    @classmethod
    def create(cls, uri: str, collection: str, dim: int) -> "MilvusIndex":
        from pymilvus import DataType, Function, FunctionType

        client = milvus_client(uri)
        if client.has_collection(collection):
            client.drop_collection(collection)
        schema = client.create_schema(auto_id=False)
        schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
        for name, length in (("segment", 64), ("chunk_id", 256), ("doc_id", 256), ("source", 512), ("title", 1024),
                             ("text", MAX_TEXT), ("date", 10)):
            schema.add_field(name, DataType.VARCHAR, max_length=length)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("bm25_text", DataType.VARCHAR, max_length=MAX_TEXT, enable_analyzer=True,
                         analyzer_params={"tokenizer": "jieba"})
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dim))
        schema.add_function(Function(name="bm25", function_type=FunctionType.BM25, input_field_names=["bm25_text"],
                                     output_field_names=["sparse"]))
        params = client.prepare_index_params()
        params.add_index("vector", index_type="FLAT", metric_type="IP")  # exact, as the local flat index
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection(collection, schema=schema, index_params=params, consistency_level="Strong")
        return cls(uri, collection, client)

    def insert(self, segment: str, chunks: list[Chunk], vectors: np.ndarray, dates: dict[str, str]) -> None:
        """Add a segment's passages (float32 `vectors`, one row per chunk) with their articles' dates."""
        for i in range(0, len(chunks), INSERT_BATCH):
            rows = [{
                "key": f"{segment}/{c.chunk_id}", "segment": segment, "chunk_id": c.chunk_id, "doc_id": c.doc_id,
                "source": c.source[:512], "title": c.title[:1024], "text": c.text[:MAX_TEXT],
                "date": dates.get(c.doc_id, ""), "start": int(c.start), "end": int(c.end),
                "bm25_text": c.embed_text[:MAX_TEXT], "vector": np.asarray(v, dtype=np.float32).tolist(),
            } for c, v in zip(chunks[i : i + INSERT_BATCH], vectors[i : i + INSERT_BATCH])]
            if rows:
                self.client.insert(self.collection, rows)

    def delete(self, segment: str, doc_ids: list[str]) -> None:
        """Delete the rows of these articles in one segment (already deleted ones are no-ops)."""
        for i in range(0, len(doc_ids), DELETE_BATCH):
            ids = ", ".join(_quote(d) for d in doc_ids[i : i + DELETE_BATCH])
            self.client.delete(self.collection, filter=f"segment == {_quote(segment)} and doc_id in [{ids}]")

    def count(self) -> int:
        res = self.client.query(self.collection, filter="", output_fields=["count(*)"])
        return int(res[0]["count(*)"]) if res else 0

    def search(self, query: str, vector: np.ndarray | None, depth: int, mode: str, segments: list[str],
               since: str | None = None, until: str | None = None, rrf_k: int = 60) -> list[tuple[Chunk, float, str]]:
        """The best `depth` passages, best first: (chunk, score, segment).

        Args:
            vector: the query's unit vector (dense and hybrid modes).
            mode: "dense", "bm25" or "hybrid".
            segments: the manifest's segments (rows of others are not yet, or no longer, part of the index).
            since, until: YYYY-MM-DD bounds on the article's date (undated articles are then left out).
        """
        from pymilvus import AnnSearchRequest, RRFRanker

        depth = max(1, min(int(depth), 16384))  # Milvus's limit on topk
        expr = f"segment in [{', '.join(_quote(s) for s in segments)}]"
        if since or until:
            expr += ' and date != ""'
        if since:
            expr += f" and date >= {_quote(since)}"
        if until:
            expr += f" and date <= {_quote(until)}"
        dense = None if vector is None else [np.asarray(vector, dtype=np.float32).reshape(-1).tolist()]
        if mode == "dense":
            res = self.client.search(self.collection, data=dense, anns_field="vector", limit=depth, filter=expr,
                                     search_params={"metric_type": "IP"}, output_fields=self.OUTPUT)
        elif mode == "bm25":
            res = self.client.search(self.collection, data=[query], anns_field="sparse", limit=depth, filter=expr,
                                     search_params={"metric_type": "BM25"}, output_fields=self.OUTPUT)
        else:
            requests = [AnnSearchRequest(data=dense, anns_field="vector", param={"metric_type": "IP"}, limit=depth,
                                         expr=expr),
                        AnnSearchRequest(data=[query], anns_field="sparse", param={"metric_type": "BM25"},
                                         limit=depth, expr=expr)]
            res = self.client.hybrid_search(self.collection, requests, ranker=RRFRanker(rrf_k), limit=depth,
                                            output_fields=self.OUTPUT)
        out = []
        for hit in res[0] if res else []:
            e = hit["entity"]
            chunk = Chunk(e["chunk_id"], e["doc_id"], e["source"], e["title"], e["text"], int(e["start"]), int(e["end"]))
            # Milvus Lite reports BM25 as a negative distance; a score here is "higher is better"
            score = float(hit["distance"])
            out.append((chunk, -score if mode == "bm25" and score < 0 else score, e["segment"]))
        return out

    def drop_others(self, prefix: str) -> None:
        """Drop this index's previous collections (after the manifest switch)."""
        for name in self.client.list_collections():
            if name.startswith(prefix) and name != self.collection:
                self.client.drop_collection(name)
