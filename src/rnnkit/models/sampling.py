"""Choosing the next token from logits: temperature, top-k, nucleus (top-p), seeded without touching
the global random number generator.

Shape legend: B = batch, V = vocabulary size.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import check_int_range


@dataclass(frozen=True)
class SamplingConfig:
    """How to pick the next token.

    Attributes:
        temperature: logits are divided by it; 0 means greedy (argmax), ignoring top_k/top_p.
        top_k: keep only the k most likely tokens (None: all).
        top_p: keep the smallest set of most likely tokens whose probability sums to at least p
            (nucleus sampling; None or 1.0: all). Applied after top_k, on the temperature-scaled
            distribution.
    """

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None

    def __post_init__(self) -> None:
        t = self.temperature
        if isinstance(t, bool) or not isinstance(t, int | float):
            raise TypeError(f"temperature must be a number >= 0, got {type(t).__name__} ({t!r})")
        if not t >= 0 or t == float("inf"):
            raise ValueError(f"temperature must be a finite number >= 0 (0 = argmax), got {t}")
        if self.top_k is not None:
            check_int_range("top_k", self.top_k, 1)
        p = self.top_p
        if p is not None:
            if isinstance(p, bool) or not isinstance(p, int | float):
                raise TypeError(f"top_p must be a number in (0, 1], got {type(p).__name__} ({p!r})")
            if not 0 < p <= 1:
                raise ValueError(f"top_p must be in (0, 1], got {p}")


def make_rng(seed: int | None, device: torch.device) -> torch.Generator | None:
    """A private generator seeded with ``seed`` (None: use the global one)."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or None, got {type(seed).__name__} ({seed!r})")
    return torch.Generator(device=device).manual_seed(seed)


def filter_logits(logits: Tensor, config: SamplingConfig) -> Tensor:
    """Temperature-scaled logits (B, V) with every token outside top-k / top-p set to -inf."""
    scores = logits / config.temperature
    V = scores.size(-1)
    if config.top_k is not None and config.top_k < V:
        kth = scores.topk(config.top_k, dim=-1).values[..., -1:]  # (B, 1)
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if config.top_p is not None and config.top_p < 1:
        sorted_scores, order = scores.sort(dim=-1, descending=True)  # (B, V)
        probs = sorted_scores.softmax(dim=-1)
        before = probs.cumsum(dim=-1) - probs  # mass of the strictly more likely tokens
        drop_sorted = before >= config.top_p  # the most likely token is always kept (before = 0)
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        scores = scores.masked_fill(drop, float("-inf"))
    return scores


def sample_next(logits: Tensor, config: SamplingConfig, rng: torch.Generator | None = None) -> Tensor:
    """Next token ids (B,) from logits (B, V)."""
    if config.temperature == 0:
        return logits.argmax(dim=-1)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    probs = filter_logits(logits, config).softmax(dim=-1)  # (B, V)
    return torch.multinomial(probs, 1, generator=rng).squeeze(-1)  # (B,)
