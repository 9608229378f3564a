"""What a question asks for, from its own words, and a reader span checked and completed against it.

The reader (`rag.reader`) proposes spans; it was trained on CMRC 2018 and
DRCD, whose answers stop at a word boundary it does not always find. Here a
span is checked against what the question's words ask for (`expected`) and
completed within its sentence (`complete`):

- a number with the unit the question names (`建成了多少平方米的温室？` wants
  `1200平方米`, not `42座`): a span holding another unit is replaced by the
  number in its sentence that has the named unit, or is no answer;
- the qualifier next to a number (`不足3万元`, `约300人`, `4000余辆`) is part of
  the value: dropping it changes the fact;
- a full date when the question asks for a day (`哪天成立的？` → `2019年3月6日`),
  a calendar year when it asks for a year (`哪一年参军的？` is not answered by
  the duration `30年`);
- a person's name without a verb of saying after it (`周敏说` → `周敏`).

The kinds and units are the language's (question words, measure words), not
lists fitted to particular questions. A completion never leaves the span's
sentence, so the citation still holds the answer verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.text import ROLE


# Units and measure words a number question names ("多少平方米", "几座"), longest first so that
# "平方米" wins over "米" and "万元" over "元".
_UNITS = sorted(set(
    "平方公里 平方千米 平方米 立方米 公顷 万亩 亩 千瓦时 万千瓦 千瓦 兆瓦 公里 千米 厘米 毫米 米 万吨 吨 公斤 千克 "
    "万斤 斤 克 亿元 万元 千元 元 美元 万人次 人次 万人 人 名 位 户 家 座 个 辆 台 株 棵 条 项 次 所 间 套 场 批 "
    "头 只 本 件 种 处 岁 倍 层 栋 眼 口 篇 部 张 份 片 块 支 队 届 期 吨 度 % 个百分点 多个 年 个月 天 小时 分钟".split()),
    key=len, reverse=True)
_UNIT_RE = "|".join(map(re.escape, _UNITS))
# A number as news writes it: digits (with separators), Chinese numerals, or both ("1.2亿").
_NUM = r"(?:\d+(?:[.,，]\d+)*(?:\.\d+)?[万亿千百]?|[零〇一二两三四五六七八九十百千万亿]+)"
# Words before a number that change the fact it states ("不足3万元" is not "3万元").
_QUALIFIER = r"(?:不足|不到|超过|逾|将近|接近|大约|约|近|至少|最多)"
# "余"/"多" after a number: "4000余辆", "30多年".
_NUMBER_MENTION = re.compile(rf"(?P<q>{_QUALIFIER})?(?P<n>{_NUM})(?P<m>余|多)?(?P<u>{_UNIT_RE})?")
_ASKS_NUMBER = re.compile(rf"(?<!哪)(?:多少|几)(?P<u>{_UNIT_RE})?")  # "哪几个站点" asks for a list
_ASKS_DAY = re.compile(r"哪天|哪一天|哪日|何日|几月几日|几月几号|哪月哪日|什么日子|具体日期|什么时候|何时")
_ASKS_YEAR = re.compile(r"哪一?年|何年|哪个年份|什么年份")
_ASKS_PERSON = re.compile(r"谁|哪位|什么人|叫什么名字|姓名")
# A role: "担任什么职务", "什么职位".
_ASKS_ROLE = re.compile(r"什么职务|什么职位|什么官职|担任什么|任什么职|什么头衔|什么身份|哪个职务|(?:职务|职位|头衔)是什么")
# An organisation or a place asked for by its category noun ("哪个单位", "哪所大学", "哪个村", "哪里").
_ASKS_ORG = re.compile(r"哪(?:一)?(?:个|家|所)?(?P<c>单位|部门|机构|公司|企业|学校|大学|学院|医院|银行|组织|协会)")
# The category an organisation question names, and how names of that category end ("哪所大学":
# "…大学" or "…学院"); generic ones (单位, 部门, 机构, 组织, 企业) take any organisation.
_CATEGORY_ENDS = {"大学": ("大学", "学院"), "学院": ("学院", "大学"), "学校": ("学校", "中学", "小学", "大学", "学院"),
                  "医院": ("医院", "卫生院", "中心"), "银行": ("银行", "支行", "分行"), "公司": ("公司", "集团", "企业"),
                  "协会": ("协会", "学会", "会")}
_ASKS_PLACE = re.compile(r"哪(?:一)?(?:个|座)?(?:村|镇|乡|县|市|省|区|旗|地方|国家)|哪里|哪儿|什么地方|何地|何处")
_ORG_END = re.compile(r"(?:局|委员会|委|公司|集团|银行|大学|学院|学校|中心|研究所|研究院|医院|协会|合作社|办公室|部|厅|处|站|所|社|厂|院|会)$")
_PLACE_END = re.compile(r"(?:省|市|县|区|旗|镇|乡|村|街道|社区|国|州)$")
# Words that introduce an organisation inside a reader span ("稷山县选派|国家税务总局稷山县税务局").
_ORG_LEAD = re.compile(r".*?(?:选派|派出|来自|毕业于|就职于|任职于|供职于|隶属于|隶属|调任|调到|调入|由|从|在)(?=.{2,}$)")
# A role title with what qualifies it ("原局长", "县水利局原副局长", "党支部书记").
_ROLE_TITLE = re.compile(r"(?:原|前|时任|现任|新任|首任)?" + ROLE.pattern)
# A sum of money asked without a unit ("统筹了多少资金", "总投资多少", "村集体收入现在达到多少"): the
# answer is in 元 (or 万元…). Up to 6 characters may stand between the noun and 多少 ("现在达到",
# "去年有"), but not a change or a ratio ("收入增长了多少" may be asked in %, "收入比去年提高了多少").
_ASKS_MONEY = re.compile(r"(?:资金|经费|投资|收入|金额|费用|资产|产值|营业额|销售额|成交额|工资|补贴|奖金|利润|税收|钱)"
                         r"(?:(?!增|提高|提升|上升|下降|减少|降低|翻|比|率|占)[^，,。？?！!；;]){0,6}?多少"
                         r"|多少(?:钱|资金|经费)")
# An age ("多大年纪", "今年多大") is in 岁.
_ASKS_AGE = re.compile(r"多大年纪|多大岁数|年龄多大|多少岁|几岁|今年多大")
_DATE = re.compile(r"(?:\d{4}|[〇零一二三四五六七八九]{4})年(?:\d{1,2}|[一二三四五六七八九十]{1,3})月"
                   r"(?:(?:\d{1,2}|[一二三四五六七八九十]{1,3})[日号])?"
                   r"|(?:\d{1,2}|[一二三四五六七八九十]{1,3})月(?:\d{1,2}|[一二三四五六七八九十]{1,3})[日号]")
_YEAR = re.compile(r"(?:\d{4}|[〇零一二三四五六七八九]{4})年")
# "30年", "12年": a number of years, not a year (news writes durations in digits; years have 3-4
# digits, or an era name before Chinese numerals: "顺治十一年").
_DURATION = re.compile(r"\d{1,2}多?年")
# Verbs of saying after a name: "周敏说", "秦志远表示".
_SPEECH = re.compile(r"(?:笑着说|告诉记者|介绍说|表示|介绍|认为|指出|强调|坦言|说道|说|称|讲)$")


@dataclass(frozen=True)
class Expected:
    """What a question's words ask for.

    kind: "number" (with `unit` when the question names one: "平方米", "座"),
        "day" (a date), "year", "person", "role", "org" (an organisation), "place", or "other"
        (no check).
    """

    kind: str
    unit: str | None = None  # for "org": the category named ("大学"), when it is a specific one


def expected(question: str) -> Expected:
    """The kind of answer a question asks for, from its question words (see the module docstring)."""
    if _ASKS_DAY.search(question):
        return Expected("day")
    if _ASKS_YEAR.search(question):
        return Expected("year")
    if _ASKS_AGE.search(question):
        return Expected("number", "岁")
    m = _ASKS_NUMBER.search(question)
    if m:
        if not m.group("u") and _ASKS_MONEY.search(question):
            return Expected("number", "元")
        return Expected("number", m.group("u"))
    if _ASKS_PERSON.search(question):
        return Expected("person")
    if _ASKS_ROLE.search(question):
        return Expected("role")
    m = _ASKS_ORG.search(question)
    if m:
        return Expected("org", m.group("c") if m.group("c") in _CATEGORY_ENDS else None)
    if _ASKS_PLACE.search(question):
        return Expected("place")
    return Expected("other")


def complete(text: str, start: int, end: int, sentence: tuple[int, int], want: Expected) -> tuple[int, int] | None:
    """The span [start, end) of `text`, completed for what the question wants, or None if it cannot be.

    Args:
        text: the article's text; start, end: the reader's span in it.
        sentence: [start, end) of the sentence holding the span: completions stay inside it.
        want: `expected(question)`.
    Returns:
        New (start, end) offsets into `text`, or None when no value of the wanted
        kind is in the sentence (a span of another unit, a duration for a year).
    """
    lo, hi = sentence
    if want.kind == "number":
        return _number(text, start, end, lo, hi, want.unit)
    if want.kind == "day":
        return _widen_to(_DATE, text, start, end, lo, hi)
    if want.kind == "year":
        return _year(text, start, end, lo, hi)
    if want.kind == "person":
        return _person(text, start, end)
    if want.kind == "role":
        roles = list(_ROLE_TITLE.finditer(text, start, end))
        if not roles:
            return None  # a role question is not answered by a span that names no role
        return roles[-1].start(), roles[-1].end()  # "原局长郑国华带队" -> "原局长"
    if want.kind == "org":
        lead = _ORG_LEAD.match(text, start, end)
        if lead and _ORG_END.search(text[lead.end() : end]):
            start = lead.end()  # the organisation, without the verb that introduces it
        if want.unit and not text[start:end].endswith(_CATEGORY_ENDS.get(want.unit, (want.unit,))):
            return None  # "哪所大学" is not answered by a 研究所
    return start, end


def role_titles(text: str) -> list[tuple[str, int, int]]:
    """(title, start, end) of each role title in `text` ("县水利局原局长郑某" -> ("原局长", 4, 7))."""
    return [(m.group(0), m.start(), m.end()) for m in _ROLE_TITLE.finditer(text)]


def same_role(a: str, b: str) -> bool:
    """Whether two role titles name the same post (原/前/时任/现任 and the body before it aside:
    "原局长" and "局长" are one post, "局长" and "副局长" are two)."""
    def bare(t: str) -> str:
        m = ROLE.search(t)
        core = m.group(0) if m else t
        return re.sub(r"^(?:党支部|党总支|党委|党组|村委会|居委会|村民委员会|支部|村|镇|乡|县|市|省|区|局|厂|公司|学校)", "", core)
    return bare(a) == bare(b)


def typed(want: Expected, span: str) -> float:
    """1.0 when a completed span has the form the question asks for (a number in the asked unit, a
    date, a year, a name, an organisation or place by its suffix), 0.0 when it has not, 0.5 when the
    question's words do not say (the answer scorer's `typed` feature)."""
    from rag.text import SURNAMES, names

    span = span.strip()
    if want.kind == "number":
        m = [x for x in _NUMBER_MENTION.finditer(span) if x.group("n")]
        return float(bool(m) and (not want.unit or any(x.group("u") and _same_unit(x.group("u"), want.unit) for x in m)))
    if want.kind == "day":
        return float(bool(_DATE.search(span)))
    if want.kind == "year":
        return float(bool(_YEAR.search(span)))
    if want.kind == "person":
        return float(bool(names(span, ("nr",))) or (2 <= len(span) <= 4 and span[0] in SURNAMES))
    if want.kind == "role":
        return float(bool(_ROLE_TITLE.search(span)))
    if want.kind == "org":
        return float(bool(_ORG_END.search(span)))
    if want.kind == "place":
        return float(bool(_PLACE_END.search(span)))
    return 0.5


def _number(text: str, start: int, end: int, lo: int, hi: int, unit: str | None) -> tuple[int, int] | None:
    mentions = list(_NUMBER_MENTION.finditer(text, lo, hi))
    inside = [m for m in mentions if m.start() < end and m.end() > start]
    if unit:
        fitting = [m for m in inside if not m.group("u") or _same_unit(m.group("u"), unit)]
        if any(m.group("u") for m in fitting) or (inside and len(fitting) == len(inside)):
            # the span holds the unit asked for ("6.5万、8.5万人次"), or only bare numbers ("150万"):
            # complete it, without a number of another measure it also took in ("36座800平方米")
            first = min(start, fitting[0].start()) if fitting[0] is inside[0] else fitting[0].start()
            last = max(end, fitting[-1].end()) if fitting[-1] is inside[-1] else fitting[-1].end()
            return first, last
        elsewhere = [m for m in mentions if m.group("u") and _same_unit(m.group("u"), unit)]
        if not elsewhere:
            return (start, end) if unit in text[start:end] else None  # only another unit: no answer
        best = min(elsewhere, key=lambda m: abs(m.start() - start))  # "42座" when 平方米 is asked: the 平方米 one
        return best.start(), best.end()
    if not inside:
        return start, end
    return min(start, inside[0].start()), max(end, inside[-1].end())


# Units of measure: a number in another one is another quantity ("42座" is no area). Count words
# (名 位 家 间 座 …) are not: Chinese counts the same things with several ("首六位" answers 多少名,
# "28间" answers 多少家), so a count word never rules a number out.
_MEASURES = ("平方公里", "平方千米", "平方米", "立方米", "公顷", "亩", "千瓦时", "千瓦", "兆瓦", "公里", "千米", "厘米",
             "毫米", "米", "吨", "公斤", "千克", "斤", "克", "元", "美元", "岁", "%", "个百分点", "倍", "度",
             "年", "个月", "天", "小时", "分钟")  # durations too: "4年" is no age, "12个" no number of years


def _is_measure(unit: str) -> bool:
    return unit.lstrip("万亿千百") in _MEASURES


# People are counted in these and only these: "12个" (居民小区) or "11548户" do not answer 多少人.
_PEOPLE = ("人", "名", "位", "人次")


def _same_unit(found: str, asked: str) -> bool:
    """"万元" answers "元"; "平方米" does not answer "米" (another quantity); count words answer each
    other, except that a number of people is counted in people (`_PEOPLE`)."""
    if asked.lstrip("万亿千百") in _PEOPLE:
        return found.lstrip("万亿千百") in _PEOPLE
    if not (_is_measure(found) and _is_measure(asked)):
        return not (_is_measure(found) or _is_measure(asked))
    return found == asked or (found.endswith(asked) and found[: -len(asked)] in ("万", "亿", "千", "百"))


def _widen_to(pattern: re.Pattern, text: str, start: int, end: int, lo: int, hi: int) -> tuple[int, int]:
    for m in pattern.finditer(text, lo, hi):
        if m.start() < end and m.end() > start:
            return min(start, m.start()), max(end, m.end())
    return start, end


def _year(text: str, start: int, end: int, lo: int, hi: int) -> tuple[int, int] | None:
    if _DURATION.fullmatch(text, start, end) and not (start > 0 and text[start - 1].isdigit()):
        return None  # "30年" is a duration, not the year asked for
    return _widen_to(_YEAR, text, start, end, lo, hi)


def _person(text: str, start: int, end: int) -> tuple[int, int]:
    """A name without the verb of saying after it ("周敏说" -> "周敏")."""
    m = _SPEECH.search(text[start:end])
    if m and m.start() >= 2:
        end = start + m.start()
    # Not done: cutting the end of a title before a name ("长秦志远" in "镇长秦志远"). Dropping a first
    # character that is no common surname before one that is cost 3 of 51 person questions on the CMRC
    # train split (晋武帝司马炎 -> 武帝司马炎, 保罗 -> 罗, 柳田 -> 田) and won 1, so it was taken out.
    return start, end


# ---------------------------------------------------------------- English questions

# What an English question asks for, from its question words (the reader reads Chinese only; an
# English question is answered with the sentence whose clause holds a value of this kind).
_EN_KINDS = (
    ("number", re.compile(r"\bhow (?:many|much|long|large|big|far|old)\b|\bnumber of\b|"
                          r"\bwhat (?:is|was|are|were) the (?:total |annual )?(?:investment|cost|budget|area|length|"
                          r"population|income|output|amount|percentage|share|proportion)\b", re.I)),
    ("day", re.compile(r"\bwhen\b|\bwhat (?:year|date|day|month|time)\b|\bwhich (?:year|date|day|month)\b|\bwhat time\b", re.I)),
    ("person", re.compile(r"\bwho\b|\bwhom\b|\bwhose\b|\bwhat (?:is (?:the|his|her) )?name\b", re.I)),
    ("place", re.compile(r"\bwhere\b|\bwhich (?:village|town|county|city|province|district|township|place|banner)\b", re.I)),
    ("role", re.compile(r"\bwhat (?:position|post|role|title|job|office)\b", re.I)),
)
_PLACE_WORD = re.compile(r"[\u4e00-\u9fff]{1,6}(?:省|市|县|区|旗|镇|乡|村|街道|社区)")


def expected_english(question: str) -> str | None:
    """"number", "day", "person", "place" or "role" for an English question, else None."""
    for kind, pattern in _EN_KINDS:
        if pattern.search(question):
            return kind
    return None


def holds(kind: str | None, text: str) -> bool:
    """Whether `text` states a value of `kind` (`expected_english`); any text for None."""
    from rag.text import ROLE, names

    if kind == "number":
        return bool(re.search(rf"\d|{_NUM}(?:余|多)?(?:{_UNIT_RE})", text))
    if kind == "day":
        return bool(_DATE.search(text) or _YEAR.search(text) or re.search(r"\d{1,2}[点时]", text))
    if kind == "person":
        return bool(names(text, ("nr",)))
    if kind == "place":
        return bool(_PLACE_WORD.search(text))
    if kind == "role":
        return bool(ROLE.search(text))
    return True

