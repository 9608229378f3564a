"""Files: writing them so that a reader or a crash never sees half of one, and hashing them.

`atomic_write` writes a temporary file beside the target, flushes it to the
disk (fsync), renames it over the target (atomic on POSIX) and syncs the
folder, so the new name survives a power cut too. Every file the library
writes for later reading (manifests, added articles, the reader's metadata)
goes through it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path


def fsync_folder(folder: Path) -> None:
    """Make renames and new names in `folder` durable (no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file under `folder`, and the folders, to the disk."""
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
    for sub in [folder, *(p for p in folder.rglob("*") if p.is_dir())]:
        fsync_folder(sub)


def atomic_write(path: str | Path, data: bytes | str) -> Path:
    """Replace `path` with `data` (str is written as UTF-8) in one step; returns the path."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_folder(path.parent)
    return path


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of `data`: the one hash of corpus files, index files and model weights."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (model weights are tens of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
