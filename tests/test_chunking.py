from rag.ingest.chunking import chunk_articles
from rag.ingest.corpus import load_corpus

from .conftest import SEEDS


def test_chunks_know_their_offsets_and_stay_inside_articles():
    corpus = load_corpus(SEEDS)
    articles = {a.doc_id: a for a in corpus.articles}
    chunks = chunk_articles(corpus.articles, 300, 50)
    assert len(chunks) > len(articles)
    for c in chunks:
        article = articles[c.doc_id]
        assert article.text[c.start : c.end] == c.text
        assert len(c.text) <= 300
        assert c.title == article.title and c.embed_text.startswith(article.title)
        assert c.chunk_id.startswith(c.doc_id + "-")


def test_chunks_cover_every_article_and_split_at_sentence_ends():
    corpus = load_corpus(SEEDS)
    chunks = chunk_articles(corpus.articles, 200, 0)
    for a in corpus.articles:
        mine = [c for c in chunks if c.doc_id == a.doc_id]
        covered = "".join(c.text for c in mine)
        assert "".join(covered.split()) == "".join(a.text.split())
    ends = [c.text[-1] for c in chunks]
    assert sum(e in "。！？；”" for e in ends) / len(ends) > 0.8


def test_ids_are_stable_across_rebuilds():
    first = chunk_articles(load_corpus(SEEDS).articles)
    second = chunk_articles(load_corpus(SEEDS).articles)
    assert [(c.chunk_id, c.start, c.end) for c in first] == [(c.chunk_id, c.start, c.end) for c in second]
