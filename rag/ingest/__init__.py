"""Ingest: files -> articles -> passages.

Modules: `decode` (bytes -> text), `layout` (a newspaper page -> articles),
`formats` (.txt/.md/.html/.jsonl/.pdf/.docx), `documents` (PDF and Word), `corpus` (a folder -> `Corpus`, stable
ids), `article` (the `Article` record), `chunking` (articles -> `Chunk`s).
"""

from rag.ingest.article import Article
from rag.ingest.chunking import Chunk, chunk_articles
from rag.ingest.corpus import Corpus, load_corpus

__all__ = ["Article", "Chunk", "Corpus", "chunk_articles", "load_corpus"]
