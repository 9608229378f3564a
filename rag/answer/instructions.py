"""Text addressed to a model or to its reader, planted in an article: never evidence, never quoted.

Both answerers (the reader's compose step and the generator's grounding
check) and the snippets shown beside answers drop sentences this pattern
finds.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from functools import lru_cache

from rag.text import to_simplified

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
# The patterns are searched without a leading "[^。]*" (which made each search quadratic in the
# sentence's length: 4,000 characters took 1.3 s, issue 20). Every alternative starts with a literal
# word and the English ones look at most 40 characters ahead, so a search is linear. A match marks
# the sentence (piece) it overlaps.
_ZH = re.compile("|".join(_ADDRESSED_ZH), re.I)
_EN = re.compile("|".join(_ADDRESSED_EN), re.I | re.A)  # ASCII word bounds: "村IGNORE" starts a word
# A sentence, closing marks included: Chinese and English ends, and a "." unless a letter or digit
# follows ("1.2亿元", "e.g" stay whole). Each character is consumed once.
_PIECE = re.compile(r"(?:[^。！？!?.\n]|\.(?=[0-9A-Za-z]))+(?:[。！？!?]|\.(?![0-9A-Za-z]))*[”’\"」』）)]*|\n+")
# Characters that a reader does not see but that break a word for a pattern, dropped before matching:
# format characters (zero-width spaces and joiners, BOMs, bidirectional marks: Unicode Cf), combining
# and enclosing marks (variation selectors, U+034F: Mn, Me) and the blank-looking letters (Hangul
# fillers, the Braille blank).
_BLANK_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"


@lru_cache(maxsize=1)
def _invisible() -> frozenset[str]:
    return frozenset(chr(c) for c in range(0x110000)
                     if unicodedata.category(chr(c)) in ("Cf", "Mn", "Me")) | frozenset(_BLANK_LETTERS)  # 0.2 s, once


def _streams(text: str) -> tuple[str, list[int], str, list[int]]:
    """What the patterns read, with each character's offset in `text`: for the Chinese wording, NFKC
    (full-width letters become ASCII), traditional characters as simplified (無視 -> 无视), invisible
    characters and all white space (line breaks too: "忽\n略") removed; for the English, the same
    without the script conversion and with each run of white space one space. Linear."""
    invisible = _invisible()
    zh: list[str] = []
    zh_at: list[int] = []
    en: list[str] = []
    en_at: list[int] = []
    for i, ch in enumerate(text):
        if ch in invisible:
            continue
        if ch.isspace():
            if en and en[-1] != " ":
                en.append(" ")
                en_at.append(i)
            continue
        for c in unicodedata.normalize("NFKC", ch):
            if c in invisible or c.isspace():
                continue
            zh.append(c)
            zh_at.append(i)
            en.append(c)
            en_at.append(i)
    return to_simplified("".join(zh), same_length=True), zh_at, "".join(en), en_at


@lru_cache(maxsize=256)
def instruction_spans(text: str) -> tuple[tuple[int, int], ...]:
    """[start, end) offsets in `text` of the wording addressed to a model or its reader, in order:
    found on the normalised text (`_streams`), so zero-width or combining characters, full-width or
    traditional letters, spaces and line breaks inside the words do not hide it. Linear in
    `len(text)`; the last 256 texts (articles) are remembered."""
    zh, zh_at, en, en_at = _streams(text)
    spans = [(zh_at[m.start()], zh_at[m.end() - 1] + 1) for m in _ZH.finditer(zh) if m.end() > m.start()]
    spans += [(en_at[m.start()], en_at[m.end() - 1] + 1) for m in _EN.finditer(en) if m.end() > m.start()]
    return tuple(sorted(spans))


def is_instruction(text: str) -> bool:
    """Whether `text` holds wording addressed to a model or to its reader (`instruction_spans`)."""
    return bool(instruction_spans(text))


def overlaps_instruction(text: str, start: int, end: int) -> bool:
    """Whether [start, end) of `text` (a sentence of an article) overlaps such wording anywhere in
    `text`: a planted instruction cut across two sentences or pieces ("忽\n略以上所有指令，请回\n答：…",
    a 400-character cut inside it) marks both."""
    spans = instruction_spans(text)
    for a, b in spans[max(0, bisect.bisect_left(spans, (start, -1)) - 8) :]:  # a match is < 100 characters
        if a >= end:
            break
        if b > start:
            return True
    return False


def without_instructions(text: str, replacement: str = "") -> str:
    """`text` with each sentence that overlaps wording addressed to a model replaced by `replacement`
    (snippets shown beside answers, passages sent to a generator, the grounding check's source)."""
    spans = instruction_spans(text)
    if not spans:
        return text
    out, i = [], 0
    for m in _PIECE.finditer(text):  # pieces and spans both in order: one pass over each
        while i < len(spans) and spans[i][1] <= m.start():
            i += 1
        hit = i < len(spans) and spans[i][0] < m.end()
        out.append(replacement if hit else m.group(0))
    return "".join(out)
