"""Reader spans checked and completed against what the question asks (rag/answer/span.py).

Each case is a kind of failure users met (wrong unit, dropped qualifier, a year answered with a
duration, a speech verb or a title fragment kept), on a sentence written here.
"""

import pytest

from rag.answer.span import complete, expected


def _complete(sentence: str, question: str, span: str):
    start = sentence.index(span)
    done = complete(sentence, start, start + len(span), (0, len(sentence)), expected(question))
    return None if done is None else sentence[done[0] : done[1]]


@pytest.mark.parametrize("sentence, question, span, want", [
    # the unit the question names picks the number
    ("全镇建成42座1200平方米的温室，种植反季节蔬菜。", "全镇建成了多少平方米的温室？", "42座", "1200平方米"),
    ("全镇建成42座1200平方米的温室，种植反季节蔬菜。", "全镇建成了多少座温室？", "42座", "42座"),
    ("全镇建成42座1200平方米的温室，种植反季节蔬菜。", "全镇建成了多少座温室？", "42座1200平方米", "42座"),
    ("项目总投资1.8亿元，年内完工。", "项目总投资多少元？", "1.8亿", "1.8亿元"),
    # a qualifier next to a number is part of the value
    ("改造前，村均收入不足3万元。", "改造前村均收入是多少？", "3万元", "不足3万元"),
    ("新建的充电桩可满足4000余辆电动车充电。", "充电桩可满足多少辆电动车充电？", "4000", "4000余辆"),
    ("活动吸引了约300名志愿者参加。", "活动吸引了多少名志愿者？", "300名", "约300名"),
    # a day is a whole date; a year is a calendar year, not a duration
    ("合作社于2019年3月6日正式成立。", "合作社是哪天成立的？", "2019年", "2019年3月6日"),
    ("他2008年参军，在部队服役12年。", "他是哪一年参军的？", "2008年", "2008年"),
    # a person without the verb of saying after the name
    ("施工队长周敏说，工程年底完工。", "谁说工程年底完工？", "周敏说", "周敏"),
    ("北石镇镇长秦志远表示，污水处理厂已投运。", "谁表示污水处理厂已投运？", "秦志远表示", "秦志远"),
    # ...and what is already whole stays as it is
    ("齐武帝派范缜出使北魏。", "齐武帝派谁出使北魏？", "范缜", "范缜"),
    ("说这种方言的有150万，多在山区。", "说这种方言的有多少人？", "150万", "150万"),  # a bare number answers
    ("两站年发送旅客可达6.5万、8.5万人次。", "两站年发送旅客可达多少人次？", "6.5万、8.5万人次", "6.5万、8.5万人次"),
    ("硕塞卒于顺治十一年。", "硕塞卒于哪一年？", "顺治十一年", "顺治十一年"),
    ("两组的首六位晋身决赛周。", "两组中的多少名能晋身决赛周？", "首六位", "首六位"),  # count words vary: 位 for 名
    ("天后庙始建于1753年。", "天后庙建于哪一年？", "1753", "1753年"),
])
def test_spans_are_completed_for_what_is_asked(sentence, question, span, want):
    assert _complete(sentence, question, span) == want


@pytest.mark.parametrize("sentence, question, span", [
    ("老兵刘德耀参军30年，始终坚守岗位。", "刘德耀是哪一年参军的？", "30年"),  # a duration is not a year
    ("全镇建成42座温室，种植反季节蔬菜。", "全镇建成了多少平方米的温室？", "42座"),  # no number of that unit
])
def test_a_span_that_cannot_be_what_is_asked_is_no_answer(sentence, question, span):
    assert _complete(sentence, question, span) is None


@pytest.mark.parametrize("question, kind, unit", [
    ("山西省共选派了多少名干部到村任职？", "number", "名"),
    ("张连印回乡以后一共植树多少株？", "number", "株"),
    ("总投资是多少？", "number", "元"),
    ("合作社是什么时候成立的？", "day", None),
    ("他是哪一年参军的？", "year", None),
    ("吉家庄村的第一书记是谁？", "person", None),
    ("为什么要改种早熟品种？", "other", None),
    ("沿线设置了哪几个站点？", "other", None),  # a list, not a number
])
def test_what_a_question_asks_for_comes_from_its_words(question, kind, unit):
    want = expected(question)
    assert (want.kind, want.unit) == (kind, unit)


@pytest.mark.parametrize("question, noun", [
    ("李国平毕业于哪所大学？", "大学"),
    ("他在哪个单位工作？", "单位"),
    ("SmartFarm系统是哪家公司推出的？", "公司"),
    ("长张高速公路的简称是什么？", ""),
    ("吉家庄村的第一书记是谁？", ""),
])
def test_the_noun_a_question_word_asks_about(question, noun):
    """An answer that is only this noun ("哪所大学" -> "大学") names nothing: the answer layer drops it."""
    from rag.answer.question import asked_about

    assert asked_about(question) == noun
