"""Beam search for encoder-decoders that step with a carried state.

Length normalisation is GNMT's (Wu et al. 2016): hypotheses are ranked by

    score(Y) = log P(Y | X) / lp(Y),    lp(Y) = ((5 + |Y|) / 6) ** α

with |Y| the number of generated tokens (EOS included). α = 0 ranks by the raw log-probability (which
favours short outputs); α ≈ 0.6–1 removes most of that bias. Beam size 1 with ``early_stopping``
reproduces greedy decoding exactly.

Shape legend: B = batch, K = beam size, V = target vocabulary, L = layers, H = hidden size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._checks import check_int_range
from ._common import map_state


@dataclass(frozen=True)
class Hypothesis:
    """One decoded output.

    Attributes:
        tokens: generated ids (BOS excluded); ends with EOS when ``finished``.
        log_prob: sum of the log-probabilities of ``tokens``.
        score: ``log_prob / lp(len(tokens))``, what hypotheses are ranked by.
        finished: False when ``max_len`` was reached before EOS.
    """

    tokens: list[int]
    log_prob: float
    score: float
    finished: bool


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """lp(Y) = ((5 + |Y|) / 6) ** α."""
    return ((5.0 + length) / 6.0) ** alpha


@torch.no_grad()
def beam_search(
    model: Any,
    src: Tensor,
    src_lengths: object,
    beam_size: int,
    max_len: int,
    bos: int,
    eos: int,
    length_penalty: float = 0.6,
    n_best: int | None = None,
    early_stopping: bool = True,
    prefix: Tensor | None = None,
) -> list[list[Hypothesis]]:
    """Batched beam search over ``model.encode`` / ``model.decode_step`` (see :class:`Seq2Seq`).

    Each step extends every live hypothesis by every token, keeps for each sentence the best 2K
    candidates in order: a candidate ending in EOS becomes a finished hypothesis, the others fill the
    K live slots. A sentence stops when it has K finished hypotheses (``early_stopping=True``, the
    usual choice) or, with ``early_stopping=False``, when no live hypothesis can still beat the K-th
    best finished one under the length penalty. At ``max_len`` live hypotheses are returned unfinished.

    Args:
        beam_size: K.
        length_penalty: α of the GNMT length penalty (0 = raw log-probability).
        n_best: how many hypotheses to return per sentence (default K, at most K).
        prefix: (B, P) long, tokens forced at the first steps of each sentence (-1 = not forced from
            there on): the output must start with them (autocompletion of what was typed so far).
            They count in the hypotheses' tokens, log-probabilities and lengths.
    Returns:
        per sentence, up to ``n_best`` hypotheses, best score first.
    """
    K = check_int_range("beam_size", beam_size, 1)
    n_best = K if n_best is None else check_int_range("n_best", n_best, 1, K + 1)
    alpha = length_penalty
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not math.isfinite(alpha):
        raise ValueError(f"length_penalty must be a finite number (GNMT alpha), got {alpha!r}")
    lp = lambda n: gnmt_length_penalty(n, alpha)  # noqa: E731

    enc, state = model.encode(src, src_lengths)
    B = enc.memory.size(0)
    device = enc.memory.device
    expand = torch.arange(B, device=device).repeat_interleave(K)  # (B*K,)
    enc = enc.index_select(expand)
    state = map_state(lambda s: s.index_select(1, expand), state)  # each (L, B*K, H)
    tokens = torch.full((B * K,), bos, dtype=torch.long, device=device)
    scores = torch.full((B, K), float("-inf"), dtype=torch.float64, device=device)
    scores[:, 0] = 0.0  # all K slots start identical: keep only one alive
    seqs = torch.empty(B * K, 0, dtype=torch.long, device=device)
    finished: list[list[Hypothesis]] = [[] for _ in range(B)]
    done = [False] * B

    for t in range(max_len):
        logits, state, _ = model.decode_step(tokens, state, enc)  # (B*K, V)
        logp = logits.double().log_softmax(dim=-1)
        V = logp.size(-1)
        if prefix is not None and t < prefix.size(1):
            logp = _force(logp, prefix[:, t].repeat_interleave(K))
        total = (scores.view(-1, 1) + logp).view(B, K * V)
        n_cand = min(2 * K, K * V)
        top_s, top_i = total.topk(n_cand, dim=-1)  # (B, 2K)
        cand_s, cand_k, cand_v = top_s.tolist(), (top_i // V).tolist(), (top_i % V).tolist()
        new_scores = torch.full((B, K), float("-inf"), dtype=torch.float64)
        new_origin = torch.zeros(B, K, dtype=torch.long)
        new_tokens = torch.full((B, K), eos, dtype=torch.long)
        for b in range(B):
            if done[b]:
                continue
            alive = 0
            for s, k, v in zip(cand_s[b], cand_k[b], cand_v[b], strict=True):
                if s == float("-inf"):
                    break
                if v == eos:
                    seq = [*seqs[b * K + k].tolist(), eos]
                    finished[b].append(Hypothesis(seq, s, s / lp(len(seq)), True))
                else:
                    new_scores[b, alive], new_origin[b, alive], new_tokens[b, alive] = s, k, v
                    alive += 1
                    if alive == K:
                        break
            done[b] = alive == 0 or _finished_enough(
                finished[b], new_scores[b], K, t + 1, max_len, lp, early_stopping
            )
        if all(done):
            break
        flat = (torch.arange(B).unsqueeze(1) * K + new_origin).view(-1).to(device)  # (B*K,)
        new_tokens = new_tokens.to(device)
        seqs = torch.cat([seqs.index_select(0, flat), new_tokens.view(-1, 1)], dim=1)
        state = map_state(lambda s, idx=flat: s.index_select(1, idx), state)
        tokens = new_tokens.view(-1)
        scores = new_scores.to(device)
        for b in range(B):
            if done[b]:
                scores[b] = float("-inf")

    for b in range(B):
        if not done[b]:
            for k in range(K):
                s = float(scores[b, k])
                if s > float("-inf"):
                    seq = seqs[b * K + k].tolist()
                    finished[b].append(Hypothesis(seq, s, s / lp(len(seq)), False))
    return [sorted(hyps, key=lambda h: h.score, reverse=True)[:n_best] for hyps in finished]


def _force(logp: Tensor, forced: Tensor) -> Tensor:
    """Keep only the forced token's log-prob in rows (B*K, V) where ``forced`` (B*K,) is >= 0."""
    rows = forced >= 0
    if not bool(rows.any()):
        return logp
    keep = logp.gather(1, forced.clamp(min=0).unsqueeze(1))  # (B*K, 1)
    only = torch.full_like(logp, float("-inf")).scatter(1, forced.clamp(min=0).unsqueeze(1), keep)
    return torch.where(rows.unsqueeze(1), only, logp)


def _finished_enough(
    finished: list[Hypothesis],
    alive_scores: Tensor,
    K: int,
    length: int,
    max_len: int,
    lp,
    early_stopping: bool,
) -> bool:
    """Whether a sentence can stop: K finished, and (without early stopping) no live hypothesis can
    still overtake the K-th best finished one."""
    if len(finished) < K:
        return False
    if early_stopping:
        return True
    kth = sorted(h.score for h in finished)[-K]
    best = float(alive_scores.max())  # log-probs only fall as a hypothesis grows
    if best == float("-inf"):
        return True
    # the best normalised score a live hypothesis could still reach, over its possible final lengths
    reachable = max(best / lp(n) for n in (length + 1, max_len)) if length < max_len else best / lp(length)
    return reachable <= kth
