"""Chinese-aware chunking of articles with langchain-text-splitters.

Split order: paragraphs, lines, sentence ends (。！？；), then clauses (，、),
then characters; sizes in characters. Chunks never cross articles, carry the
article title (prepended only for embedding and BM25, not to `text`) and their
character offsets in the article, and get ids from the article id plus
position, so ids are stable across rebuilds of an unchanged article.
"""

from __future__ import annotations

from dataclasses import dataclass

from rag.ingest.article import Article

SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", "，", "、", ",", ""]


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    source: str
    title: str
    text: str
    start: int
    end: int

    @property
    def embed_text(self) -> str:
        """What the embedder and BM25 see: headline, then the passage."""
        return f"{self.title}\n{self.text}" if self.title else self.text


def _splitter(size: int, overlap: int):
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        keep_separator="end",  # "。" stays with its sentence
        chunk_size=size,
        chunk_overlap=overlap,
        length_function=len,
        strip_whitespace=True,
    )


def chunk_article(article: Article, size: int = 300, overlap: int = 50) -> list[Chunk]:
    """Split one article into chunks with exact offsets into `article.text`."""
    pieces = _splitter(size, overlap).split_text(article.text)
    chunks, cursor = [], 0
    for piece in pieces:
        # The next piece repeats at most `overlap` characters of this one, so it
        # starts no earlier than end - overlap: searching from there keeps a
        # repeated passage ("000…" twice) from matching its earlier copy.
        start = article.text.find(piece, cursor)
        if start < 0:  # cannot happen with strip-only transforms; keep it loud
            raise AssertionError(f"chunk not found in article {article.doc_id}")
        end = start + len(piece)
        chunks.append(
            Chunk(
                chunk_id=f"{article.doc_id}-{len(chunks):03d}",
                doc_id=article.doc_id,
                source=article.source,
                title=article.title,
                text=piece,
                start=start,
                end=end,
            )
        )
        cursor = max(start + 1, end - overlap)
    return chunks


def chunk_articles(articles: list[Article], size: int = 300, overlap: int = 50) -> list[Chunk]:
    return [c for a in articles for c in chunk_article(a, size, overlap)]
