"""Greedy decoding for encoder-decoders that step with a carried state, and the shared checks of the
decoding arguments (``max_len``, ``bos``, ``eos``, a forced ``prefix``).

Shape legend: B = batch, P = longest prefix, V = target vocabulary.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._checks import check_int_range


def check_decoding(max_len: object, bos: object, eos: object, vocab_size: int) -> None:
    check_int_range("max_len", max_len, 1)
    check_int_range("bos", bos, 0, vocab_size)
    check_int_range("eos", eos, 0, vocab_size)


def prefix_tensor(
    prefix: object, batch: int, max_len: int, vocab_size: int, device: torch.device
) -> Tensor | None:
    """Per-sentence forced tokens as (B, P) long, -1 past each sentence's own prefix; None when there is
    no prefix (or every prefix is empty)."""
    if prefix is None:
        return None
    if not isinstance(prefix, list | tuple) or len(prefix) != batch:
        got = f"length {len(prefix)}" if isinstance(prefix, list | tuple) else type(prefix).__name__
        raise ValueError(f"prefix must be a list of {batch} token-id lists (one per sentence), got {got}")
    rows = [list(p) for p in prefix]
    ok = (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < vocab_size for r in rows for v in r)
    if not all(ok):
        raise ValueError(f"prefix must hold int token ids in [0, {vocab_size}), got {prefix!r:.80}")
    longest = max(len(r) for r in rows)
    if longest > max_len:
        raise ValueError(f"prefix must not be longer than max_len={max_len}, got one of {longest} tokens")
    if longest == 0:
        return None
    out = torch.full((batch, longest), -1, dtype=torch.long, device=device)
    for b, r in enumerate(rows):
        out[b, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


@torch.no_grad()
def greedy_decode(
    model: Any,
    src: Tensor,
    src_lengths: object,
    max_len: int,
    bos: int,
    eos: int,
    prefix: list[list[int]] | None = None,
) -> list[list[int]]:
    """Argmax decoding over ``model.encode`` / ``model.decode_step``, batched: one decoder step per new
    token from the carried state. Returns per sentence the ids after BOS, ending with EOS unless
    ``max_len`` came first; a ``prefix`` is forced at the first steps and included."""
    check_decoding(max_len, bos, eos, model.tgt_vocab)
    enc, state = model.encode(src, src_lengths)
    B = enc.memory.size(0)
    device = enc.memory.device
    forced = prefix_tensor(prefix, B, max_len, model.tgt_vocab, device)  # (B, P) | None
    token = torch.full((B,), bos, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    steps = []
    for t in range(max_len):
        logits, state, _ = model.decode_step(token, state, enc)  # (B, V)
        token = logits.argmax(dim=-1)  # (B,)
        if forced is not None and t < forced.size(1):
            token = torch.where(forced[:, t] >= 0, forced[:, t], token)
        token = token.masked_fill(done, eos)
        steps.append(token)
        done = done | (token == eos)
        if bool(done.all()):
            break
    rows = torch.stack(steps, dim=1).tolist()  # (B, n)
    return [row[: row.index(eos) + 1] if eos in row else row for row in rows]
