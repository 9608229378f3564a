"""Question analysis for the answer layer: content terms and shape (one fact, several parts, open).

The answer spans themselves come from the trained reader (`rag.reader`);
no rule here picks an answer.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rag.text import CJK_CHARS, CJK_RUN, ROLE, get_jieba, named_spans, pinyin_query_tokens

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
_QUESTION_WORD = re.compile(r"多少|多大|多久|多长|哪里|哪儿|几[个名位年月日天次家所条项]|哪一?[个年天里位家所些]|什么|谁|何时|是否|为什么|怎么|如何")
_BOTH = re.compile(r"分别|各自|各是|各有|各为|各多少")
# two members joined by a conjunction, each ending before 的/分别/各/是/在 or punctuation. Each member
# is at most PAIR_MEMBER_MAX characters: unbounded, the two lazy runs made a search cubic in the
# question's length (51 s for a 2,000-character question, issue 20); names and noun phrases joined
# this way are far shorter.
PAIR_MEMBER_MAX = 30
_PAIR = re.compile(rf"([0-9A-Za-z{CJK_CHARS}]{{1,{PAIR_MEMBER_MAX}}}?)(和|与|以及|及|、|跟)"
                   rf"([0-9A-Za-z{CJK_CHARS}]{{1,{PAIR_MEMBER_MAX}}}?)(?=的|分别|各|是|在|[，,？?]|$)")


def choice_sides(query: str) -> tuple[str, str] | None:
    """The words before and after 还是 in a question that offers two options ("规模是2台4线还是3台6线？"
    -> ("规模是2台4线", "3台6线")), or None. A yes/no question ("他还是村支书吗？") offers none."""
    q = query.strip().rstrip("？?。！! ")
    if q.count("还是") != 1 or q.endswith(("吗", "嘛", "么")):
        return None
    left, right = q.split("还是")
    left, right = left.rstrip("，, "), right.lstrip("，, ")
    return (left, right) if len(left) >= 2 and len(right) >= 2 else None


MAX_PARTS = 4  # questions asked in one message that are answered one by one


# A list: "哪几个村", "办了哪3件事", "有哪些措施", "包括哪几个方面".
LIST_QUESTION = re.compile(r"哪几|哪[0-9一二三四五六七八九十两]+[个件项种条点家位所座名]|哪些|几件事|几个方面|几项|"
                           r"[0-9一二三四五六七八九十两]+(?:个方面|件事|项措施|项工作|条措施|种模式)")
# A summary of what the articles say about a subject.
SUMMARY_QUESTION = re.compile(r"(?:总结|概括|归纳|简述|概述|简要介绍|介绍)(?:一下)?|主要内容|讲了什么|说了什么|讲的是什么|事迹")
# A reason: answered by the sentence that gives it ("由于…", "为了…", "因为…").
REASON_QUESTION = re.compile(r"为什么|为何|什么原因|原因是|原因有|出于什么")


_COUNT = re.compile(r"([0-9]+|[一二三四五六七八九十两]+)(?:个方面|件事|项|种|个|条|点|家|位|所|座|名)")


def asked_count(query: str) -> int | None:
    """How many items a list question says there are ("办了哪3件事" -> 3, "三个方面" -> 3), or None."""
    m = LIST_QUESTION.search(query)
    if not m:
        return None
    c = _COUNT.search(query, max(0, m.start() - 4))
    if not c:
        return None
    n = c.group(1)
    if n.isdigit():
        return int(n)
    digits = "一二三四五六七八九"
    if n in ("两",):
        return 2
    if len(n) == 1 and n in digits:
        return digits.index(n) + 1
    return 10 if n == "十" else None


def question_shape(query: str) -> str:
    """"list", "summary", "reason", "open" (another open question: measures, a description) or
    "fact" (one value), from the question's own words."""
    if LIST_QUESTION.search(query):
        return "list"
    if SUMMARY_QUESTION.search(query):
        return "summary"
    if REASON_QUESTION.search(query):
        return "reason"
    return "open" if is_open_question(query) else "fact"


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
    asked = [p.strip() for p in re.findall(r"[^？?]+[？?]", q) if len(p.strip()) >= 4]
    if len(asked) >= 2 and all(_QUESTION_WORD.search(p) for p in asked):
        return asked[:MAX_PARTS]  # two questions in a row: "史连成今年多大年纪？高胜富当了多少年？"
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


# ---------------------------------------------------------------- constraints

_QUOTED = re.compile(r"[“《「『\"]([^”》」』\"]{2,30})[”》」』\"]")
_DATE = re.compile(r"\d{4}年(?:\d{1,2}月(?:\d{1,2}日)?)?|\d{1,2}月\d{1,2}日")


_NAMED_SUFFIX = re.compile(r"(?:村|镇|乡|县|市|旗|省|街道|社区|公司|集团|合作社|大学|学院|学校|医院|银行|村道|公路|大桥|桥|厂|"
                           r"局|厅|委员会|办公室|中心|研究院|研究所|协会)$")


def _tagged(query: str) -> list[tuple[str, str]]:
    import jieba.posseg as pseg

    get_jieba()
    return [(w, f) for w, f in pseg.lcut(query) if w.strip()]


def _suffixed(words: list[tuple[str, str]]) -> list[str]:
    """Names jieba does not tag whole, recognised by their suffix: "吉家庄村" (吉 + 家庄 + 村),
    "县水利局", "云岭果业公司": a word ending in a place or organisation suffix and the nouns and
    names before it (jieba's n*/j tags; "一下柳湾村" stops at 一下)."""
    out = []
    for i, (w, _) in enumerate(words):
        if not _NAMED_SUFFIX.search(w) or not CJK_RUN.fullmatch(w):
            continue
        name = w
        j = i - 1
        while j >= 0 and len(name) < 10 and CJK_RUN.fullmatch(words[j][0]) \
                and (words[j][1][:1] in ("n", "j") or _verbal_name(words, j, i)) \
                and words[j][0] not in _STOP and words[j][0] not in _CATEGORY and not ROLE.fullmatch(words[j][0]):
            name = words[j][0] + name
            j -= 1
            if len(name) - len(w) >= 4:
                break
        if len(name) > len(w) or len(w) >= 3:
            out.append(name)
    return out


def _verbal_name(words: list[tuple[str, str]], j: int, i: int) -> bool:
    """A verbal noun right before a suffix that jieba tags as a noun of its own names a place too:
    "测试村", "建设村" (测试/vn 村/n), where the suffix is the bare category character. Where it is
    not a noun of its own ("发展村集体经济": 发展/vn 村/zg) or is a longer word ("发展乡村旅游",
    "服务社区居民") it is a verb and its object, no name."""
    return j == i - 1 and words[j][1] == "vn" and words[i][1] in ("n", "ns") and len(words[i][0]) == 1


def _people(words: list[tuple[str, str]]) -> list[str]:
    """People's names, also where jieba cuts an unknown name into a surname and the rest
    ("郑" + "国华"): a common surname alone, then one or two characters of a noun or name."""
    from rag.text import SURNAMES

    out = [w for w, f in words if f in ("nr", "nrt", "nrfg") and len(w) >= 2]
    for (w, _), (nxt, flag) in zip(words, words[1:]):
        if len(w) == 1 and w in SURNAMES and 1 <= len(nxt) <= 2 and CJK_RUN.fullmatch(nxt) \
                and flag[:1] in ("n", "a", "j") and nxt not in _STOP and not _QWORD.match(nxt):
            out.append(w + nxt)
    return out


# Constraints are read from the first this many characters of a question: jieba's tagger costs
# ~10 ms a character on long runs of unknown words, and a question names its subject early.
CONSTRAINT_CHARS = 200


def constraints(query: str) -> list[str]:
    """The people, places, organisations, roles, quoted titles and dates a question names, which
    an answer's article must be about (rules: `_constraints`). Cached: the answer layer asks
    for them several times per question, and each reading runs jieba's tagger twice."""
    return list(_constraints(query))


@lru_cache(maxsize=256)
def _constraints(query: str) -> tuple[str, ...]:
    """What an answer's article must be about: the people, places, organisations, roles,
    quoted titles and dates the question names ("东坪村道由谁负责建设？" -> ["东坪"],
    "西沟村的村委会主任是谁？" -> ["西沟村", "村委会主任"]), in order, without repeats.

    People, places and organisations are jieba's name words and runs (`rag.text.names`,
    `named_spans`); roles are `rag.text.ROLE`. A word inside a longer constraint is dropped.
    """
    if not CJK_RUN.search(query):
        return ()
    query = query[:CONSTRAINT_CHARS]
    words = _tagged(query)
    found = [m.group(1) for m in _QUOTED.finditer(query)]
    found += named_spans(query) + _people(words) + _suffixed(words)
    found += [m.group(0) for m in ROLE.finditer(query)] + _DATE.findall(query)
    asked = asked_about(query)  # the category the question word asks about ("哪座古建筑") names no subject
    found = [f for f in dict.fromkeys(f.strip() for f in found)
             if len(f) >= 2 and not re.search(r"哪|什么|谁|多少", f) and not (asked and f.endswith(asked))]
    return tuple(f for f in found if not any(f != g and f in g for g in found))

