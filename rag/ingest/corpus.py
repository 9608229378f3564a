"""A corpus folder -> `Corpus`: every readable file's articles, with stable ids and file hashes.

Files that cannot be read are listed with the reason, never dropped
silently. Article ids are `<file stem>-<nn>`; `keep_ids` keeps an id on the
same text across rebuilds and splitter versions, so cited links stay valid.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from rag.errors import CorpusError
from rag.files import sha256_bytes
from rag.ingest.article import Article
from rag.ingest.formats import SUPPORTED_SUFFIXES, parse_document, safe_stem

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class SkippedFile:
    source: str
    reason: str


@dataclass
class Corpus:
    """The articles of a folder, the files skipped with reasons, and file hashes."""

    articles: list[Article] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    file_hashes: dict[str, str] = field(default_factory=dict)
    content_keys: dict[str, str] = field(default_factory=dict)  # file name -> `content_key` of its articles
    problems: list[str] = field(default_factory=list)  # parts left out of files that were read


def keep_ids(articles: list[Article], previous: list[Article]) -> list[Article]:
    """The articles with the ids an earlier split gave them, so links cited before stay valid.

    Ids are positions on the page (`<stem>-00`, `-01`, …): when a newer splitter finds one more
    article on a page, the positions after it move. Here an article whose text is unchanged keeps
    its old id; an article holding most of a changed old article's paragraphs inherits its id; when one
    old and one new article are left unmatched on a page (a one-article file rewritten), the new one
    takes the old id; any other gets the next number not used on its page.
    """
    if not previous:
        return articles
    by_source: dict[str, list[Article]] = {}
    for old in previous:
        by_source.setdefault(old.source, []).append(old)
    out: list[Article] = []
    for source in dict.fromkeys(a.source for a in articles):
        new = [a for a in articles if a.source == source]
        old = by_source.get(source, [])
        ids: dict[int, str] = {}
        unused = {o.doc_id: o for o in old}
        for i, a in enumerate(new):  # unchanged text: same id
            same = next((o for o in unused.values() if o.text == a.text), None)
            if same is not None:
                ids[i] = same.doc_id
                del unused[same.doc_id]
        for doc_id, o in list(unused.items()):  # a changed article: its id to the one holding most of it
            paragraphs = [p for p in o.text.split("\n\n") if p.strip()]
            best, share = None, 0.5
            for i, a in enumerate(new):
                if i in ids:
                    continue
                held = sum(len(p) for p in paragraphs if p in a.text) / max(1, sum(map(len, paragraphs)))
                if held > share:
                    best, share = i, held
            if best is not None:
                ids[best] = doc_id
                del unused[doc_id]
        left = [i for i in range(len(new)) if i not in ids]
        if len(unused) == 1 and len(left) == 1:  # one article rewritten more than half: still the same article
            ids[left[0]] = next(iter(unused))
            unused.clear()
        taken = {o.doc_id for o in old} | set(ids.values())
        for i, a in enumerate(new):
            if i not in ids:
                stem, n = a.doc_id.rsplit("-", 1)[0], 0
                while f"{stem}-{n:02d}" in taken:
                    n += 1
                ids[i] = f"{stem}-{n:02d}"
                taken.add(ids[i])
            out.append(replace(a, doc_id=ids[i]) if ids[i] != a.doc_id else a)
    return out


def content_key(articles: list[Article]) -> str:
    """A file's identity by content: the SHA-256 of its articles' texts with all white space removed.
    The texts are decoded (any encoding, BOM gone) and NFC-normalised, and line ends and spaces do
    not count, so the same story saved as GBK, with CRLF line ends or with a BOM has the same key as
    its UTF-8 original (issue 21; byte hashes told them apart)."""
    return sha256_bytes("\x1e".join("".join(a.text.split()) for a in articles).encode("utf-8"))


def corpus_files(folder: str | Path) -> list[Path]:
    """The files of a corpus folder, sorted by name; raises if there is no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CorpusError(f"corpus folder {folder} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def id_stems(names: list[str], known: set[str] | frozenset[str] = frozenset()) -> dict[str, str]:
    """The article-id stem of each file name, unique within the folder and stable as files are added.

    Files already indexed (`known`, from the previous build) claim their
    stems first, so a new `a.md` beside an indexed `a.txt` gets `a_md`
    and never takes over the ids `a-00`… that earlier answers cite.
    """
    stems: dict[str, str] = {}
    taken: set[str] = set()
    for name in sorted(names, key=lambda n: (n not in known, n)):
        stem = safe_stem(name)
        if stem in taken:  # a.txt and a.md: keep both, with distinct ids
            stem = f"{stem}_{Path(name).suffix.lstrip('.').lower()}"
        base, n = stem, 2
        while stem in taken:
            stem, n = f"{base}-{n}", n + 1
        taken.add(stem)
        stems[name] = stem
    return stems


def load_corpus(folder: str | Path, known: set[str] | frozenset[str] = frozenset()) -> Corpus:
    """Read every supported file of a folder into articles.

    Files of other types, undecodable, unreadable or empty files are skipped
    and listed in `Corpus.skipped` with the reason (and logged), never
    silently; lines left out of a file are listed in `Corpus.problems`.

    Args:
        known: names of the files the previous build indexed; their article
            ids win over those of files added since (see `id_stems`).
    """
    corpus = Corpus()
    listed = corpus_files(folder)
    files = [p for p in listed if p.suffix.lower() in SUPPORTED_SUFFIXES]
    corpus.skipped += [SkippedFile(p.name, f"unsupported file type {p.suffix or '(none)'}")
                       for p in listed if p.suffix.lower() not in SUPPORTED_SUFFIXES]
    stems = id_stems([p.name for p in files], known)
    for path in files:
        name = path.name
        try:
            data = path.read_bytes()
        except OSError as e:  # one unreadable file must not stop the build (and every search)
            corpus.skipped.append(SkippedFile(name, f"无法读取 cannot read it ({e.strerror or e})"))
            continue
        try:
            articles = parse_document(data, name, stems[name], corpus.problems)
        except CorpusError as e:
            corpus.skipped.append(SkippedFile(name, str(e).removeprefix(f"{name}: ")))
            continue
        corpus.file_hashes[name] = sha256_bytes(data)
        corpus.content_keys[name] = content_key(articles)
        corpus.articles.extend(articles)
    for s in corpus.skipped:
        log.warning("skipped %s: %s", s.source, s.reason)
    for problem in corpus.problems:
        log.warning("%s", problem)
    if not corpus.articles:
        raise CorpusError(f"no readable articles in {folder}")
    return corpus
