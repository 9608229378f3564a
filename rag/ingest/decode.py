"""File bytes -> text: UTF-8, UTF-16/32 with a BOM, or a Chinese legacy encoding (GB18030/GBK, Big5/Big5-HKSCS).

Detection is tried in the order that is right for Chinese news files: BOMs,
an HTML page's declared charset, strict UTF-8 when it reads as CJK or ASCII,
then the legacy encodings, each decoded strictly and the one whose
characters are common Chinese characters kept (GBK bytes read as Big5, or
Big5 read as GBK, are valid but rare characters: 控坒淜膘 for 北石镇建); then
charset-normalizer for anything else. Text that reads as garbage in every
encoding is refused, never indexed as mojibake.
"""

from __future__ import annotations

import codecs
import os
import re
from functools import lru_cache

from rag.errors import CorpusError
from rag.text import to_simplified

_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))  # UTF-32 first: its LE BOM starts like UTF-16's


# Strict decoders of the Chinese legacy encodings: GB18030 (a superset of GB2312 and GBK), Big5 and
# Big5-HKSCS (Hong Kong's added characters; it maps a few Big5 codes to other characters: ① reads
# as ロ, so plain Big5 is tried before it).
_LEGACY = ("gb18030", "big5", "big5hkscs")
_FAMILY = {"gb2312": "gb18030", "gbk": "gb18030", "gb18030": "gb18030", "big5": "big5",
           "big5hkscs": "big5hkscs", "cp950": "big5"}
# A declared charset: <meta charset="big5">, <meta http-equiv … content="text/html; charset=big5">,
# <?xml … encoding="big5"?>; only the first 4 KB are read (where a page declares it).
_DECLARED = re.compile(rb"""(?:charset|encoding)\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.I)
# Share of a text's CJK characters (in simplified form) that must be among the COMMON_CHARS most
# frequent in jieba's dictionary for the text to be taken as Chinese: the seeds score 0.996-0.998,
# the Big5 and GBK test sentences misread in the other encoding 0.60 and 0.27, characters drawn
# uniformly from the CJK block about 0.2 (refused: as likely garbage as text).
COMMON_CHARS = 4000
MIN_COMMON_SHARE = 0.75
PREFER_MARGIN = 0.1  # how much more common Big5's reading must be to win over GB18030's
MIN_CJK_TO_JUDGE = 8  # fewer characters beyond ASCII than this say too little to refuse a file for


def declared_charset(data: bytes) -> str | None:
    """The encoding an HTML page declares in its first 4 KB (a Python codec name), or None."""
    m = _DECLARED.search(data[:4096])
    if not m:
        return None
    try:
        name = codecs.lookup(m.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    return _FAMILY.get(name.replace("-", "").replace("_", ""), name)


def decode_bytes(data: bytes, source: str = "<bytes>", declared: str | None = None) -> tuple[str, str]:
    """Decode a file's bytes as UTF-8 or a Chinese legacy encoding.

    Args:
        declared: the encoding the file says it is in (an HTML page's charset): it wins over
            detection when the bytes decode strictly in it and read as Chinese.
    Returns:
        (text, encoding name).
    Raises:
        CorpusError: binary data, an encoding we cannot identify, or text that reads as garbage
            in every encoding tried.
    """
    for bom, codec in _BOMS:  # UTF-16/32 files (Windows "Unicode") have NUL bytes but are text
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(codec), codec
            except UnicodeDecodeError:
                raise CorpusError(f"{source}: 编码损坏 damaged {codec} text") from None
    if b"\x00" in data[:4096]:
        raise CorpusError(f"{source}: 二进制文件，不是文本 looks like a binary file, not text")
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
    if declared:
        text = _strict(data, declared)
        if text is not None and _mostly_cjk_or_ascii(text) and _reads_as_chinese(text):
            return text, declared
    utf8 = _strict(data, "utf-8")
    # Short GBK byte runs can also be valid UTF-8 (丝 = CB BF = "˿"): UTF-8 wins
    # unless it reads as noise.
    if utf8 is not None and _mostly_cjk_or_ascii(utf8):
        return utf8, "utf-8"
    # Each legacy encoding strictly; the one that reads most like Chinese wins (a detector
    # mistakes short GBK for Big5 and short Big5 for a Japanese code page).
    legacy = [(t, codec) for codec in _LEGACY if (t := _strict(data, codec)) is not None and _mostly_cjk_or_ascii(t)]
    if legacy:
        # GB18030 unless a Big5 reading is clearly more like Chinese; ties: the one listed first
        text, codec = max(legacy, key=lambda tc: _common_share(tc[0]) - (0 if tc[1] == "gb18030" else PREFER_MARGIN))
        # against valid UTF-8 (Cyrillic, emoji, Hangul), a legacy reading must be common Chinese
        # however short: "Москва" is also valid GB18030 (袦芯褋泻胁邪), rare characters all
        if _reads_as_chinese(text) and (utf8 is None or _common_share(text) >= MIN_COMMON_SHARE):
            return text, codec
    if utf8 is not None:
        return utf8, "utf-8"
    if legacy:  # the bytes are Chinese-encoded text, but not text a reader could use: no detector's
        # guess at another code page (cp037 read 8 rare GB18030 characters as "K]K]a aãaã")
        raise CorpusError(f"{source}: 解码后不像中文 the text does not read as Chinese in GB18030 or Big5 "
                          "(garbage or another language); save it as UTF-8")
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise CorpusError(f"{source}: 无法识别的编码 unknown text encoding (not UTF-8, GB18030 or Big5)")
    text = str(best)
    if not _reads_as_chinese(text):
        raise CorpusError(f"{source}: 解码后不像中文 the text does not read as Chinese in UTF-8, GB18030, Big5 "
                          f"or {best.encoding} (garbage or another language); save it as UTF-8")
    return text, best.encoding


def _strict(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


@lru_cache(maxsize=1)
def _common_chars() -> frozenset[str]:
    """The COMMON_CHARS characters most frequent in jieba's dictionary (word frequencies summed per
    character; simplified script). Read once, ~0.5 s, only when a legacy encoding is judged."""
    import jieba

    counts: dict[str, int] = {}
    with open(os.path.join(os.path.dirname(jieba.__file__), "dict.txt"), encoding="utf-8") as f:
        for line in f:
            word, freq, *_ = line.split(" ")
            for ch in word:
                counts[ch] = counts.get(ch, 0) + int(freq)
    return frozenset(sorted(counts, key=counts.__getitem__, reverse=True)[:COMMON_CHARS])


# Non-CJK characters Chinese news is written with: its punctuation (full-width forms included),
# numbered and layout marks. Kana, Hangul, box drawing and the like are not (ロ is how GB18030
# reads the Big5 bytes of ①).
_NEWS_MARKS = frozenset("。，、：；！？“”‘’（）《》〈〉「」『』【】〔〕—…·～■□★☆●○◆◇▲△※①②③④⑤⑥⑦⑧⑨⑩°％‰×÷")


def _common_share(text: str) -> float:
    """Share of the characters beyond ASCII of (the first 20,000 characters of) `text`, in simplified
    form, that are common Chinese characters or news punctuation (1.0 when it has none)."""
    common = _common_chars()
    rest = [c for c in to_simplified(text[:20_000]) if ord(c) > 0x7F and not c.isspace()]
    if not rest:
        return 1.0
    return sum(c in common or c in _NEWS_MARKS or "\uff01" <= c <= "\uff5e" for c in rest) / len(rest)


def _reads_as_chinese(text: str) -> bool:
    """False for mojibake: enough characters beyond ASCII to judge, and too few of them common
    Chinese characters or news punctuation (Hangul or kana from a misread file count against it)."""
    sample = text[:20_000]
    if sum(ord(c) > 0x7F and not c.isspace() for c in sample) < MIN_CJK_TO_JUDGE:
        return True
    return _common_share(sample) >= MIN_COMMON_SHARE


def _plausible(ch: str) -> bool:
    """A character Chinese news text is made of: ASCII, CJK, CJK and general punctuation, symbols (□★①)."""
    o = ord(ch)
    return (o < 0x80 or 0xA0 <= o <= 0xFF or 0x2000 <= o <= 0x2BFF or 0x3000 <= o <= 0x9FFF
            or 0xF900 <= o <= 0xFAFF or 0xFE30 <= o <= 0xFE4F or 0xFF00 <= o <= 0xFFEF)


def _mostly_cjk_or_ascii(text: str) -> bool:
    if not text:
        return True
    return sum(map(_plausible, text)) / len(text) > 0.9
