"""The GRU cell (Cho et al. 2014), in torch's convention.

.. math::

    r &= \\sigma(W_r x + b_{ir} + U_r h_{t-1} + b_{hr}) \\\\
    z &= \\sigma(W_z x + b_{iz} + U_z h_{t-1} + b_{hz}) \\\\
    n &= \\tanh(W_n x + b_{in} + r \\odot (U_n h_{t-1} + b_{hn})) \\\\
    h_t &= (1 - z) \\odot n + z \\odot h_{t-1}

r resets how much of the past enters the candidate n; z chooses between keeping h_{t-1} and taking n.
Weight rows follow torch's order [r, z, n]. ``trace()`` reports the gates "reset", "update" and
"candidate" (each (B, H)).

Example::

    cell = rnnkit.GRUCell(10, 20)
    h = torch.zeros(3, 20)
    for x_t in torch.randn(5, 3, 10):
        h = cell(x_t, h)
    (h,), gates = cell.step(x_t, h, record=True)    # gates["update"]: (3, 20)
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import CellModule, CellSpec, Gates, State


class GRUSpec(CellSpec):
    """GRU: n = tanh(W_n x + b_in + r⊙(U_n h + b_hn)), h_t = (1−z)⊙n + z⊙h_{t-1}; rows [r, z, n]."""

    name: ClassVar[str] = "gru"
    gate_names: ClassVar[tuple[str, ...]] = ("reset", "update", "candidate")
    num_chunks: ClassVar[int] = 3
    kernel: ClassVar[str | None] = "gru"

    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        h_prev = state[0]  # (B, H)
        xr, xz, xn = xg.chunk(3, dim=-1)  # 3 x (B, H)
        hr, hz, hn = hg.chunk(3, dim=-1)  # 3 x (B, H)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h_prev
        gates = {"reset": r, "update": z, "candidate": n} if record else None
        return (h,), gates


class GRUCell(CellModule):
    """Drop-in for ``torch.nn.GRUCell``: returns ``h'``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(GRUSpec(), input_size, hidden_size, bias, device=device, dtype=dtype)
