"""File bytes -> text: UTF-8, UTF-16/32 with a BOM, or a Chinese legacy encoding (GB18030/GBK).

Detection is tried in the order that is right for Chinese news files: BOMs,
strict UTF-8 when it reads as CJK or ASCII, strict GB18030, then
charset-normalizer for anything else.
"""

from __future__ import annotations

from rag.errors import CorpusError

_BOMS = ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
         (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))  # UTF-32 first: its LE BOM starts like UTF-16's


def decode_bytes(data: bytes, source: str = "<bytes>") -> tuple[str, str]:
    """Decode a file's bytes as UTF-8 or a Chinese legacy encoding.

    Returns:
        (text, encoding name).
    Raises:
        CorpusError: binary data or an encoding we cannot identify.
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
    try:
        utf8: str | None = data.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    # Short GBK byte runs can also be valid UTF-8 (丝 = CB BF = "˿"): UTF-8 wins
    # unless it reads as noise. GBK/GB2312 are subsets of GB18030; try it strictly
    # before asking a detector, which can mistake short GBK for Big5.
    if utf8 is not None and _mostly_cjk_or_ascii(utf8):
        return utf8, "utf-8"
    try:
        gb = data.decode("gb18030")
        if _mostly_cjk_or_ascii(gb):
            return gb, "gb18030"
    except UnicodeDecodeError:
        pass
    if utf8 is not None:
        return utf8, "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        raise CorpusError(f"{source}: 无法识别的编码 unknown text encoding (not UTF-8 or GB18030)")
    return str(best), best.encoding


def _plausible(ch: str) -> bool:
    """A character Chinese news text is made of: ASCII, CJK, CJK and general punctuation, symbols (□★①)."""
    o = ord(ch)
    return (o < 0x80 or 0xA0 <= o <= 0xFF or 0x2000 <= o <= 0x2BFF or 0x3000 <= o <= 0x9FFF
            or 0xF900 <= o <= 0xFAFF or 0xFE30 <= o <= 0xFE4F or 0xFF00 <= o <= 0xFFEF)


def _mostly_cjk_or_ascii(text: str) -> bool:
    if not text:
        return True
    return sum(map(_plausible, text)) / len(text) > 0.9

