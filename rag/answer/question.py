"""Question analysis for the answer layer: content terms and shape (one fact, several parts, open).

The answer spans themselves come from the trained reader (`rag.reader`);
no rule here picks an answer.
"""

from __future__ import annotations

import re

from rag.text import CJK_CHARS, CJK_RUN, get_jieba, pinyin_query_tokens

# What a question word leaves out of the content terms.
# A question word takes its measure word or category noun with it: in
# "多少名干部" the answer sentence has "4085名", in "哪家单位" it names the
# unit without the word 单位, so neither word is looked for in the passage.
_QWORD = re.compile(r"^(多少|几|哪|什么|谁|为什么|为何|怎么|如何|是否|何时)")
_CATEGORY = set(
    "单位 部门 公司 机构 企业 学校 大学 银行 组织 村 县 市 镇 省 乡 区 地方 人 名字 东西 时候 时间 "
    "月份 月 点 号 天 年 个 名 位 次 户 座 条 项 所 家 岁 亩 株 辆 台".split()
)
_STOP = set("的 了 是 在 和 与 及 有 为 被 把 将 对 从 到 由 也 都 就 而 并 或 这 那 其 之 中 上 下 内 要 会 能 可以 一个 通过 进行 目前 共 已 曾 又 还 让 使 给 向 后 前 时 吗 呢 叫 而成 而来 主要".split())
_EDGE = "是的了在由把被将对从到和与及也都就这那其之"


def content_terms(query: str) -> list[str]:
    """Words of a question that an answering passage should contain, in order, without repeats.

    Chinese: jieba words of two or more characters (and single-character
    nouns), without question words, the measure word or category noun a
    question word takes with it, and stop words. English: pinyin bigrams of
    names (the pinyin bridge) and numbers; other English words cannot be
    looked up in Chinese text.
    """
    terms: list[str] = []
    if CJK_RUN.search(query):
        after_qword = 0
        for word in get_jieba().lcut(query):
            word = word.strip()
            if _QWORD.match(word):
                after_qword = 2  # its measure word / category noun may follow
                continue
            if after_qword and word in _CATEGORY:
                after_qword -= 1
                continue
            after_qword = 0
            if word in _STOP:
                continue
            word = word.strip(_EDGE) if len(word) > 1 else word
            if not word or word in _STOP or not re.search(rf"[{CJK_CHARS}\w]", word):
                continue
            if len(word) == 1 and not CJK_RUN.fullmatch(word):
                continue
            terms.append(word)
    else:
        terms.extend(pinyin_query_tokens(query))
        terms.extend(re.findall(r"\d+(?:\.\d+)?", query))
    return list(dict.fromkeys(terms))


# ---------------------------------------------------------------- question shape

# Open questions ask for a description, reasons or a list of measures: the
# answer is several sentences, not a span.
OPEN_QUESTION = re.compile(
    r"哪些(?:做法|措施|举措|经验|办法|方面|工作|成效|成绩|特点|变化|内容|亮点|问题|困难|作用|意义)|"
    r"有哪些|为什么|为何|什么原因|怎么样|怎样|如何|怎么(?:做|办|干)|做了什么|做了哪些|采取了|"
    r"\bwhy\b|\bhow did\b|\bhow does\b|\bhow do\b|\bwhat measures\b|\bwhat steps\b",
    re.I,
)
_QUESTION_WORD = re.compile(r"多少|几[个名位年月日天次家所条项]|哪一?[个年天里位家所些]|什么|谁|何时|是否|为什么|怎么|如何")
_BOTH = re.compile(r"分别|各自|各是|各有|各为|各多少")
# two members joined by a conjunction, each ending before 的/分别/各/是/在 or punctuation
_PAIR = re.compile(rf"([0-9A-Za-z{CJK_CHARS}]+?)(和|与|以及|及|、|跟)([0-9A-Za-z{CJK_CHARS}]+?)(?=的|分别|各|是|在|[，,？?]|$)")


def is_open_question(query: str) -> bool:
    """A question whose answer is several sentences (measures, reasons, a description), not a span."""
    return bool(OPEN_QUESTION.search(query))


def question_parts(query: str) -> list[str]:
    """Sub-questions of a question with several parts, else [query].

    "吉家庄村和西马村的第一书记分别是谁？" -> one question per village;
    "活动开始和结束的时间分别是几点？" -> one per attribute: the pair joined
    by 和/与/及/、 is replaced by each member in turn. Two question words
    joined by a conjunction or comma ("…多少人，…多少亩？") split there.
    """
    q = query.strip()
    words = _QUESTION_WORD.findall(q)
    if len(words) >= 2:
        m = list(_QUESTION_WORD.finditer(q))
        cut = max((c.start() for c in re.finditer(r"[，,；;]|和|以及|并且|还有", q[m[0].end() : m[1].start()])),
                  default=None)
        if cut is not None:
            at = m[0].end() + cut
            first = q[:at].rstrip("，,；; ")
            second = re.sub(r"^[，,；;]?(和|以及|并且|还有)?", "", q[at:]).strip()
            if len(first) >= 4 and len(second) >= 4:
                return [first.rstrip("？?") + "？", second if second.endswith(("？", "?")) else second + "？"]
    if not _BOTH.search(q):
        return [q]
    m = _PAIR.search(q)
    if not m:
        return [q]
    left, right = m.group(1), m.group(3)
    before, after = q[: m.start(1)], q[m.end(3) :]
    if left[-1] != right[-1] and len(left) > len(right):
        # "活动开始和结束": an attribute pair shares what precedes it; two names
        # of one kind ("吉家庄村和西马村") end alike and are kept whole
        before, left = before + left[: -len(right)], left[-len(right) :]
    after = re.sub(r"^(的[^分各]*?)?(分别|各自|各)(是|为|有)?", lambda x: (x.group(1) or "") + (x.group(3) or "是"), after)
    return [before + left + after, before + right + after]




def asked_about(query: str) -> str:
    """The noun a question word asks about: "大学" in "李国平毕业于哪所大学？" ("" when there is none).
    An answer that is only this noun names nothing."""
    words = [w for w in get_jieba().lcut(query) if w.strip()]
    for i, w in enumerate(words):
        if re.fullmatch(r"哪[一个所家位种座条些]?|什么|何种", w):
            rest = words[i + 1 :]
            if rest and len(w) == 1 and rest[0] in "一个所家位种座条些":  # 哪 / 所 / 大学
                rest = rest[1:]
            return rest[0] if rest and CJK_RUN.fullmatch(rest[0]) else ""
    return ""
