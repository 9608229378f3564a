"""The index's build lock: one build or add at a time per index folder, across processes and threads.

`filelock`, one lock object per folder (`is_singleton`), so that `add_files`
can hold it across copying files and the build it runs, and the nested
acquisition in `build_index` re-enters it. Readers never take it: they
serve the previous index while a build runs (`build_running`).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from rag.errors import BuildLockedError

LOCK = ".lock"


def _lock_for(index_dir: Path):
    import filelock

    return filelock.FileLock(index_dir / LOCK, is_singleton=True)


@contextlib.contextmanager
def build_lock(index_dir: str | Path, wait: float = 0):
    """Hold the index's build lock (any process, any thread), waiting up to `wait` seconds for it."""
    import filelock

    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_for(index_dir)
    try:
        lock.acquire(timeout=wait)
    except filelock.Timeout:
        raise BuildLockedError(f"another build of {index_dir} is running; wait for it to finish") from None
    try:
        yield
    finally:
        lock.release()


def build_running(index_dir: str | Path) -> bool:
    """True while some process holds the index's build lock (readers then serve the previous index)."""
    import filelock

    lock_file = Path(index_dir) / LOCK
    if not lock_file.exists():
        return False
    probe = filelock.FileLock(lock_file, thread_local=False)  # a fresh handle: even this process's own lock shows
    try:
        probe.acquire(timeout=0)
    except filelock.Timeout:
        return True
    except OSError:
        return False
    probe.release()
    return False
