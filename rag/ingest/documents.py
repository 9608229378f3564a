"""PDF and Word files -> page text for the page splitter (`layout.split_page`).

PDF: the text layer, read with `pdfplumber`, page by page in reading order. A
newspaper e-paper page is set in columns: a page whose words leave a vertical
gutter (a line that almost no word crosses, between 30 % and 70 % of the
width) is read column by column, left first. Within a column, lines are
joined into paragraphs (Chinese lines wrap mid-sentence, so they are joined
without a space), and a blank line is put where the gap to the next line is
well above the usual line spacing or the font size changes (a headline, a
byline). A PDF without a text layer (a scan) is refused: there is no OCR.

Word: the paragraphs of a `.docx` (`python-docx`), one block each; tables'
cells follow, row by row.
"""

from __future__ import annotations

import io
import statistics

from rag.errors import CorpusError

MAX_PDF_PAGES = 200  # an e-paper issue has dozens; more is a book or a file built to be slow
GUTTER_MAX_CROSSING = 0.02  # share of a page's words that may cross a column gutter
PARAGRAPH_GAP = 1.6  # a gap above this many usual line spacings starts a new block


def pdf_text(data: bytes, source: str) -> str:
    """The text of a PDF's text layer, columns in reading order, blocks separated by blank lines.

    Raises:
        CorpusError: not a readable PDF, more than MAX_PDF_PAGES pages, or no text layer.
    """
    try:
        import pdfplumber
    except ImportError as e:
        raise CorpusError(f"{source}: 读取 PDF 需要 pdfplumber reading PDF needs pdfplumber ({e})") from None
    pages: list[str] = []
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            if len(pdf.pages) > MAX_PDF_PAGES:
                raise CorpusError(f"{source}: PDF 超过 {MAX_PDF_PAGES} 页 more than {MAX_PDF_PAGES} pages")
            for page in pdf.pages:
                pages.append(_page_text(page))
    except CorpusError:
        raise
    except Exception as e:  # pdfminer raises many untyped errors for damaged files
        raise CorpusError(f"{source}: 无法读取的 PDF not a readable PDF ({type(e).__name__})") from None
    text = "\n\n".join(p for p in pages if p.strip())
    if not any(ch.isalnum() for ch in text):
        raise CorpusError(f"{source}: PDF 没有文字层（扫描件？不做文字识别）the PDF has no text layer "
                          "(a scan? there is no OCR)")
    return text


def _page_text(page) -> str:
    words = page.extract_words(use_text_flow=False, keep_blank_chars=False, extra_attrs=["size"])
    if not words:
        return ""
    gutter = _gutter(words, float(page.width))
    if gutter is None:
        return _blocks(words)
    left = [w for w in words if w["x1"] <= gutter]
    right = [w for w in words if w["x0"] >= gutter]
    across = [w for w in words if w["x0"] < gutter < w["x1"]]  # a headline over both columns
    parts = [_blocks(across), _blocks(left), _blocks(right)]
    return "\n\n".join(p for p in parts if p)


def _gutter(words: list[dict], width: float) -> float | None:
    """The x of a vertical line between two columns, or None for a one-column page."""
    best, best_crossing = None, len(words)
    for step in range(30, 71):
        x = width * step / 100
        crossing = sum(1 for w in words if w["x0"] < x < w["x1"])
        left = sum(1 for w in words if w["x1"] <= x)
        if crossing < best_crossing and min(left, len(words) - left - crossing) >= 0.2 * len(words):
            best, best_crossing = x, crossing
    if best is None or best_crossing > GUTTER_MAX_CROSSING * len(words):
        return None
    return best


def _blocks(words: list[dict]) -> str:
    """Words of one column -> lines (by their top) -> blocks (by the gaps and font sizes between lines)."""
    if not words:
        return ""
    lines: list[list[dict]] = []
    for w in sorted(words, key=lambda w: (round(w["top"]), w["x0"])):
        if lines and abs(lines[-1][0]["top"] - w["top"]) <= 0.5 * w["size"]:
            lines[-1].append(w)
        else:
            lines.append([w])
    tops = [ln[0]["top"] for ln in lines]
    gaps = [b - a for a, b in zip(tops, tops[1:])]
    # the usual line spacing: a low percentile of the gaps, since headline and paragraph gaps are
    # many on a short column
    usual = sorted(gaps)[int(0.3 * (len(gaps) - 1))] if gaps else 0.0
    out: list[str] = []
    prev_size = 0.0
    for i, line in enumerate(lines):
        ordered = sorted(line, key=lambda w: w["x0"])
        text = ordered[0]["text"] + "".join((" " if _spaced(a, b) else "") + b["text"] for a, b in zip(ordered, ordered[1:]))
        size = statistics.median(w["size"] for w in line)
        if i and (gaps[i - 1] > PARAGRAPH_GAP * usual or abs(size - prev_size) > 0.5):
            out.append("\n\n")
        out.append(text)
        prev_size = size
    return "".join(out).strip()


def _spaced(a: dict, b: dict) -> bool:
    """Whether two words of a line had a space between them: Latin words always do; CJK text only
    where the page leaves a gap ("本报记者 王五"), since its characters of one run are one word."""
    if a["text"][-1:].isascii() and a["text"][-1:].isalnum() and b["text"][:1].isascii() and b["text"][:1].isalnum():
        return True
    return b["x0"] - a["x1"] >= 0.15 * float(a["size"])


def docx_text(data: bytes, source: str) -> str:
    """The paragraphs (then the table cells) of a .docx, one block each.

    Raises:
        CorpusError: not a readable .docx.
    """
    try:
        import docx
    except ImportError as e:
        raise CorpusError(f"{source}: 读取 Word 文件需要 python-docx reading .docx needs python-docx ({e})") from None
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as e:  # a zip that is not a Word document, a damaged file
        raise CorpusError(f"{source}: 无法读取的 Word 文件 not a readable .docx ({type(e).__name__})") from None
    blocks = [p.text.strip() for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks += [cell.text.strip() for cell in row.cells]
    return "\n\n".join(b for b in blocks if b)
