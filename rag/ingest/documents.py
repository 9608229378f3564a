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
GUTTER_MIN_CROSSINGS = 3  # ... and this many on any page (a centred headline, a byline, a kicker)
PARAGRAPH_GAP = 1.6  # a gap above this many usual line spacings starts a new block


# A PDF is a program: a 2 KB file that draws one text form 300 times made pdfminer build 1.75 GB
# of characters (issue 21 review). It is read in a child process with a memory and a time limit;
# what comes back is at most MAX_DOCUMENT_CHARS characters.
PDF_MEMORY_BYTES = 1024 * 2**20  # a two-column e-paper page needs under 200 MB
PDF_SECONDS = 60
MAX_DOCUMENT_CHARS = 2_000_000  # ~4 MB of text: far above an e-paper issue, far below what a bomb makes


def pdf_text(data: bytes, source: str) -> str:
    """The text of a PDF's text layer, columns in reading order, blocks separated by blank lines.
    Read in a child process limited to PDF_MEMORY_BYTES and PDF_SECONDS.

    Raises:
        CorpusError: not a readable PDF, more than MAX_PDF_PAGES pages or MAX_DOCUMENT_CHARS
            characters, over the limits, or no text layer.
    """
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: the limits bind only the parse
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_pdf_child, args=(data, child), daemon=True)
    proc.start()
    child.close()
    try:
        if not parent.poll(PDF_SECONDS):
            raise CorpusError(f"{source}: PDF 读取超过 {PDF_SECONDS} 秒 the PDF takes more than {PDF_SECONDS} s to read")
        kind, value = parent.recv()
    except EOFError:  # the child died: the memory limit or a crash in the parser
        raise CorpusError(f"{source}: PDF 过于复杂，无法读取 the PDF is too complex to read "
                          f"(over {PDF_MEMORY_BYTES // 2**20} MB)") from None
    finally:
        parent.close()
        if proc.is_alive():
            proc.kill()
        proc.join(5)
    if kind == "refused":
        raise CorpusError(f"{source}: {value}")
    text = value
    if not any(ch.isalnum() for ch in text):
        raise CorpusError(f"{source}: PDF 没有文字层（扫描件？不做文字识别）the PDF has no text layer "
                          "(a scan? there is no OCR)")
    return text


def _pdf_child(data: bytes, out) -> None:
    """In the child: set the limits, read the pages, send ("text", str) or ("refused", reason)."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (PDF_MEMORY_BYTES, PDF_MEMORY_BYTES))
    except (ImportError, ValueError, OSError):
        pass  # no such limit here: the time limit still holds
    try:
        import pdfplumber
    except ImportError as e:
        out.send(("refused", f"读取 PDF 需要 pdfplumber reading PDF needs pdfplumber ({e})"))
        return
    pages: list[str] = []
    total = 0
    try:
        with pdfplumber.open(io.BytesIO(data)) as pdf:
            if len(pdf.pages) > MAX_PDF_PAGES:
                out.send(("refused", f"PDF 超过 {MAX_PDF_PAGES} 页 more than {MAX_PDF_PAGES} pages"))
                return
            for page in pdf.pages:
                pages.append(_page_text(page))
                page.close()  # its characters are not kept for the next page
                total += len(pages[-1])
                if total > MAX_DOCUMENT_CHARS:
                    out.send(("refused", f"PDF 文字超过 {MAX_DOCUMENT_CHARS} 字 more than {MAX_DOCUMENT_CHARS} characters"))
                    return
    except MemoryError:
        out.send(("refused", f"PDF 过于复杂，无法读取 the PDF is too complex to read (over {PDF_MEMORY_BYTES // 2**20} MB)"))
        return
    except Exception as e:  # pdfminer raises many untyped errors for damaged files
        out.send(("refused", f"无法读取的 PDF not a readable PDF ({type(e).__name__})"))
        return
    out.send(("text", "\n\n".join(p for p in pages if p.strip())))


def _page_text(page) -> str:
    words = page.extract_words(use_text_flow=False, keep_blank_chars=False, extra_attrs=["size"])
    if not words:
        return ""
    gutter = _gutter(words, float(page.width))
    if gutter is None:
        return _blocks(words)
    # a line with a word over the gutter, or with words on both sides whose left part does not start
    # at the left column's edge (a headline or byline centred over both columns: "本报记者" left of
    # the gutter, "王五" right of it), is read whole, before the columns
    lines: dict[int, list[dict]] = {}
    for w in words:
        lines.setdefault(round(w["top"]), []).append(w)
    # where each column's lines start: the median start of the lines on that side
    starts = {side: [min(w["x0"] for w in ln if (w["x1"] <= gutter) == (side == "left")) for ln in lines.values()
                     if any((w["x1"] <= gutter) == (side == "left") for w in ln)] for side in ("left", "right")}
    edges = {side: statistics.median(xs) if xs else 0.0 for side, xs in starts.items()}
    width = float(page.width) / 2
    spanning = set()
    for top, line in lines.items():
        lefts = [w for w in line if w["x1"] <= gutter]
        rights = [w for w in line if w["x0"] >= gutter]
        crossing = any(w["x0"] < gutter < w["x1"] for w in line)
        off_left = bool(lefts) and min(w["x0"] for w in lefts) - edges["left"] > 0.3 * width
        off_right = not lefts and bool(rights) and edges["right"] - min(w["x0"] for w in rights) > 0.1 * width
        if crossing or off_left or off_right:
            spanning.add(top)
    across = [w for w in words if round(w["top"]) in spanning]
    left = [w for w in words if w["x1"] <= gutter and round(w["top"]) not in spanning]
    right = [w for w in words if w["x0"] >= gutter and round(w["top"]) not in spanning]
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
    # pdfplumber gives a Chinese line as one word: a short page has few, and its centred headline and
    # byline cross any gutter; a few crossings are always allowed
    if best is None or best_crossing > max(GUTTER_MIN_CROSSINGS, GUTTER_MAX_CROSSING * len(words)):
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
    import zipfile

    try:  # the sizes a zip declares, before anything is unpacked: a 257 KB file held 65 MB of XML
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise CorpusError(f"{source}: 无法读取的 Word 文件 not a readable .docx ({type(e).__name__})") from None
    if unpacked > DOCX_UNPACKED_BYTES:
        raise CorpusError(f"{source}: Word 文件解压后超过 {DOCX_UNPACKED_BYTES // 2**20} MB "
                          f"unpacks to more than {DOCX_UNPACKED_BYTES // 2**20} MB")
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as e:  # a zip that is not a Word document, a damaged file
        raise CorpusError(f"{source}: 无法读取的 Word 文件 not a readable .docx ({type(e).__name__})") from None
    blocks = [p.text.strip() for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks += [cell.text.strip() for cell in row.cells]
    text = "\n\n".join(b for b in blocks if b)
    if len(text) > MAX_DOCUMENT_CHARS:
        raise CorpusError(f"{source}: 文字超过 {MAX_DOCUMENT_CHARS} 字 more than {MAX_DOCUMENT_CHARS} characters")
    return text


DOCX_UNPACKED_BYTES = 50 * 2**20  # a long report is a few MB of XML
