"""Question analysis and span extraction for the extractive answerer.

Owns: what a question asks for (number, date, person, place, organisation,
list, reason, entity), the question's content terms, sentence splitting with
article offsets, and candidate answer spans of the asked-for type inside a
sentence. Rules are about Chinese (and English) question words, never about
particular questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .text import _CJK_RUN, pinyin_doc_tokens, pinyin_query_tokens

# ---------------------------------------------------------------- question types

_TYPE_RULES: list[tuple[str, re.Pattern]] = [
    ("date", re.compile(r"哪一年|哪年|哪一天|哪天|什么时候|何时|几月|几号|几点|什么时间|哪个月|\bwhen\b|what year|which year|what date|what time", re.I)),
    ("org", re.compile(r"哪个(单位|部门|公司|机构|企业|学校|大学|银行|组织)|哪家|哪所|什么单位|which (company|organi[sz]ation|unit|department|bank|university|school)", re.I)),
    ("place", re.compile(r"哪里|哪儿|什么地方|哪个(村|县|市|镇|省|乡|区|旗|国家|地方|街道|社区)|哪座城市|在哪|\bwhere\b|which (village|county|city|town|province|district)", re.I)),
    ("number", re.compile(r"多少|几[^乎]|多大|多高|多长|多重|多远|多久|how many|how much|how old|how long|what percentage|number of", re.I)),
    ("person", re.compile(r"谁|哪位|叫什么名字|姓名|\bwho\b|\bwhom\b", re.I)),
    ("list", re.compile(r"哪些|哪几|\bwhich\b.*\bs\b\?$", re.I)),
    ("reason", re.compile(r"为什么|为何|什么原因|原因是|\bwhy\b", re.I)),
    ("entity", re.compile(r"什么|哪个|哪种|\bwhat\b|\bwhich\b", re.I)),
]
SPAN_TYPES = ("number", "date", "person", "place", "org")
_NON_PERSON_NAMED = re.compile(r"(公司|企业|单位|机构|组织|项目|平台|程序|品牌|产品|村|社区|小区|工程|活动|基地)(叫|的名字|名称)")


def question_type(query: str) -> str:
    """The kind of answer a question asks for."""
    if _NON_PERSON_NAMED.search(query):
        return "entity"
    # "几个村" / "哪几个" list questions are lists, not numbers
    if re.search(r"哪几|哪些", query):
        return "list"
    for name, pattern in _TYPE_RULES:
        if pattern.search(query):
            return name
    return "other"


# What a question word leaves out of the content terms.
# A question word takes its measure word or category noun with it: in
# "多少名干部" the answer sentence has "4085名", in "哪家单位" it names the
# unit without the word 单位, so neither word is looked for in the passage.
_QWORD = re.compile(r"^(多少|几|哪|什么|谁|为什么|为何|怎么|如何|是否|何时)")
_CATEGORY = set(
    "单位 部门 公司 机构 企业 学校 大学 银行 组织 村 县 市 镇 省 乡 区 地方 原则 产业 人 名字 东西 时候 时间 "
    "月份 月 点 号 天 年 个 名 位 次 期 篇 眼 户 座 条 项 所 家 岁 亩 株 辆 台 工程".split()
)
_STOP = set("的 了 是 在 和 与 及 有 为 被 把 将 对 从 到 由 也 都 就 而 并 或 这 那 其 之 中 上 下 内 要 会 能 可以 一个 通过 进行 目前 共 已 曾 又 还 让 使 给 向 后 前 时 吗 呢 叫 而成 而来 主要".split())
_EDGE = "是的了在由把被将对从到和与及也都就这那其之"


def content_terms(query: str) -> list[str]:
    return question_terms(query)[0]


def question_terms(query: str) -> tuple[list[str], set[str]]:
    """Words of a question that an answering passage should contain.

    Chinese: jieba words of two or more characters (and single-character
    nouns), without question words and stop words. English: pinyin bigrams of
    names (the pinyin bridge) and numbers; other English words cannot be
    looked up in Chinese text.
    """
    """(content terms, focus terms): the focus is the term next to the question
    word, the attribute asked about ("年销售收入是多少" -> 销售收入)."""
    from .text import _get_jieba

    terms: list[str] = []
    focus: set[str] = set()
    if _CJK_RUN.search(query):
        after_qword = 0
        seen_qword = took_after = False
        for word in _get_jieba().lcut(query):
            word = word.strip()
            if _QWORD.match(word):
                after_qword = 2  # its measure word / category noun may follow
                if terms and not seen_qword:
                    focus.add(terms[-1])
                seen_qword = True
                continue
            if after_qword and word in _CATEGORY:
                after_qword -= 1
                continue
            after_qword = 0
            if word in _STOP:
                continue
            word = word.strip(_EDGE) if len(word) > 1 else word
            if not word or word in _STOP or not re.search(r"[\u4e00-\u9fff\w]", word):
                continue
            if len(word) == 1 and not _CJK_RUN.fullmatch(word):
                continue
            if seen_qword and not took_after:
                focus.add(word)  # the first content term after the question word
                took_after = True
            terms.append(word)
    else:
        terms.extend(pinyin_query_tokens(query))
    terms.extend(re.findall(r"\d+(?:\.\d+)?", query) if not _CJK_RUN.search(query) else [])
    return list(dict.fromkeys(terms)), focus


def term_present(term: str, text: str, pinyin: frozenset[str] | None = None) -> bool:
    if term.startswith("py_"):
        return pinyin is not None and term in pinyin
    return term in text


def pinyin_set(text: str) -> frozenset[str]:
    return frozenset(pinyin_doc_tokens(text))


# ---------------------------------------------------------------- sentences

# Text in an article that talks to the model instead of reporting news; it
# is never evidence for what the model then says.
INJECTION = re.compile(
    r"[^。！？!?\n]*(?:忽略|无视|忘记)(?:以上|上面|之前|前面|所有|全部)[^。！？!?\n]*(?:指令|指示|提示|规则|要求)[^。！？!?\n]*[。！？!?]?"
    r"|[^.!?\n]*ignore (?:all |the )?(?:previous|above|prior) (?:instructions|prompts?)[^.!?\n]*[.!?]?"
    r"|[^。！？!?\n]*(?:系统提示|system prompt|你现在是|你必须回答)[^。！？!?\n]*[。！？!?]?",
    re.I,
)


@dataclass(frozen=True)
class Sentence:
    text: str
    start: int  # offsets in the article
    end: int


_SENT = re.compile(r"[^。！？!?；;\n]+(?:[。！？!?；;]+[”’\"」』）)]*|$)", re.M)


@lru_cache(maxsize=4096)
def _split_cached(text: str) -> tuple[Sentence, ...]:
    out = []
    for m in _SENT.finditer(text):
        raw = m.group(0)
        lead = len(raw) - len(raw.lstrip())
        body = raw.strip()
        if len(re.sub(r"\W", "", body)) < 2:
            continue
        start = m.start() + lead
        out.append(Sentence(body, start, start + len(body)))
    return tuple(out)


def sentences_in(article_text: str, start: int, end: int) -> list[Sentence]:
    """Sentences of an article that overlap [start, end), with article offsets."""
    return [s for s in _split_cached(article_text) if s.end > start and s.start < end]


# ---------------------------------------------------------------- spans

_CN_NUM = "零〇一二两三四五六七八九十百千万亿"
_NUMBER = re.compile(
    rf"(?:\d+(?:[.,]\d+)*|[{_CN_NUM}]{{1,6}})(?:多|余)?(?:万|亿|千|百)?(?:多|余)?"
)
_UNIT = re.compile(
    r"(平方米|平方公里|公里|万元|亿元|元|个|名|位|人|年|次|期|篇|眼|户|座|条|项|所|家|岁|天|亩|株|辆|台|套|吨|米|倍|%|％|支|批|间|场|栋|本|部|种|类|处|头|只|斤|小时|分钟|周|月)"
)
_DATE = re.compile(
    r"\d{4}年\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日|\d{4}年|"
    r"\d{1,2}月份?|[一二三四五六七八九十]{1,3}月份?|"
    r"(?:早上|上午|下午|晚上|凌晨|中午)?\d{1,2}[点时](?:\d{1,2}分|半)?"
)
_ORG_SUFFIX = r"(?:厅|局|委员会|委|公司|集团|银行|大学|学院|学校|中心|研究所|研究院|医院|协会|合作社|办公室|组织部|宣传部|统战部|分行|支行)"
_PLACE_SUFFIX = r"(?:省|市|县|区|旗|镇|乡|村|街道|社区|小区)"
_SAID = re.compile(r"([\u4e00-\u9fff]{2,3})(?:说|表示|介绍|告诉记者|回忆|笑着说)")
# "党委书记冯毅", "班主任原娟说", "村委会主任是赵某某，"
_ROLE_NAME = re.compile(
    r"(?:书记|主任|主席|局长|县长|市长|镇长|乡长|村长|校长|厂长|经理|负责人|队长|班主任|老师|教授|站长|部长|董事长|院长|会长|组长)"
    r"(?:是|为)?([\u4e00-\u9fff]{2,3}?)(?=[，。、,；;说表示介绍告诉认为等]|$)"
)


@dataclass(frozen=True)
class Span:
    text: str
    start: int  # offsets in the sentence
    end: int


_MONEY = re.compile(r"多少钱|多少资金|多少经费|金额|投资|收入|债务|资金|income|money|invest|cost|yuan", re.I)


def unit_hint(query: str) -> str:
    """The measure word a number question expects: 多少名干部 -> 名, 几眼机井 -> 眼, 多少钱 -> 元."""
    if _MONEY.search(query) and not re.search(r"(?:多少|几)(?:万|亿)?[个名位人年次期篇眼户座条项所家岁天亩株辆台]", query):
        return "元"
    m = re.search(r"(?:多少|几)(万|亿)?([\u4e00-\u9fff%]{1,3})?", query)
    if not m or not m.group(2):
        return ""
    u = _UNIT.match(m.group(2))
    return ((m.group(1) or "") + u.group(0)) if u else (m.group(1) or "")


def date_hint(query: str) -> str:
    if re.search(r"哪一年|哪年|what year|which year", query, re.I):
        return "year"
    if re.search(r"几点|what time", query, re.I):
        return "time"
    if re.search(r"几月|哪个月", query):
        return "month"
    if re.search(r"哪一天|哪天|几号|what date", query, re.I):
        return "day"
    return ""


def _number_spans(sentence: str, query: str) -> list[tuple[Span, float]]:
    hint = unit_hint(query)
    m = re.search(r"(?:多少|几)(?:万|亿)?" + re.escape(hint) + r"([\u4e00-\u9fff]{2})", query) if hint else None
    noun = m.group(1) if m else ""
    query_numbers = set(re.findall(r"\d+(?:\.\d+)?", query))
    out = []
    for m in _NUMBER.finditer(sentence):
        num = m.group(0)
        if not re.search(r"\d", num) and len(num) == 1 and num in "万亿千百":
            continue
        if re.fullmatch(r"\d+(?:\.\d+)?", num) and num in query_numbers:
            continue
        after = sentence[m.end():]
        unit = _UNIT.match(after)
        if not re.search(r"\d", num) and not unit and len(num) < 2:
            continue
        text = num + (unit.group(0) if unit else "")
        end = m.start() + len(text)
        bonus = 0.0
        if unit and unit.group(0) == "年" and re.fullmatch(r"\d{4}", num) and hint != "年":
            bonus -= 1.0  # 2023年 is a date, not an amount
        if re.match(r"月|日|号", after) and hint not in ("月", "日"):
            bonus -= 1.0
        if hint and (text.endswith(hint) or after.startswith(hint) or hint in text):
            bonus += 1.0
        rest = sentence[end:]
        if noun and rest.startswith(noun):
            bonus += 0.5  # "多少个托盘" -> "1.2亿个托盘"
        if not re.search(r"\d", num):
            bonus -= 0.3  # news writes amounts in digits; 一批/一期 are usually idioms
        if re.match(r"[%％]", after):
            text, end = num + after[0], m.end() + 1
        out.append((Span(text, m.start(), end), bonus))
    return out


def _date_spans(sentence: str, query: str) -> list[tuple[Span, float]]:
    hint = date_hint(query)
    out = []
    for m in _DATE.finditer(sentence):
        t = m.group(0)
        bonus = 0.0
        if hint == "year" and re.search(r"\d{4}年", t):
            bonus += 1.0
        elif hint == "time" and re.search(r"[点时]", t):
            bonus += 1.0
        elif hint == "month" and "月" in t:
            bonus += 1.0
        elif hint == "day" and "日" in t:
            bonus += 1.0
        if hint == "year" and re.search(r"\d{4}年", t):
            t = re.search(r"\d{4}年", t).group(0)
            out.append((Span(t, m.start(), m.start() + len(t)), bonus))
            continue
        out.append((Span(t, m.start(), m.end()), bonus))
    return out


def _person_spans(sentence: str, query: str) -> list[tuple[Span, float]]:
    import jieba.posseg as pseg

    from .text import _get_jieba

    _get_jieba()
    out, pos = [], 0
    for word, flag in pseg.lcut(sentence):
        if flag == "nr" and len(word) >= 2 and word not in query:
            out.append((Span(word, pos, pos + len(word)), 0.5))
        pos += len(word)
    for pattern, bonus in ((_ROLE_NAME, 0.5), (_SAID, 0.0)):
        for m in pattern.finditer(sentence):
            name = m.group(1)
            if name not in query and not any(s.text == name for s, _ in out):
                out.append((Span(name, m.start(1), m.end(1)), bonus))
    return out


def named_spans(text: str) -> list[str]:
    """Places and organisations: runs of jieba ns/nt words ("国家税务总局稷山县税务局")
    plus words ending in a place or organisation suffix."""
    import jieba.posseg as pseg

    from .text import _get_jieba

    _get_jieba()
    out, run = [], []
    for word, flag in pseg.lcut(text) + [("", "x")]:
        if flag in ("ns", "nt") or (run and re.fullmatch(_ORG_SUFFIX + "|" + _PLACE_SUFFIX, word)):
            run.append(word)
            continue
        if run:
            name = "".join(run)
            if len(name) >= 2:
                out.append(name)
            run = []
    return list(dict.fromkeys(out))


def _named(sentence: str, query: str, suffix: str, hint: str) -> list[tuple[Span, float]]:
    out = []
    names = named_spans(sentence) + [m.group(0) for m in re.finditer(r"[\u4e00-\u9fff]{2,8}?" + suffix, sentence)]
    for name in dict.fromkeys(names):
        name = re.sub(r"^.*(?:的|在|到|由|从|于|是|和|与|及|、|，|,|选派|派)", "", name)
        if len(name) < 2 or name in query or not re.search(suffix + "$", name):
            continue
        if hint and not name.endswith(hint):
            continue  # "哪所大学" wants a name ending in 大学
        start = sentence.find(name)
        out.append((Span(name, start, start + len(name)), 1.0 if hint else 0.5))
    # keep the full name, not the pieces inside it (稷山县税务局 in 国家税务总局稷山县税务局)
    return [(s, b) for s, b in out if not any(s.text != o.text and s.text in o.text for o, _ in out)]


def candidate_spans(sentence: str, query: str, qtype: str) -> list[tuple[Span, float]]:
    """Spans of the asked-for type in a sentence, each with a type-fit bonus."""
    if qtype == "number":
        return _number_spans(sentence, query)
    if qtype == "date":
        return _date_spans(sentence, query)
    if qtype == "person":
        return _person_spans(sentence, query)
    if qtype == "place":
        m = re.search(r"哪个(村|县|市|镇|省|乡|区|旗|街道|社区)", query)
        return _named(sentence, query, _PLACE_SUFFIX, m.group(1) if m else "")
    if qtype == "org":
        m = re.search(r"哪(?:个|家|所)(公司|学校|大学|银行|医院)", query)
        return _named(sentence, query, _ORG_SUFFIX, m.group(1) if m else "")
    return []


def best_span(sentence: str, query: str, qtype: str, terms: list[str]) -> Span | None:
    """The candidate span that fits the type best and sits nearest the question's words."""
    cands = candidate_spans(sentence, query, qtype)
    if not cands:
        return None
    anchors = [m.start() for t in terms if not t.startswith("py_") for m in re.finditer(re.escape(t), sentence)]

    def score(item):
        span, bonus = item
        if anchors:
            dist = min(abs(span.start - a) for a in anchors)
            closeness = 1.0 / (1.0 + dist / 8.0)
        else:
            closeness = 0.0
        return bonus + closeness

    return max(cands, key=score)[0]
