"""The GRU cell (Cho et al. 2014), in torch's convention.

.. math::

    r &= \\sigma(W_r x + b_{ir} + U_r h_{t-1} + b_{hr}) \\\\
    z &= \\sigma(W_z x + b_{iz} + U_z h_{t-1} + b_{hz}) \\\\
    n &= \\tanh(W_n x + b_{in} + r \\odot (U_n h_{t-1} + b_{hn})) \\\\
    h_t &= (1 - z) \\odot n + z \\odot h_{t-1}

r resets how much of the past enters the candidate n; z chooses between keeping h_{t-1} and taking n.
Weight rows follow torch's order [r, z, n]. ``trace()`` reports the gates "reset", "update" and
"candidate" (each (B, H)).

Options (the defaults are exactly ``torch.nn.GRU``: same math, parameters and init):

- ``forget_bias``: the initial bias of the update gate z, the GRU's forget gate (it keeps h_{t-1}):
  None (torch's uniform init), a number (``1.0``: z starts near 0.73) or ``"ugi"`` (logit(u),
  u ~ U[1/H, 1 − 1/H]). The z rows of ``bias_ih`` get the value, those of ``bias_hh`` zero.
- ``layer_norm=True`` (Ba et al. 2016, as haste's LayerNormGRU): the GRU runs on
  x̂ = LN(W x + b_ih; γ_x, β_x) and ĥ = LN(U h + b_hh; γ_h, β_h), each normalised over its 3H
  features, in place of W x + b_ih and U h + b_hh (so r still gates the normalised ĥ_n). Extra
  parameters ``layer_norm_weight``/``layer_norm_bias`` (2, 3H), rows [x side, h side], γ = 1 and
  β = 0 at init. Registered as ``"layernorm_gru"``.

Example::

    cell = rnnkit.GRUCell(10, 20)
    h = torch.zeros(3, 20)
    for x_t in torch.randn(5, 3, 10):
        h = cell(x_t, h)
    (h,), gates = cell.step(x_t, h, record=True)    # gates["update"]: (3, 20)
    rnnkit.GRU(10, 20, forget_bias=1.0, layer_norm=True)   # options work on layers too
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import CellModule, CellSpec, Gates, State
from .init import check_forget_bias, forget_bias_value, set_gate_bias_
from .norm import layer_norm


class GRUSpec(CellSpec):
    """GRU: n = tanh(W_n x + b_in + r⊙(U_n h + b_hn)), h_t = (1−z)⊙n + z⊙h_{t-1}; rows [r, z, n]."""

    name: ClassVar[str] = "gru"
    gate_names: ClassVar[tuple[str, ...]] = ("reset", "update", "candidate")
    num_chunks: ClassVar[int] = 3

    def __init__(self, forget_bias: float | str | None = None, layer_norm: bool = False) -> None:
        self.forget_bias = check_forget_bias(forget_bias)
        self.layer_norm = bool(layer_norm)

    @property
    def kernel(self) -> str | None:  # type: ignore[override]
        return None if self.layer_norm else "gru"

    def options(self) -> dict[str, object]:
        opts: dict[str, object] = {}
        if self.forget_bias is not None:
            opts["forget_bias"] = self.forget_bias
        if self.layer_norm:
            opts["layer_norm"] = True
        return opts

    def extra_tensors(self, hidden_size: int) -> dict[str, tuple[tuple[int, ...], bool]]:
        if not self.layer_norm:
            return {}
        shape = (2, 3 * hidden_size)
        return {"layer_norm_weight": (shape, False), "layer_norm_bias": (shape, False)}

    def init_extra(self, name: str, tensor: Tensor, hidden_size: int) -> None:
        if name == "layer_norm_weight":
            tensor.fill_(1.0)
        elif name == "layer_norm_bias":
            tensor.zero_()
        else:
            super().init_extra(name, tensor, hidden_size)

    def init_parameters(self, params: dict[str, Tensor], hidden_size: int) -> None:
        if self.forget_bias is None:
            return
        value = forget_bias_value(self.forget_bias, hidden_size, params["weight_hh"])
        set_gate_bias_(params, 1, value, "layer_norm_bias" if self.layer_norm else "bias")

    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        h_prev = state[0]  # (B, H)
        if self.layer_norm:
            w, b = extras["layer_norm_weight"], extras["layer_norm_bias"]  # (2, 3H) each
            xg, hg = layer_norm(xg, w[0], b[0]), layer_norm(hg, w[1], b[1])
        xr, xz, xn = xg.chunk(3, dim=-1)  # 3 x (B, H)
        hr, hz, hn = hg.chunk(3, dim=-1)  # 3 x (B, H)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h_prev
        gates = {"reset": r, "update": z, "candidate": n} if record else None
        return (h,), gates


class GRUCell(CellModule):
    """Drop-in for ``torch.nn.GRUCell``: returns ``h'``; keyword options as :class:`GRUSpec`."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        forget_bias: float | str | None = None,
        layer_norm: bool = False,
    ) -> None:
        spec = GRUSpec(forget_bias=forget_bias, layer_norm=layer_norm)
        super().__init__(spec, input_size, hidden_size, bias, device=device, dtype=dtype)
