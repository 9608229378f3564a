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
# Closing quotes and brackets end the sentence before them: the splitter cuts after "。" and would
# start the next chunk with "”" (issue 21). `_closers_kept` moves such a cut behind them.
CLOSERS = "”’\"」』）)》】〉"


def _closers_kept(text: str, start: int, end: int, covered_to: int) -> tuple[int, int]:
    """[start, end) widened over the closing marks that follow it (spaces on the line between
    included), and narrowed past the closing marks and spaces that open it where the chunk before
    (which ends at `covered_to`) already holds them: no character is left out of every chunk."""
    j = end
    while j < len(text) and text[j] in " \t\u3000":
        j += 1
    if j < len(text) and text[j] in CLOSERS:
        while j < len(text) and text[j] in CLOSERS:
            j += 1
        end = j
    while start < min(end, covered_to) and (text[start] in CLOSERS or text[start].isspace()):
        start += 1
    return start, end


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
    spans: list[tuple[int, int]] = []
    cursor, covered_to, last_start, last_end = 0, 0, -1, 0
    for piece in pieces:
        # The next piece repeats at most `overlap` characters of this one, so it starts no earlier
        # than end - overlap (or where this one starts, when this one is shorter than the overlap: a
        # short line with a long run of spaces, from a real news page) and ends after it: searching
        # from there keeps a repeated passage ("000…" twice) from matching its earlier copy.
        start = article.text.find(piece, cursor)
        while 0 <= start and (start + len(piece) < last_end
                              or (start == last_start and start + len(piece) <= last_end)):
            start = article.text.find(piece, start + 1)
        if start < 0:  # cannot happen with strip-only transforms; keep it loud
            raise AssertionError(f"chunk not found in article {article.doc_id}")
        end = start + len(piece)
        # the splitter's piece, before the widening below
        cursor, last_start, last_end = max(start, end - overlap), start, end
        start, end = _closers_kept(article.text, start, end, covered_to)
        if start >= end:
            continue  # only closing marks: they are in the chunk before
        covered_to = max(covered_to, end)
        spans.append((start, end))
    # a piece inside the next one (a line shorter than the overlap, repeated whole): one passage, not two
    spans = [s for i, s in enumerate(spans)
             if not (i + 1 < len(spans) and spans[i + 1][0] <= s[0] and s[1] <= spans[i + 1][1])]
    return [Chunk(chunk_id=f"{article.doc_id}-{n:03d}", doc_id=article.doc_id, source=article.source,
                  title=article.title, text=article.text[start:end], start=start, end=end)
            for n, (start, end) in enumerate(spans)]


def chunk_articles(articles: list[Article], size: int = 300, overlap: int = 50) -> list[Chunk]:
    return [c for a in articles for c in chunk_article(a, size, overlap)]
