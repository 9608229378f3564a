"""The index manifest: what an index holds and how it was built, checked before anything is served.

`manifest.json` lists the segments (`rag.index.segment`: data folders with
every file's SHA-256 and the doc ids removed from each since), the build
settings, the encoder's fingerprint, the splitter version and the corpus
files' hashes. Replacing it (`atomic_write`) is a build's one atomic step.
A manifest that is missing, damaged, of another format or of another
encoder is one `IndexStateError` sentence naming `python -m rag build`.
"""

from __future__ import annotations

import json
from pathlib import Path

from rag.config import Config
from rag.errors import IndexCorruptError, IndexMissingError, StaleIndexError
from rag.files import sha256_file
from rag.ingest.article import Article
from rag.ingest.corpus import corpus_files
from rag.ingest.formats import SUPPORTED_SUFFIXES

FORMAT = "rag-index v3"  # v3: segments (adds write a segment, removals mark ids deleted); v2: the encoder's fingerprint
MANIFEST = "manifest.json"
CACHE = "embeddings.sqlite"


def write_jsonl(path: Path, rows) -> None:
    """One JSON object per line, UTF-8 (chunks.jsonl, articles.jsonl)."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    """The objects of a JSON Lines file (blank lines skipped)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def read_manifest(index_dir: str | Path) -> dict:
    """Read and sanity-check a manifest; raises IndexMissingError / IndexCorruptError."""
    index_dir = Path(index_dir)
    path = index_dir / MANIFEST
    if not path.exists():
        raise IndexMissingError(f"no index in {index_dir}: run `python -m rag build` first")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IndexCorruptError(f"{path} is damaged: rebuild it with `python -m rag build`") from None
    if not isinstance(manifest, dict):
        raise IndexCorruptError(f"{path} is damaged (not a JSON object): rebuild it with `python -m rag build`")
    if manifest.get("format") != FORMAT:
        raise StaleIndexError(
            f"the index in {index_dir} has format {manifest.get('format')!r}, this version reads {FORMAT!r}: "
            "rebuild it with `python -m rag build`"
        )
    problem = _manifest_problem(manifest)
    if problem:
        raise IndexCorruptError(f"{path} is damaged ({problem}): rebuild it with `python -m rag build --force`")
    return manifest


# What every manifest holds, with its type; checked on load so that a damaged or hand-edited
# manifest is one sentence, not a KeyError deep in a search.
_MANIFEST_FIELDS = {"segments": list, "settings": dict, "corpus_files": dict, "articles": int,
                    "chunks": int, "dim": int, "encoder": str}
_REQUIRED_DATA = ("chunks.jsonl", "articles.jsonl")


def _manifest_problem(manifest: dict) -> str | None:
    for key, kind in _MANIFEST_FIELDS.items():
        if not isinstance(manifest.get(key), kind):
            return f"{key!r} is missing or not a {kind.__name__}"
    if not manifest["segments"]:
        return "it lists no segment"
    names = set()
    for segment in manifest["segments"]:
        if not isinstance(segment, dict):
            return "a segment is not an object"
        data, checksums, deleted = segment.get("data"), segment.get("checksums"), segment.get("deleted", [])
        if not isinstance(data, str) or not data.startswith("data-") or Path(data).name != data or data in names:
            return f"data folder {data!r} is not a data folder name (or is listed twice)"
        names.add(data)
        if not isinstance(checksums, dict):
            return f"segment {data} has no checksums"
        if not isinstance(deleted, list) or not all(isinstance(d, str) for d in deleted):
            return f"segment {data}: 'deleted' is not a list of ids"
        if not all(isinstance(segment.get(k, 0), int) for k in ("chunks", "articles", "deleted_chunks")):
            return f"segment {data}: its counts are not numbers"
        for rel, digest in checksums.items():
            if (not isinstance(digest, str) or len(digest) != 64 or Path(rel).is_absolute()
                    or ".." in Path(rel).parts):
                return f"checksum entry {rel!r} is malformed"
        missing = [name for name in _REQUIRED_DATA if name not in checksums]
        if missing:
            return f"no checksum for {', '.join(missing)} in {data}"
    if not isinstance(manifest["settings"].get("model"), str):
        return "the settings name no model"
    store = manifest.get("store", {"kind": "faiss"})
    if not isinstance(store, dict) or store.get("kind") not in ("faiss", "milvus"):
        return "'store' is not a FAISS or Milvus store"
    if store["kind"] == "milvus" and not (isinstance(store.get("uri"), str) and isinstance(store.get("collection"), str)):
        return "the Milvus store names no uri or collection"
    excluded = manifest.get("excluded", [])
    if not isinstance(excluded, list) or not all(isinstance(d, str) for d in excluded):
        return "'excluded' is not a list of ids"
    try:
        Config.from_dict(manifest["settings"])
    except (TypeError, ValueError) as e:
        return f"settings are not valid ({e})"
    return None


def verify_files(index_dir: Path, manifest: dict) -> list[Path]:
    """Check every segment's data folder against the manifest: every file listed, present and
    matching; return the folders, in order."""
    return [verify_segment(index_dir, segment) for segment in manifest["segments"]]


def verify_segment(index_dir: Path, segment: dict) -> Path:
    """Check one segment's data folder: every file listed, present and matching its SHA-256."""
    data = index_dir / segment["data"]
    if not data.is_dir():
        raise IndexCorruptError(f"index folder {data} is missing: rebuild with `python -m rag build`")
    listed = set(segment["checksums"])
    on_disk = {str(p.relative_to(data)) for p in data.rglob("*") if p.is_file()}
    unlisted = sorted(on_disk - listed)
    if unlisted:
        raise IndexCorruptError(f"index file {data / unlisted[0]} is not in the manifest's checksums: "
                                "rebuild with `python -m rag build --force`")
    for rel, digest in segment["checksums"].items():
        path = data / rel
        if not path.is_file():
            raise IndexCorruptError(f"index file {path} is missing: rebuild with `python -m rag build`")
        if sha256_file(path) != digest:
            raise IndexCorruptError(
                f"index file {path} is damaged (checksum mismatch): rebuild with `python -m rag build`"
            )
    return data


def corpus_changes(manifest: dict, corpus_dir: str | Path) -> list[str]:
    """Names of corpus files added, removed or edited since the index was built."""

    recorded: dict[str, str] = manifest.get("corpus_files", {})
    current = {}
    for p in corpus_files(corpus_dir):
        if p.suffix.lower() in SUPPORTED_SUFFIXES:
            try:
                current[p.name] = sha256_file(p)
            except OSError:  # unreadable: the build skips it too
                current[p.name] = "unreadable"
    skipped = set(manifest.get("skipped_files", []))
    changed = [n for n in current if n not in skipped and recorded.get(n) != current[n]]
    changed += [n for n in recorded if n not in current]
    return sorted(changed)




def read_articles(path: Path) -> list[Article]:
    """The articles of a data folder's `articles.jsonl`."""
    return [Article.from_dict(row) for row in read_jsonl(path)]
