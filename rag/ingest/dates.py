"""Publication dates: read where a file gives them, stored on the article as ISO `YYYY-MM-DD`.

Where a date comes from, first found wins:
1. the file's own metadata: a `.jsonl` row's `date`, an HTML page's (`trafilatura`);
2. a numeric date leading the article's text: `2023-07-24 08:19，`, `[ 2023-07-28 16：40 ]`;
3. a dateline near its start, `人民网北京7月28日电`, with the year of the last full date printed
   before it in the file (a page header's `2023年7月28日`), never guessed: without one, no date.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

_FULL = re.compile(r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
# A date leading the text as an archive writes it (`2023-07-24 08:19，`, `[ 2023-07-28 16：40 ]`):
# numeric only; a story opening "2008年8月8日，…" tells of that day, it was not published on it.
_LEADING = re.compile(r"^\W{0,3}((?:19|20)\d{2})\s*[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2})(?![\d年月日])")
# A dateline: "<agency or paper><place>7月28日电", "本报讯（记者 …）7月28日" within the first 60 characters.
_DATELINE = re.compile(r"(\d{1,2})月(\d{1,2})日(?:电|讯|消息)")
DATELINE_WITHIN = 60  # characters from the article's start


def iso(year: int | str, month: int | str, day: int | str) -> str:
    """`YYYY-MM-DD`, or "" when the numbers are not a calendar date."""
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return ""


def normalise_date(value: str) -> str:
    """A date written any of the usual ways (`2023-07-24`, `2023/7/24 08:19`, `2023年7月24日`,
    `[ 2023-07-28 16：40 ]`, full-width digits, `Sat, 16 Dec 2023 08:00:00 +0800`) as `YYYY-MM-DD`,
    years 1900-2099; "" when there is none."""
    value = unicodedata.normalize("NFKC", value or "")  # ２０２３－０７－０１ too
    m = _FULL.search(value)
    if m:
        return iso(*m.groups())
    try:  # an e-mail or RSS date: "Sat, 16 Dec 2023 08:00:00 +0800"
        from email.utils import parsedate_to_datetime

        found = parsedate_to_datetime(value.strip())
        return found.date().isoformat() if 1900 <= found.year <= 2099 else ""
    except (TypeError, ValueError, IndexError, OverflowError):
        return ""


def date_in_text(text: str, file_text: str = "") -> str:
    """The publication date an article's text states at its start (a leading date, or a dateline
    whose year the file states elsewhere), as `YYYY-MM-DD`; "" when it states none."""
    head = text.lstrip()[:200]
    m = _LEADING.match(head)
    if m:
        return iso(*m.groups())
    m = _DATELINE.search(head[:DATELINE_WITHIN])
    if m and file_text:
        # the year of the last full date printed before this dateline in the file (a page header's
        # date), never one the story itself mentions later
        at = file_text.find(head[: m.end()])
        before = [d for d in _FULL.finditer(file_text[max(0, at - 2000) : at])] if at > 0 else []
        if before:
            return iso(before[-1].group(1), *m.groups())
    return ""
