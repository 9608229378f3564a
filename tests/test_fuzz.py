"""Property tests: the loader, article splitter and chunker never crash, lose
text, or point offsets at the wrong characters, whatever the input."""

import re

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rag.ingest.chunking import chunk_article
from rag.errors import CorpusError
from rag.ingest.decode import decode_bytes
from rag.ingest.formats import parse_document
from rag.ingest.layout import split_page
from .conftest import SEEDS

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
PUNCT = st.sampled_from(list("。，、：；！？“”（）《》—…0123456789 #□"))
LINE = st.text(st.one_of(CJK, CJK, CJK, PUNCT, st.characters(codec="utf-8")), min_size=0, max_size=80)
PAGE = st.lists(st.tuples(LINE, st.sampled_from(["\n", "\n\n", "\n\n\n", "\r\n\r\n", " \n \n"])), max_size=30).map(
    lambda parts: "".join(a + b for a, b in parts)
)


def nonspace(text: str) -> str:
    return re.sub(r"\s+", "", text)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAGE)
def test_splitter_loses_nothing(text):
    import unicodedata

    articles = split_page(text, "x.txt", "x")
    assert nonspace("".join(a.text for a in articles)) == nonspace(unicodedata.normalize("NFC", text))
    for a in articles:
        for s, e in a.captions:
            assert 0 <= s < e <= len(a.text)


@settings(max_examples=100, deadline=None)
@given(PAGE, st.integers(60, 400), st.integers(0, 50))
def test_chunk_offsets_point_at_the_text(text, size, overlap):
    for article in split_page(text, "x.txt", "x"):
        chunks = chunk_article(article, size, min(overlap, size - 1))
        covered = set()
        for c in chunks:
            assert article.text[c.start : c.end] == c.text
            covered.update(range(c.start, c.end))
        kept = {i for i, ch in enumerate(article.text) if not ch.isspace()}
        assert kept <= covered


# Characters news text is made of: those of the seed pages (simplified) and their traditional forms.
_SEED_CHARS = sorted({ch for f in SEEDS.glob("*.txt") for ch in f.read_text(encoding="utf-8") if "\u4e00" <= ch <= "\u9fa5"})
NEWS_CJK = st.sampled_from(_SEED_CHARS)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.text(st.one_of(NEWS_CJK, NEWS_CJK, NEWS_CJK, PUNCT, st.sampled_from(list("■□★①②③·—、")),
                         st.characters(max_codepoint=0x7F)), min_size=12, max_size=200),
       st.sampled_from(["utf-8", "gb18030", "gbk", "utf-8-sig", "big5", "big5hkscs"]), st.booleans())
def test_loader_decodes_chinese_in_any_supported_encoding(text, encoding, traditional):
    if traditional:
        import opencc

        text = opencc.OpenCC("s2t").convert(text)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        assume(False)  # not representable in this encoding: not a case
    # a few bytes can be valid in several encodings; documents are longer
    assume("\x00" not in text and sum("\u4e00" <= ch <= "\u9fa5" for ch in text) >= 8)
    decoded, _ = decode_bytes(data)
    assert decoded == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.text(st.one_of(CJK, PUNCT, st.characters(max_codepoint=0x7F)), min_size=1, max_size=200),
       st.sampled_from(["utf-8", "gb18030", "gbk", "big5"]))
def test_text_is_decoded_exactly_or_refused_never_misread(text, encoding):
    """Characters drawn from the whole CJK block read like garbage in any encoding: such a file is
    either decoded to exactly its text or refused with the reason, never indexed as something else."""
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        assume(False)
    assume("\x00" not in text)
    try:
        decoded, _ = decode_bytes(data)
    except CorpusError:
        return
    assert decoded == text or sum("\u4e00" <= ch <= "\u9fa5" for ch in text) < 8


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.sampled_from(["a.txt", "a.md", "a.html", "a.jsonl"]))
def test_loader_never_crashes_on_bytes(data, name):
    try:
        parse_document(data, name)
    except CorpusError:
        pass  # a clear refusal is fine
