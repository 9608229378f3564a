"""The index service behind the web app: loading (or building) the index in the background, adding files.

The server starts at once; `Service.start()` loads the index and the reader
in a thread, building the index first when it is missing or stale, and
reports progress (`status`, `fraction`) for the page. Questions wait for it
(`wait`) and get an error, not an answer, while it is not ready.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import threading
import time
from pathlib import Path

from rag.answer.generate import load_generator
from rag.config import Config
from rag.errors import IndexStateError
from rag.index import add_files, build_index, remove
from rag.reader import load_reader
from rag.retrieval import Retriever

log = logging.getLogger(__name__)

REFRESH_S = 5.0  # how often (at most, on a question) the corpus folder is looked at for files edited on disk


class Service:
    """The loaded retriever (built in the background if needed) and the generator."""

    def __init__(self, index: str | Path = "index", corpus: str | Path = "seeds", model: str | None = None,
                 generator: str | None = None, answerer: str = "extractive") -> None:
        """Args:
            index, corpus: the index folder and the corpus folder it is built from.
            model: encoder for a new index (default: the Config default).
            generator: a generator spec for the generative answerer, or None.
            answerer: the answerer the page selects first ("extractive" or "generative").
        """
        self.index_dir, self.corpus_dir, self.model, self.generator_spec = index, corpus, model, generator
        self.default_answerer = answerer
        self.retriever = None
        self.generator = None
        self.status = "准备中 starting…"
        self.fraction: float | None = None  # share of the first build's embedding done, for the progress bar
        self.error: str | None = None
        self.generator_problem = "未配置生成模型（启动时加 --generator）" if not generator else ""
        self._lock = threading.Lock()
        self._settled = threading.Event()  # set once the index is loaded or has failed
        self._seen: dict[str, tuple[int, int]] = {}  # the corpus folder as the loaded index has it
        self._looked = 0.0
        self._refreshing = threading.Event()

    @property
    def ready(self) -> bool:
        return self.retriever is not None

    def start(self) -> None:
        threading.Thread(target=self._load, name="index-loader", daemon=True).start()

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the index; True when it is ready."""
        self._settled.wait(timeout)
        return self.ready

    def not_ready_message(self) -> str:
        if self.error:
            return f"问答不可用 unavailable: {self.error}"
        return f"索引尚未就绪，请稍后再问 the index is not ready yet, ask again in a moment ({self.status})"

    def _load(self) -> None:
        t0 = time.perf_counter()
        try:
            try:
                retriever = Retriever.load(self.index_dir, corpus_dir=self.corpus_dir,
                                           config=Config(model=self.model) if self.model else None)
                retriever.encoder  # an index of other weights is stale too: rebuilt below
            except IndexStateError as e:
                # expected on a first start: one line, and the build's progress on the page
                log.info("building the index of %s in %s now (%s)", self.corpus_dir, self.index_dir, _reason(e))
                self.status = "建立索引 building the index…"
                # the index's own settings (its store, chunking) unless --model asks for another model
                build_index(self.corpus_dir, self.index_dir, Config().with_(model=self.model) if self.model else None,
                            progress=sys.stderr.isatty(), notify=self._notify)
                retriever = Retriever.load(self.index_dir, corpus_dir=self.corpus_dir)
            self._seen = self._corpus_state()
            self.status = "加载阅读模型 loading the reader…"
            self.fraction = None
            _warm_up(retriever)
            release_free_memory()
            self.retriever = retriever
            self.status = _ready_status(retriever)
            log.info("ready in %.1f s", time.perf_counter() - t0)
            print(f"ready: index loaded in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        except Exception as e:  # shown on the page; the server keeps running
            self.error = str(e)
            self.status = f"⚠️ 不可用 unavailable: {e}"
            log.error("unavailable: %s", e)
        finally:
            self._settled.set()
        if self.generator_spec:
            try:
                self.generator = load_generator(self.generator_spec)
            except Exception as e:
                self.generator_problem = f"生成模型不可用：{e}"

    def add(self, paths: list[str]) -> str:
        """Add uploaded files to the corpus and the index; swap in the new index at once."""
        if not self.ready:
            return f"⏳ {self.not_ready_message()}"
        with self._lock:
            report = add_files(paths, corpus_dir=self.corpus_dir, index_dir=self.index_dir)
            if report.added:
                self.retriever = Retriever.load(self.index_dir, corpus_dir=self.corpus_dir,
                                                encoder=self.retriever.encoder)
                self.status = _ready_status(self.retriever)
                self._seen = self._corpus_state()
        return "\n".join(report.lines()) or "没有文件 no files"

    def _corpus_state(self) -> dict[str, tuple[int, int]]:
        """Name -> (size, modification time) of the corpus folder's files ({} when it cannot be read)."""
        try:
            return {p.name: (st.st_size, st.st_mtime_ns) for p in Path(self.corpus_dir).iterdir()
                    if not p.name.startswith(".") and (st := p.stat()) and p.is_file()}
        except OSError:
            return {}

    def refresh_if_changed(self) -> None:
        """Bring the index up to date with files edited, added or deleted in the corpus folder while the
        app runs (not through it): looked at most every REFRESH_S seconds (one `stat` per file), and on
        a change updated in the background (only the changed files are read: `build_index`), the new
        index swapped in when it is ready. Questions meanwhile are answered from the current index.
        """
        now = time.monotonic()
        if not self.ready or now - self._looked < REFRESH_S or self._refreshing.is_set():
            return
        self._looked = now
        state = self._corpus_state()
        if state == self._seen:
            return
        self._refreshing.set()

        def update() -> None:
            try:
                with self._lock:
                    build_index(self.corpus_dir, self.index_dir, encoder=self.retriever.encoder)
                    self.retriever = Retriever.load(self.index_dir, corpus_dir=self.corpus_dir,
                                                    encoder=self.retriever.encoder)
                    self.status = _ready_status(self.retriever)
                self._seen = state
                log.info("the corpus folder changed: index updated")
            except Exception as e:  # the current index keeps answering; the next look tries again
                log.warning("the corpus folder changed, but updating the index failed: %s", e)
            finally:
                self._refreshing.clear()

        threading.Thread(target=update, name="index-refresh", daemon=True).start()

    def files(self) -> list[str]:
        """The corpus files of the loaded index, by name ([] before it is ready)."""
        retriever = self.retriever
        return sorted(retriever.index.manifest["corpus_files"]) if retriever is not None else []

    def remove(self, names: list[str]) -> str:
        """Remove corpus files (names the index lists; anything else is refused) and swap in the new index."""
        if not self.ready:
            return f"⏳ {self.not_ready_message()}"
        known = set(self.files())
        wanted = [n for n in names if isinstance(n, str) and n in known]
        refused = [f"⚠️ 未删除 not removed: {str(n)[:80]!r} 不是资料库中的文件 is not a corpus file"
                   for n in names if not (isinstance(n, str) and n in known)]
        if not wanted:
            return "\n".join(refused) or "没有选择文件 no file selected"
        with self._lock:
            report = remove(wanted, corpus_dir=self.corpus_dir, index_dir=self.index_dir)
            self.retriever = Retriever.load(self.index_dir, corpus_dir=self.corpus_dir, encoder=self.retriever.encoder)
            self.status = _ready_status(self.retriever)
            self._seen = self._corpus_state()
        return "\n".join([*report.lines(), *refused])

    def _notify(self, message: str, fraction: float | None = None) -> None:
        self.status = f"建立索引 building the index: {message}"
        self.fraction = fraction


def _reason(error: Exception) -> str:
    """The first clause of an index error, without its advice to run a build (the app runs it)."""
    return str(error).split(": run `")[0].split(": rebuild")[0]


def _ready_status(retriever) -> str:
    return f"就绪 ready：{len(retriever.index.articles)} 篇文章 articles，{len(retriever.chunks)} 段 passages"


def release_free_memory() -> None:
    """Hand memory freed after loading and answering back to the OS (glibc keeps it otherwise).

    Reading five passages allocates ~100 MB of activations; glibc keeps freed
    heap pages, so resident memory would stay at its peak. malloc_trim is
    glibc-only: elsewhere this does nothing.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def limit_malloc_arenas() -> None:
    """One glibc heap per thread (up to 8 per core) makes a threaded server's memory grow; two are enough here."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


def _warm_up(retriever) -> None:
    """Load the query encoder and the reader now, not on the first question."""
    retriever.search("预热 warm-up", k=1)
    load_reader().read("预热？", ["预热。"])
