"""The UR-LSTM: an LSTM with a refine gate and uniform gate initialisation (Gu et al., "Improving the
Gating Mechanism of Recurrent Neural Networks", ICML 2020).

.. math::

    [\\hat f, \\hat r, \\hat u, \\hat o] &= W x_t + U h_{t-1} + b \\\\
    f &= \\sigma(\\hat f + b_f), \\qquad r = \\sigma(\\hat r - b_f) \\\\
    g &= 2 r f + (1 - 2r) f^2 \\;=\\; r\\,(1 - (1 - f)^2) + (1 - r)\\, f^2 \\\\
    c_t &= g \\odot c_{t-1} + (1 - g) \\odot \\tanh(\\hat u) \\\\
    h_t &= \\sigma(\\hat o) \\odot \\tanh(c_t)

f is the forget gate, r the refine gate that pushes the effective forget gate g towards 0 or 1
(g ∈ (f², 1 − (1 − f)²), so g can saturate without f saturating: gradients still flow), and the input
gate is tied to 1 − g. ``b_f`` (the buffer ``forget_bias``, shape (H,), one per layer and direction) is
the uniform gate initialisation (UGI): ``b_f = logit(u)``, u ~ Uniform[1/H, 1 − 1/H], which spreads the
initial forget gates — and so the memory timescales −1/ln f — over the units instead of starting them
all near 1/2. It is a buffer, not a parameter: the learnt forget/refine biases (``bias_ih`` + ``bias_hh``)
add to it.

Weight rows are [forget, refine, candidate, output] (4H rows, torch's parameter names). ``trace()``
reports the gates "forget", "refine", "effective_forget", "candidate" (tanh(û)) and "output", each
(B, H), and the cell states.

Example::

    cell = rnnkit.URLSTMCell(10, 20)
    h, c = torch.zeros(3, 20), torch.zeros(3, 20)
    for x_t in torch.randn(5, 3, 10):
        h, c = cell(x_t, (h, c))
    (h, c), gates = cell.step(x_t, (h, c), record=True)   # gates["effective_forget"]: (3, 20)
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import CellModule, CellSpec, Gates, State
from .init import ugi_bias_


def refine(f: Tensor, r: Tensor) -> Tensor:
    """The effective gate g = 2 r f + (1 − 2r) f² of a gate f refined by r (same shape)."""
    return 2 * r * f + (1 - 2 * r) * f * f


class URLSTMSpec(CellSpec):
    """UR-LSTM: g = 2rf + (1−2r)f², c_t = g⊙c_{t-1} + (1−g)⊙tanh(û); rows [f, r, u, o]; UGI buffer."""

    name: ClassVar[str] = "urlstm"
    gate_names: ClassVar[tuple[str, ...]] = ("forget", "refine", "effective_forget", "candidate", "output")
    num_chunks: ClassVar[int] = 4
    state_names: ClassVar[tuple[str, ...]] = ("h", "c")
    supports_proj: ClassVar[bool] = True
    kernel: ClassVar[str | None] = "urlstm"

    def extra_tensors(self, hidden_size: int) -> dict[str, tuple[tuple[int, ...], bool]]:
        return {"forget_bias": ((hidden_size,), True)}

    def init_extra(self, name: str, tensor: Tensor, hidden_size: int) -> None:
        if name != "forget_bias":
            super().init_extra(name, tensor, hidden_size)
        ugi_bias_(tensor, hidden_size)

    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        c_prev = state[1]  # (B, H)
        bf = extras["forget_bias"]  # (H,)
        f, r, u, o = (xg + hg).chunk(4, dim=-1)  # 4 x (B, H)
        f = torch.sigmoid(f + bf)
        r = torch.sigmoid(r - bf)
        g = refine(f, r)
        a = torch.tanh(u)
        o = torch.sigmoid(o)
        c = g * c_prev + (1 - g) * a
        h = o * torch.tanh(c)
        gates = (
            {"forget": f, "refine": r, "effective_forget": g, "candidate": a, "output": o} if record else None
        )
        return (h, c), gates


class URLSTMCell(CellModule):
    """Single-step UR-LSTM with ``nn.LSTMCell``'s signature: returns ``(h', c')``; buffer ``forget_bias``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(URLSTMSpec(), input_size, hidden_size, bias, device=device, dtype=dtype)
