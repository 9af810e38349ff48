"""Layer normalisation (Ba et al. 2016) over the last dimension, for the LayerNorm cells.

``LN(v; γ, β) = γ ⊙ (v − mean(v)) / sqrt(var(v) + ε) + β`` with the biased variance, the same as
``torch.nn.functional.layer_norm``. Written out because on CPU ``F.layer_norm``'s fused kernel costs
tens of milliseconds per call on the small per-step (B, G*H) tensors of a recurrence, where these four
elementwise ops take a fraction of one.
"""

from __future__ import annotations

import torch
from torch import Tensor

LN_EPS = 1e-5


def layer_norm(v: Tensor, weight: Tensor, bias: Tensor, eps: float = LN_EPS) -> Tensor:
    """v (..., N) normalised over N, scaled by ``weight`` (N,) and shifted by ``bias`` (N,)."""
    mean = v.mean(-1, keepdim=True)
    centred = v - mean
    var = (centred * centred).mean(-1, keepdim=True)
    return centred * torch.rsqrt(var + eps) * weight + bias
