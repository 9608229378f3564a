"""Adding articles to a corpus and its index without a full rebuild.

`add_files` checks each file (type, size, encoding, contents), recognises a
file whose text is already in the corpus (the same bytes, or the same text in
another encoding, with other line ends or a BOM: `content_key`) and skips it,
copies the rest into the corpus folder under a free name, and updates the
index: only the new articles' passages are embedded (the embedding cache
holds the rest). Refused files are reported with the reason; nothing already
in the corpus is touched.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from rag.config import Config
from rag.errors import CorpusError, IndexStateError
from rag.files import atomic_write, sha256_bytes
from rag.index.build import build_index
from rag.index.lock import build_lock
from rag.index.manifest import read_manifest
from rag.ingest.corpus import content_key, corpus_files
from rag.ingest.formats import SUPPORTED_SUFFIXES, parse_document, safe_stem

MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@dataclass
class AddReport:
    """What `add_files` did with each file: added, a duplicate of a corpus file, or refused (with the reason)."""

    added: list[str] = field(default_factory=list)  # corpus file names
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (given file, existing corpus file)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (given file, reason)
    problems: list[str] = field(default_factory=list)  # parts left out of added files (bad .jsonl lines)
    articles: int = 0
    embedded: int = 0

    def lines(self) -> list[str]:
        """One line per file, Chinese first with the English after (as the app's labels)."""
        out = [f"✅ 已添加 added {name}" for name in self.added]
        out += [f"ℹ️ 资料库中已有 already in the corpus: {given} (与 {existing} 内容相同 same content as {existing})"
                for given, existing in self.duplicates]
        out += [f"⚠️ 未添加 refused {given}: {reason}" for given, reason in self.refused]
        out += [f"⚠️ {problem}" for problem in self.problems]
        if self.added:
            out.append(f"索引已更新 index updated: 新文章 {self.articles} 篇 new article(s), "
                       f"嵌入 {self.embedded} 段 passage(s) embedded")
        return out


def _free_name(folder: Path, name: str, taken: set[str]) -> str:
    """A file name whose id stem no file of the folder uses, under any suffix (ids never collide)."""
    suffix = Path(name).suffix.lower()
    stem = safe_stem(name)
    candidate, n = f"{stem}{suffix}", 2
    while safe_stem(candidate) in taken or (folder / candidate).exists():
        candidate = f"{stem}-{n}{suffix}"
        n += 1
    taken.add(safe_stem(candidate))
    return candidate


def add_files(files, corpus_dir: str | Path = "seeds", index_dir: str | Path = "index", config=None,
              encoder=None, max_bytes: int = MAX_UPLOAD_BYTES) -> AddReport:
    """Add article files to a corpus folder and update its index.

    Args:
        files: paths of .txt/.md/.html/.jsonl/.pdf/.docx files (text in UTF-8, GB18030/GBK or Big5).
        corpus_dir: the corpus folder the index was built from.
        index_dir: the index to update.
        config: build settings (default: those the index was built with).
        encoder: an `Encoder` (or a SentenceTransformer) to use instead of loading the model.
        max_bytes: larger files are refused.
    """
    corpus = Path(corpus_dir)
    corpus.mkdir(parents=True, exist_ok=True)
    # The lock is held from the first copy to the index switch: a second `add` waits, and readers
    # meanwhile answer from the previous index (`load_index` sees the lock).
    with build_lock(index_dir, wait=ADD_WAIT_S):
        return _add_locked(files, corpus, index_dir, config, encoder, max_bytes)


ADD_WAIT_S = 600  # how long an add waits for another add or build of the same index


def _add_locked(files, corpus: Path, index_dir, config, encoder, max_bytes: int) -> AddReport:
    if config is None:
        try:
            config = Config.from_dict(read_manifest(index_dir)["settings"])
        except IndexStateError:
            config = Config()
    existing = corpus_files(corpus)
    known: dict[str, str] = {}  # byte hash or content key -> corpus file name
    try:
        manifest = read_manifest(index_dir)
    except IndexStateError:
        manifest = {}
    indexed_keys, indexed_hashes = manifest.get("content_keys") or {}, manifest.get("corpus_files") or {}
    for p in existing:
        try:  # an unreadable corpus file is the build's to report
            data = p.read_bytes()
        except OSError:
            continue
        digest = sha256_bytes(data)
        known[digest] = p.name
        if p.name in indexed_keys and indexed_hashes.get(p.name) == digest:
            known[indexed_keys[p.name]] = p.name
        else:  # not indexed as it is now (a killed add, an older index): read it
            with contextlib.suppress(CorpusError):
                known[content_key(parse_document(data, p.name))] = p.name
    taken = {safe_stem(p.name) for p in existing}
    report = AddReport()
    staged: list[tuple[Path, str, bytes]] = []
    for f in files:
        path = Path(f)
        given = path.name
        if not path.exists():
            report.refused.append((given, "文件不存在 no such file"))
            continue
        if path.is_dir():
            report.refused.append((given, "是文件夹，不是文件 a folder, not a file"))
            continue
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            report.refused.append((given, f"不支持的文件类型 unsupported file type {path.suffix or '(none)'}; 请用 use {', '.join(SUPPORTED_SUFFIXES)}"))
            continue
        try:
            if not path.is_file():
                report.refused.append((given, "不是文件 not a file (a folder or a device)"))
                continue
            if path.stat().st_size > max_bytes:
                report.refused.append((given, f"超过 {max_bytes // 2**20} MB 上限 larger than the {max_bytes // 2**20} MB limit"))
                continue
            data = path.read_bytes()
        except OSError as e:
            report.refused.append((given, f"无法读取 cannot read it ({e.strerror or e})"))
            continue
        digest = sha256_bytes(data)
        if digest in known:
            report.duplicates.append((given, known[digest]))
            continue
        try:
            articles = parse_document(data, given, problems=report.problems)
        except CorpusError as e:
            report.refused.append((given, str(e).removeprefix(f"{given}: ")))
            continue
        if not articles:
            report.refused.append((given, "没有找到文章正文 no article text found"))
            continue
        key = content_key(articles)
        if key in known:  # the same text in another encoding, with other line ends or a BOM
            report.duplicates.append((given, known[key]))
            continue
        name = _free_name(corpus, given, taken)
        known[digest] = known[key] = name
        staged.append((corpus / name, name, data))
        report.articles += len(articles)
    for target, name, data in staged:
        atomic_write(target, data)
        report.added.append(name)
    if report.added:
        try:
            build = build_index(corpus, index_dir, config, encoder=encoder)
        except Exception:
            for target, _, _ in staged:  # leave the corpus as it was
                target.unlink(missing_ok=True)
            raise
        report.embedded = build.embedded
    return report
