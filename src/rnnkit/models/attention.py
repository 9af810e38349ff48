"""Attention over an encoder's outputs for the encoder-decoder (:class:`rnnkit.models.Seq2Seq`).

Both modules score every source position s for a decoder query q, mask padded source positions, and
return the context vector and the weights:

    a_s = softmax_s(score(q, m_s))   over valid s only;   c = Σ_s a_s m_s

- Luong et al. 2015 (multiplicative): score(q, m) = qᵀ W_a m ("general") or qᵀ m ("dot").
- Bahdanau et al. 2015 (additive):    score(q, m) = vᵀ tanh(W_q q + W_k m).

``keys(memory)`` precomputes the query-independent part once per source sentence (W_a m, or W_k m), so
each decoder step costs one small product.

Shape legend: B = batch, S = source steps, Tq = query steps (1 when stepping), Q = query size,
M = memory (encoder output) size, A = attention size.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_choice, check_positive_int


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """softmax over the last dim (S) of scores (B, Tq, S), with positions where mask (B, S) is False
    given zero weight."""
    if mask is not None:
        scores = scores.masked_fill(~mask.unsqueeze(1), float("-inf"))
    return scores.softmax(dim=-1)


class _Attention(nn.Module):
    def keys(self, memory: Tensor) -> Tensor:
        raise NotImplementedError

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        raise NotImplementedError

    def forward(
        self, query: Tensor, keys: Tensor, memory: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Context and weights for a query (B, Q) or (B, Tq, Q).

        Args:
            keys: ``self.keys(memory)``, (B, S, ·).
            memory: encoder outputs (B, S, M).
            mask: (B, S) bool, True at valid source positions; None when all are valid.
        Returns:
            context (B, M) or (B, Tq, M), weights (B, S) or (B, Tq, S).
        """
        single = query.dim() == 2
        q = query.unsqueeze(1) if single else query  # (B, Tq, Q)
        weights = masked_softmax(self.scores(q, keys), mask)  # (B, Tq, S)
        context = torch.bmm(weights, memory)  # (B, Tq, M)
        return (context.squeeze(1), weights.squeeze(1)) if single else (context, weights)


class LuongAttention(_Attention):
    """Multiplicative attention: score(q, m) = qᵀ W_a m ("general") or qᵀ m ("dot", needs Q == M).

    Example::

        attn = LuongAttention(query_size=64, memory_size=128)
        keys = attn.keys(enc_out)                               # (B, S, 64), once per source
        context, weights = attn(dec_h, keys, enc_out, src_mask)  # (B, 128), (B, S)
    """

    def __init__(self, query_size: int, memory_size: int, score: str = "general") -> None:
        super().__init__()
        self.query_size = check_positive_int("query_size", query_size)
        self.memory_size = check_positive_int("memory_size", memory_size)
        self.score = check_choice("luong_score", score, ("general", "dot"))
        if score == "dot" and query_size != memory_size:
            raise ValueError(
                f"luong_score='dot' needs query_size == memory_size, got {query_size} and {memory_size} "
                "(use 'general', which learns W_a)"
            )
        self.w_a = nn.Linear(memory_size, query_size, bias=False) if score == "general" else None

    def keys(self, memory: Tensor) -> Tensor:
        return memory if self.w_a is None else self.w_a(memory)  # (B, S, Q)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))  # (B, Tq, S)

    def extra_repr(self) -> str:
        return f"{self.query_size}, {self.memory_size}, score={self.score!r}"


class BahdanauAttention(_Attention):
    """Additive attention: score(q, m) = vᵀ tanh(W_q q + W_k m).

    Example::

        attn = BahdanauAttention(query_size=64, memory_size=128)
        context, weights = attn(prev_h, attn.keys(enc_out), enc_out, src_mask)
    """

    def __init__(self, query_size: int, memory_size: int, attention_size: int | None = None) -> None:
        super().__init__()
        self.query_size = check_positive_int("query_size", query_size)
        self.memory_size = check_positive_int("memory_size", memory_size)
        A = check_positive_int("attention_size", attention_size if attention_size is not None else query_size)
        self.w_q = nn.Linear(query_size, A, bias=False)
        self.w_k = nn.Linear(memory_size, A)
        self.v = nn.Linear(A, 1, bias=False)

    def keys(self, memory: Tensor) -> Tensor:
        return self.w_k(memory)  # (B, S, A)

    def scores(self, query: Tensor, keys: Tensor) -> Tensor:
        e = torch.tanh(self.w_q(query).unsqueeze(2) + keys.unsqueeze(1))  # (B, Tq, S, A)
        return self.v(e).squeeze(-1)  # (B, Tq, S)
