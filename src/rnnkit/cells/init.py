"""Initialisations that change how a recurrent network starts learning.

- :func:`forget_bias_value` / :func:`set_gate_bias_`: the forget-gate bias. torch initialises every bias
  uniform in ±1/√H, so f ≈ σ(0) = 1/2 and the memory fades by half each step at first. Jozefowicz et al.
  (2015), char-rnn and Keras' ``unit_forget_bias`` start the forget gate at b_f = 1 (f ≈ 0.73); Gu et al.
  (2020) draw b_f = logit(u), u ~ Uniform[1/H, 1 − 1/H] ("ugi") to spread timescales over the units.
- :func:`orthogonal_blocks_`: the recurrent weight U as G orthogonal blocks, one per gate (Saxe et al.
  2014; Le et al. 2015 for the plain RNN), so U_k U_kᵀ = I and repeated products neither shrink nor
  blow up a hidden state at initialisation.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

FORGET_BIAS_MODES = ("ugi",)


def check_forget_bias(value: object) -> float | str | None:
    """Validate a ``forget_bias`` option: None (torch's uniform init), a number, or ``"ugi"``."""
    if value is None or value in FORGET_BIAS_MODES:
        return value  # type: ignore[return-value]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"forget_bias must be None, a number (e.g. 1.0) or 'ugi', got {value!r}")
    return float(value)


def ugi_bias_(tensor: Tensor, hidden_size: int) -> Tensor:
    """Fill ``tensor`` (H,) in place with the uniform gate initialisation ``logit(u)``,
    u ~ Uniform[1/H, 1 − 1/H] (Gu et al. 2020). For H ≤ 2 the interval is the single point 1/2 (or
    empty: H = 0)."""
    if hidden_size <= 2:
        return tensor.fill_(0.0)  # logit(1/2)
    lo, hi = 1.0 / hidden_size, 1.0 - 1.0 / hidden_size
    u = torch.empty_like(tensor).uniform_(lo, hi)
    return tensor.copy_(torch.logit(u))


def forget_bias_value(forget_bias: float | str, hidden_size: int, like: Tensor) -> Tensor:
    """The initial forget-gate bias as an (H,) tensor: a constant, or UGI's logit(u)."""
    if forget_bias == "ugi":
        return ugi_bias_(torch.empty(hidden_size, dtype=like.dtype, device=like.device), hidden_size)
    return torch.full((hidden_size,), float(forget_bias), dtype=like.dtype, device=like.device)


@torch.no_grad()
def set_gate_bias_(params: dict[str, Tensor], block: int, value: Tensor, bias_key: str = "bias") -> None:
    """Set gate ``block``'s total bias to ``value`` (H,): the input-side row gets ``value``, the
    recurrent-side row zero, so ``b_ih + b_hh = value``.

    ``params`` holds ``bias_ih``/``bias_hh`` (``bias_key="bias"``) or a (2, G*H) ``layer_norm_bias``
    (``bias_key="layer_norm_bias"``, rows [input side, recurrent side]).
    """
    H = value.numel()
    rows = slice(block * H, (block + 1) * H)
    if bias_key == "layer_norm_bias":
        params["layer_norm_bias"][0, rows] = value
        params["layer_norm_bias"][1, rows] = 0.0
        return
    if params.get("bias_ih") is None:
        raise ValueError("forget_bias needs bias=True (there is no bias to initialise), got bias=False")
    params["bias_ih"][rows] = value
    params["bias_hh"][rows] = 0.0


@torch.no_grad()
def orthogonal_blocks_(weight: Tensor, num_chunks: int) -> Tensor:
    """Make each of the ``num_chunks`` row blocks of ``weight`` (G*H, P) a (semi-)orthogonal matrix:
    U_k U_kᵀ = I when P = H (orthonormal columns when P < H, as with ``proj_size``)."""
    if weight.size(0) % num_chunks:
        raise ValueError(f"weight must have a multiple of {num_chunks} rows, got shape {tuple(weight.shape)}")
    for block in weight.chunk(num_chunks, dim=0):
        nn.init.orthogonal_(block)
    return weight
