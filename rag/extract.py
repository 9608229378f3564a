"""Question analysis and sentences for the answer layer.

Owns: the question's content terms, its shape (one fact, several parts,
an open question), sentence splitting with article offsets, names of places
and organisations (for follow-up questions), and the pattern of text that
talks to a model instead of reporting news. The answer spans themselves come
from the trained reader (`reader.py`); no rule here picks an answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from .text import _CJK_RUN, pinyin_doc_tokens, pinyin_query_tokens

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
_PAIR = re.compile(r"([0-9A-Za-z\u4e00-\u9fff]+?)(和|与|以及|及|、|跟)([0-9A-Za-z\u4e00-\u9fff]+?)(?=的|分别|各|是|在|[，,？?]|$)")


def is_open_question(query: str) -> bool:
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


# ---------------------------------------------------------------- sentences

# Text in an article that talks to the model instead of reporting news; it
# is never evidence for what the model then says.
# Text addressed to a model or to whoever reads the article ("ignore the above", "你现在是…",
# "answer with …") is an instruction, never evidence: a sentence holding one is not quoted or
# used by either answerer. Phrasings are patterns of wording, not one known sentence; each needs
# the object of the instruction (instructions, the above, the answer) so that ordinary news
# sentences ("不要忘记初心") stay evidence. tests/test_grounding.py tries reworded ones.
_ADDRESSED_ZH = (
    r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|别理会|不必理会|不要管|别管|不用管|抛开|跳过|撇开)"
    r"(?:掉)?(?:以上|上面|上述|前面|之前|先前|此前|所有|全部|一切|原来|原有)(?:的)?(?:所有|全部|一切)?(?:的)?"
    r"(?:话|内容|文字|指令|指示|提示|规则|要求|说明|设定|信息|资料)",
    r"(?:忽略|无视|忘记|不要理会)(?:所有|全部|一切)?(?:的)?(?:指令|指示|提示词|规则|设定)",
    r"你现在是|你(?:现在|来)?扮演|从现在(?:起|开始)你|你的新(?:任务|角色|身份)",
    r"作为(?:一个|一名)?(?:AI|人工智能|语言模型|大模型|助手|问答系统)",
    r"(?:系统提示|提示词|system prompt)",
    r"你(?:必须|应当|应该|只能|要)(?:回答|回复|输出|答复|说)",
    r"(?:请|务必|必须|一律|只)(?:直接)?(?:回答|回复|输出|答复)(?:为|成|是|：|:|“)",
    r"(?:把|将)答案(?:写成|说成|改成|改为|定为)",
    r"答案(?:一律|必须|只能|应当|应该)(?:是|为|写)",
    r"(?:AI|人工智能|模型|助手|机器人|大模型|ChatGPT)(?:请|必须|应该|要|务必)",
)
_ADDRESSED_EN = (
    r"\b(?:ignore|disregard|forget|override|bypass|skip)\b[^.!?\n]{0,40}"
    r"\b(?:instructions?|prompts?|rules|above|previous|prior|preceding|earlier|context|everything)\b",
    r"\byou are now\b|\bfrom now on,? you\b|\bpretend (?:to be|you are)\b|\bact as (?:an?|the)\b",
    r"\b(?:answer|respond|reply|output)\s+(?:only\s+)?(?:with|that|by saying)\b",
    r"\b(?:the answer|your answer)\s+(?:is|must be|should be|will be)\s+(?:always\s+)?[\"'“]",
    r"\bsystem prompt\b|\bas an ai\b|\b(?:language model|assistant|chatbot)s?,?\s+(?:must|should|please)\b",
)
INJECTION = re.compile(
    r"[^。！？!?\n]*(?:" + "|".join(_ADDRESSED_ZH) + r")[^。！？!?\n]*[。！？!?]?"
    r"|[^.!?。！？\n]*(?:" + "|".join(_ADDRESSED_EN) + r")[^.!?。！？\n]*[.!?]?",
    re.I,
)


def without_instructions(text: str) -> str:
    """`text` with the sentences addressed to a model removed (for snippets shown beside answers)."""
    return INJECTION.sub("", text)


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


# ---------------------------------------------------------------- names

_ORG_SUFFIX = r"(?:局|委员会|委|公司|集团|银行|大学|学院|学校|中心|研究所|研究院|医院|协会|合作社|办公室|组织部|宣传部|统战部|分行|支行)"
_PLACE_SUFFIX = r"(?:省|市|县|区|旗|镇|乡|村|街道|社区|小区)"


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
