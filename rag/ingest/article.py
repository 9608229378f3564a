"""The article record every later stage reads: text, where it came from, and where its labels are."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The most characters a title, byline, date or address keeps (a longer one is cut, with "…"): a
# title is read above every passage of its article, embedded with each and shown with every hit,
# so a 20,000-character .jsonl title made each question that retrieved it take 25 s (issue 20).
# The seeds' longest headline is 61 characters.
TITLE_MAX_CHARS = 120
FIELD_MAX_CHARS = {"title": TITLE_MAX_CHARS, "byline": TITLE_MAX_CHARS, "date": 40, "url": 2000}


def bounded(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters (the last one "…" when cut)."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


@dataclass(frozen=True)
class Article:
    """One article: its text with headline and byline, and where it came from."""

    doc_id: str
    source: str
    title: str
    text: str
    byline: str = ""
    url: str = ""
    date: str = ""
    captions: tuple[tuple[int, int], ...] = ()
    # [start, end) offsets in `text` of the headline and byline blocks printed in it (empty when
    # the title came from elsewhere: a .jsonl field, an HTML <title> of a page without a headline).
    # Labels: a byline is never an answer, a headline only when cited as the headline; the
    # article page shows them once, as its heading.
    headline_spans: tuple[tuple[int, int], ...] = ()
    byline_spans: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        # every way in (a page's layout, a .jsonl row, an HTML <title>, a stored article) passes here
        for name, limit in FIELD_MAX_CHARS.items():
            value = getattr(self, name)
            # one line: a .jsonl title "桃源村\n===" must not become a Markdown heading where it is shown
            flat = " ".join(value.split()) if any(c.isspace() and c != " " for c in value) else value
            if len(flat) > limit or flat is not value:
                object.__setattr__(self, name, bounded(flat, limit))

    def in_label(self, offset: int) -> bool:
        """True when character `offset` of the text lies in the printed headline or byline."""
        return any(a <= offset < b for a, b in (*self.headline_spans, *self.byline_spans))

    def in_headline(self, offset: int) -> bool:
        """True when character `offset` of the text lies in the printed headline."""
        return any(a <= offset < b for a, b in self.headline_spans)

    def to_dict(self) -> dict:
        """The article as plain JSON-ready data (spans as lists); `from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> "Article":
        """The inverse of `to_dict` (spans come back from JSON as lists)."""
        spans = ("captions", "headline_spans", "byline_spans")
        return cls(**{**row, **{k: tuple(map(tuple, row.get(k, ()))) for k in spans}})


