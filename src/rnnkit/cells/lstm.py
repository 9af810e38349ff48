"""The LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

.. math::

    f &= \\sigma(W_f x + U_f h_{t-1} + b_f) \\\\
    i &= \\sigma(W_i x + U_i h_{t-1} + b_i) \\\\
    a &= \\tanh(W_a x + U_a h_{t-1} + b_a) \\\\
    o &= \\sigma(W_o x + U_o h_{t-1} + b_o) \\\\
    c_t &= f \\odot c_{t-1} + i \\odot a \\\\
    h_t &= o \\odot \\tanh(c_t)

f forgets, i admits the candidate a, o exposes the memory cell c. Weight rows follow torch's order
[i, f, a(=g), o]; each b is ``b_ih + b_hh``. ``trace()`` reports the gates "input", "forget",
"candidate" and "output" (each (B, H)) and the cell states.

Example::

    cell = rnnkit.LSTMCell(10, 20)
    h, c = torch.zeros(3, 20), torch.zeros(3, 20)
    for x_t in torch.randn(5, 3, 10):
        h, c = cell(x_t, (h, c))
    (h, c), gates = cell.step(x_t, (h, c), record=True)   # gates["forget"]: (3, 20)
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import CellModule, CellSpec, Gates, State


class LSTMSpec(CellSpec):
    """LSTM: c_t = f⊙c_{t-1} + i⊙a, h_t = o⊙tanh(c_t); rows [i, f, a, o]."""

    name: ClassVar[str] = "lstm"
    gate_names: ClassVar[tuple[str, ...]] = ("input", "forget", "candidate", "output")
    num_chunks: ClassVar[int] = 4
    state_names: ClassVar[tuple[str, ...]] = ("h", "c")
    supports_proj: ClassVar[bool] = True
    kernel: ClassVar[str | None] = "lstm"

    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        c_prev = state[1]  # (B, H)
        i, f, a, o = (xg + hg).chunk(4, dim=-1)  # 4 x (B, H)
        i, f, a, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(a), torch.sigmoid(o)
        c = f * c_prev + i * a
        h = o * torch.tanh(c)
        gates = {"input": i, "forget": f, "candidate": a, "output": o} if record else None
        return (h, c), gates


class LSTMCell(CellModule):
    """Drop-in for ``torch.nn.LSTMCell``: returns ``(h', c')``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(LSTMSpec(), input_size, hidden_size, bias, device=device, dtype=dtype)
