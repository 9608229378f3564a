"""Publication dates: read where a file gives them, stored on the article as ISO `YYYY-MM-DD`.

Where a date comes from, first found wins:
1. the file's own metadata: a `.jsonl` row's `date`, an HTML page's (`trafilatura`);
2. a date leading the article's text: `2023-07-24 08:19，`, `[ 2023-07-28 16：40 ]`, `2023年7月24日`;
3. a dateline near its start, `人民网北京7月28日电`, with the year of the first full date in the
   file's first 2,000 characters (a page header's `2023年7月28日`), never guessed: without one,
   no date.
"""

from __future__ import annotations

import re
from datetime import date

_FULL = re.compile(r"((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_LEADING = re.compile(r"^\W{0,3}((?:19|20)\d{2})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
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
    `[ 2023-07-28 16：40 ]`) as `YYYY-MM-DD`; "" when there is none."""
    m = _FULL.search(value or "")
    return iso(*m.groups()) if m else ""


def date_in_text(text: str, file_text: str = "") -> str:
    """The publication date an article's text states at its start (a leading date, or a dateline
    whose year the file states elsewhere), as `YYYY-MM-DD`; "" when it states none."""
    head = text.lstrip()[:200]
    m = _LEADING.match(head)
    if m:
        return iso(*m.groups())
    m = _DATELINE.search(head[:DATELINE_WITHIN])
    if m:
        full = _FULL.search(file_text[:2000] or text[:2000])  # the page's own date, e.g. in its header
        if full:
            return iso(full.group(1), *m.groups())
    return ""
