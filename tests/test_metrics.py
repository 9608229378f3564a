import math

from rag.metrics import (
    answer_matches,
    citation_hits,
    cmrc_em,
    cmrc_f1,
    cmrc_normalize,
    evidence_rank,
    hit_at,
    mrr_at,
    ndcg_at,
    percentile,
)


def test_evidence_rank_ignores_white_space():
    passages = ["无关的段落。", "全省共选派 4085名干部\n到3169个村任职。"]
    assert evidence_rank(passages, "全省共选派4085名干部到3169个村任职") == 2
    assert evidence_rank(passages, "不存在的句子") is None


def test_rank_metrics():
    ranks = [1, 2, None, 5]
    assert hit_at(ranks, 1) == 0.25 and hit_at(ranks, 5) == 0.75
    assert math.isclose(mrr_at(ranks, 10), (1 + 0.5 + 0.2) / 4)
    assert math.isclose(ndcg_at(ranks, 10), (1 + 1 / math.log2(3) + 1 / math.log2(6)) / 4)
    assert mrr_at([11], 10) == 0.0


def test_answer_groups_all_must_match():
    groups = [["三峡"], ["港珠澳大桥", "港珠澳"]]
    assert answer_matches("从长江三峡工程到港珠澳 大桥", groups)
    assert not answer_matches("三峡工程", groups)
    assert not answer_matches("anything", [])


def test_citation_hits_either_direction():
    assert citation_hits("截至目前，全省共选派4085名干部到3169个村任职。", "全省共选派4085名干部到3169个村任职")
    assert citation_hits("他就打了8眼机井。", "张连印下决心改善家乡生态：缺水，他就打了8眼机井")
    assert not citation_hits("无关。", "全省共选派4085名干部")


def test_cmrc_em_and_f1():
    assert cmrc_normalize("《战国无双3》， 光荣！") == "战国无双3光荣"
    assert cmrc_em("光荣和ω-force。", ["光荣和ω-force"]) == 1.0
    f1 = cmrc_f1("由光荣和ω-force合作", ["光荣和ω-force"])
    assert 0.7 < f1 < 1.0
    assert cmrc_f1("", ["x"]) == 0.0 and cmrc_f1("甲乙", ["丙丁"]) == 0.0


def test_percentile_nearest_rank():
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95) == 10
    assert percentile([5], 50) == 5
