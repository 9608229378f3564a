"""What a question must be before it is searched: text with words, at most MAX_QUERY_CHARS; and k."""

from __future__ import annotations

import logging
import re
import unicodedata

from rag.errors import QueryError

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 2000  # longer questions are cut (with a log notice); see README


def checked_k(k) -> int:
    """The one rule for k (search, ask, the CLI): a whole number from 1 up; raises QueryError otherwise."""
    if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
        raise QueryError("k 必须是正整数 (k must be a positive number)")
    return k


def clean_query(query: str) -> str:
    """A question checked, normalised and cut to MAX_QUERY_CHARS characters.

    Raises:
        QueryError: not text, empty, or no words in it (one sentence, Chinese then English).
    """
    query = normalize_query(query)
    if len(query) > MAX_QUERY_CHARS:
        log.warning("question cut from %d to %d characters", len(query), MAX_QUERY_CHARS)
    return query[:MAX_QUERY_CHARS]


def normalize_query(query: str) -> str:
    """A question checked and normalised (control characters to spaces, full-width digits and
    letters to ASCII, NFC, stripped), not cut. Raises QueryError as `clean_query`."""
    if not isinstance(query, str):
        raise QueryError("问题必须是文字 (the question must be text)")
    query = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in query)
    # Full-width digits and letters (４０８５, ＡＢ) become ASCII; full-width
    # punctuation stays as the user typed it.
    query = re.sub(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]", lambda m: unicodedata.normalize("NFKC", m.group(0)), query)
    query = unicodedata.normalize("NFC", query).strip()
    if not query:
        raise QueryError("问题为空 (the question is empty)")
    if not any(ch.isalnum() for ch in query):
        raise QueryError("问题里没有文字 (the question has no words in it)")
    return query


def checked_date(value, name: str) -> str | None:
    """A date filter's bound (`since`, `until`) as `YYYY-MM-DD`; None or "" means no bound.

    Raises:
        QueryError: not a date, in one sentence.
    """
    from rag.ingest.dates import normalise_date

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    found = normalise_date(text) if len(text) <= 40 else ""
    if not found:
        raise QueryError(f"{name} 必须是日期 must be a date such as 2023-07-01 (got {text[:40]!r})")
    return found
