"""The UR-GRU: the refine gate and uniform gate initialisation of Gu et al. (ICML 2020, appendix)
applied to the GRU's update gate, which is the GRU's forget gate (it keeps h_{t-1}).

.. math::

    r &= \\sigma(W_r x_t + b_{ir} + U_r h_{t-1} + b_{hr}) \\\\
    f &= \\sigma(W_f x_t + b_{if} + U_f h_{t-1} + b_{hf} + b_F) \\\\
    \\rho &= \\sigma(W_\\rho x_t + b_{i\\rho} + U_\\rho h_{t-1} + b_{h\\rho} - b_F) \\\\
    g &= 2 \\rho f + (1 - 2\\rho) f^2 \\\\
    n &= \\tanh(W_n x_t + b_{in} + r \\odot (U_n h_{t-1} + b_{hn})) \\\\
    h_t &= g \\odot h_{t-1} + (1 - g) \\odot n

r is the GRU's reset gate, f its update gate (torch's z: the share of h_{t-1} kept), ρ the refine gate
and g the effective forget gate that replaces z. ``b_F`` is the UGI buffer ``forget_bias`` (H,):
logit(u), u ~ Uniform[1/H, 1 − 1/H], added to f and subtracted from ρ (see ``cells/ur_lstm.py``).

Weight rows are [reset, forget, refine, candidate] (4H rows: the GRU's [r, z, n] with the refine gate
after its update gate). ``trace()`` reports "reset", "forget", "refine", "effective_forget" and
"candidate", each (B, H).

Example::

    cell = rnnkit.URGRUCell(10, 20)
    h = torch.zeros(3, 20)
    for x_t in torch.randn(5, 3, 10):
        h = cell(x_t, h)
    (h,), gates = cell.step(x_t, h, record=True)     # gates["effective_forget"]: (3, 20)
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import CellModule, CellSpec, Gates, State
from .init import ugi_bias_
from .ur_lstm import refine


class URGRUSpec(CellSpec):
    """UR-GRU: g = 2ρf + (1−2ρ)f², h_t = g⊙h_{t-1} + (1−g)⊙n; rows [r, f, ρ, n]; UGI buffer."""

    name: ClassVar[str] = "urgru"
    gate_names: ClassVar[tuple[str, ...]] = ("reset", "forget", "refine", "effective_forget", "candidate")
    num_chunks: ClassVar[int] = 4
    kernel: ClassVar[str | None] = "urgru"

    def extra_tensors(self, hidden_size: int) -> dict[str, tuple[tuple[int, ...], bool]]:
        return {"forget_bias": ((hidden_size,), True)}

    def init_extra(self, name: str, tensor: Tensor, hidden_size: int) -> None:
        if name != "forget_bias":
            super().init_extra(name, tensor, hidden_size)
        ugi_bias_(tensor, hidden_size)

    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        h_prev = state[0]  # (B, H)
        bf = extras["forget_bias"]  # (H,)
        xr, xf, xp, xn = xg.chunk(4, dim=-1)  # 4 x (B, H)
        hr, hf, hp, hn = hg.chunk(4, dim=-1)  # 4 x (B, H)
        r = torch.sigmoid(xr + hr)
        f = torch.sigmoid(xf + hf + bf)
        p = torch.sigmoid(xp + hp - bf)
        g = refine(f, p)
        n = torch.tanh(xn + r * hn)
        h = g * h_prev + (1 - g) * n
        gates = (
            {"reset": r, "forget": f, "refine": p, "effective_forget": g, "candidate": n} if record else None
        )
        return (h,), gates


class URGRUCell(CellModule):
    """Single-step UR-GRU with ``nn.GRUCell``'s signature: returns ``h'``; buffer ``forget_bias``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(URGRUSpec(), input_size, hidden_size, bias, device=device, dtype=dtype)
