"""Retrieval quality on the real seeds with the real bundled model."""

import pytest

from rag.text import squash


def _evidence_rank(hits, evidence):
    ev = squash(evidence)
    return next((h.rank for h in hits if ev in squash(h.text)), None)


@pytest.mark.slow
def test_hybrid_puts_evidence_in_top5_for_90_percent(retriever, gold):
    answerable = [g for g in gold if g["answers"]]
    found = [_evidence_rank(retriever.search(g["question"], k=5), g["evidence"]) for g in answerable]
    hit5 = sum(r is not None for r in found) / len(found)
    assert hit5 >= 0.90, f"hybrid Hit@5 {hit5:.3f}"


def test_hits_carry_their_fields(retriever):
    hits = retriever.search("吉家庄村的第一书记是谁？", k=5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    h = hits[0]
    article = retriever.article(h.doc_id)
    assert article.text[h.start : h.end] == h.text
    assert h.source.endswith(".txt") and h.title == article.title
    assert any("姚欣" in x.text for x in hits[:3])


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_every_mode_finds_a_literal_question(retriever, mode):
    hits = retriever.search("张连印回乡18年共植树多少万株", k=3, mode=mode)
    assert any("205万株" in h.text for h in hits)


def test_english_question_reaches_chinese_article_through_dense(retriever):
    hits = retriever.search("How many electric bikes are there in the subdistrict?", k=3, mode="dense")
    assert any("3248辆电动车" in h.text for h in hits)


def test_pinyin_names_in_english_questions_match_chinese_names(retriever):
    hits = retriever.search("Who is the first secretary of Jijiazhuang village?", k=3, mode="hybrid")
    assert "姚欣" in hits[0].text
    hits = retriever.search("How many trees did Zhang Lianyin plant?", k=3, mode="bm25")
    assert all("张连印" in h.text for h in hits)


@pytest.mark.parametrize("bad, message", [("", "empty"), ("   \n\t", "empty"), ("？？！！。", "no words")])
def test_bad_questions_raise_readable_errors(retriever, bad, message):
    with pytest.raises(ValueError, match=message):
        retriever.search(bad)


def test_bad_k_and_mode(retriever):
    with pytest.raises(ValueError, match="k must be"):
        retriever.search("山西", k=0)
    with pytest.raises(ValueError, match="mode must be"):
        retriever.search("山西", mode="magic")


def test_huge_question_is_cut_not_refused(retriever):
    hits = retriever.search("吉家庄村的第一书记是谁？" * 5000, k=3)
    assert len(hits) == 3
