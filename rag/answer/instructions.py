"""Text addressed to a model or to its reader, planted in an article: never evidence, never quoted.

Both answerers (the reader's compose step and the generator's grounding
check) and the snippets shown beside answers drop sentences this pattern
finds.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

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
# sentence's length: 4,000 characters took 1.3 s, issue 20): a match anywhere marks the whole
# sentence, and sentences are cut out by `_PIECE`, one pass. Every alternative starts with a
# literal word and the English ones look at most 40 characters ahead, so a search is linear.
_ZH = re.compile("|".join(_ADDRESSED_ZH), re.I)
_EN = re.compile("|".join(_ADDRESSED_EN), re.I | re.A)  # ASCII word bounds: "村IGNORE" starts a word
# A sentence, closing marks included: Chinese and English ends, and a "." unless a letter or digit
# follows ("1.2亿元", "e.g" stay whole). Each character is consumed once.
_PIECE = re.compile(r"(?:[^。！？!?.\n]|\.(?=[0-9A-Za-z]))+(?:[。！？!?]|\.(?![0-9A-Za-z]))*[”’\"」』）)]*|\n+")
# Characters that change nothing a reader sees but break a word for a pattern: zero-width spaces
# and joiners, soft hyphens, BOMs, bidirectional marks (Unicode category Cf).
@lru_cache(maxsize=1)
def _invisible() -> dict[int, None]:
    return dict.fromkeys(c for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf")  # 163 code points, 0.1 s


_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """`text` as the instruction patterns see it: NFKC (full-width letters and digits become ASCII,
    compatibility forms fold) with invisible format characters removed. The one place both
    answerers and the snippets normalise before matching; lengths change, so offsets into the
    result say nothing about `text`."""
    return unicodedata.normalize("NFKC", text).translate(_invisible())


def is_instruction(text: str) -> bool:
    """Whether `text` (a sentence) holds wording addressed to a model or to its reader.

    Chinese wording is also looked for with the white space removed ("忽 略 以上"); linear in
    `len(text)`.
    """
    flat = normalise(text)
    return bool(_EN.search(flat) or _ZH.search(_SPACE.sub("", flat)))


def without_instructions(text: str, replacement: str = "") -> str:
    """`text` with each sentence addressed to a model replaced by `replacement` (snippets shown
    beside answers, passages sent to a generator, the grounding check's source). Linear."""
    return "".join(replacement if is_instruction(m.group(0)) else m.group(0) for m in _PIECE.finditer(text))
