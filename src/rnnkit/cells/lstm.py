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

Options (the defaults are exactly ``torch.nn.LSTM``: same math, parameters and init):

- ``forget_bias``: None (torch's uniform init), a number (``1.0`` as char-rnn and Keras'
  ``unit_forget_bias``: b_f = 1 so f starts near 0.73) or ``"ugi"`` (b_f = logit(u),
  u ~ U[1/H, 1 − 1/H], Gu et al. 2020). The forget rows of ``bias_ih`` get the value, those of
  ``bias_hh`` zero; both stay trainable.
- ``peephole=True`` (Gers & Schmidhuber 2000): the gates also see the cell,
  i = σ(… + p_i⊙c_{t-1}), f = σ(… + p_f⊙c_{t-1}), o = σ(… + p_o⊙c_t); the extra parameter
  ``weight_peephole`` (3, H) holds the rows [p_i, p_f, p_o]. Registered as ``"lstm_peephole"``.
- ``layer_norm=True`` (Ba et al. 2016, as haste's LayerNormLSTM): the pre-activations are
  LN(W x + b_ih; γ_x, β_x) + LN(U h + b_hh; γ_h, β_h), each normalised over its 4H features, and
  h_t = o⊙tanh(LN(c_t; γ_c, β_c)) — the carried c_t stays unnormalised. Extra parameters
  ``layer_norm_weight``/``layer_norm_bias`` (2, 4H) (rows [x side, h side]; γ = 1, β = 0 at init) and
  ``cell_norm_weight``/``cell_norm_bias`` (H,). Registered as ``"layernorm_lstm"``.

Example::

    cell = rnnkit.LSTMCell(10, 20)
    h, c = torch.zeros(3, 20), torch.zeros(3, 20)
    for x_t in torch.randn(5, 3, 10):
        h, c = cell(x_t, (h, c))
    (h, c), gates = cell.step(x_t, (h, c), record=True)   # gates["forget"]: (3, 20)
    rnnkit.LSTM(10, 20, forget_bias=1.0, peephole=True)    # options work on layers too
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import CellModule, CellSpec, Gates, State
from .init import check_forget_bias, forget_bias_value, set_gate_bias_
from .norm import layer_norm


class LSTMSpec(CellSpec):
    """LSTM: c_t = f⊙c_{t-1} + i⊙a, h_t = o⊙tanh(c_t); rows [i, f, a, o]; optional peephole/LayerNorm."""

    name: ClassVar[str] = "lstm"
    gate_names: ClassVar[tuple[str, ...]] = ("input", "forget", "candidate", "output")
    num_chunks: ClassVar[int] = 4
    state_names: ClassVar[tuple[str, ...]] = ("h", "c")
    supports_proj: ClassVar[bool] = True

    def __init__(
        self, forget_bias: float | str | None = None, peephole: bool = False, layer_norm: bool = False
    ) -> None:
        self.forget_bias = check_forget_bias(forget_bias)
        self.peephole, self.layer_norm = bool(peephole), bool(layer_norm)

    @property
    def kernel(self) -> str | None:  # type: ignore[override]
        return None if self.peephole or self.layer_norm else "lstm"

    def options(self) -> dict[str, object]:
        opts: dict[str, object] = {}
        if self.forget_bias is not None:
            opts["forget_bias"] = self.forget_bias
        if self.peephole:
            opts["peephole"] = True
        if self.layer_norm:
            opts["layer_norm"] = True
        return opts

    def extra_tensors(self, hidden_size: int) -> dict[str, tuple[tuple[int, ...], bool]]:
        H, extra = hidden_size, {}
        if self.peephole:
            extra["weight_peephole"] = ((3, H), False)
        if self.layer_norm:
            extra |= {
                "layer_norm_weight": ((2, 4 * H), False),
                "layer_norm_bias": ((2, 4 * H), False),
                "cell_norm_weight": ((H,), False),
                "cell_norm_bias": ((H,), False),
            }
        return extra

    def init_extra(self, name: str, tensor: Tensor, hidden_size: int) -> None:
        if name == "weight_peephole":
            return  # torch's uniform ±1/√H, like every other weight
        if name in ("layer_norm_weight", "cell_norm_weight"):
            tensor.fill_(1.0)
        elif name in ("layer_norm_bias", "cell_norm_bias"):
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
        c_prev = state[1]  # (B, H)
        if self.layer_norm:
            w, b = extras["layer_norm_weight"], extras["layer_norm_bias"]  # (2, 4H) each
            pre = layer_norm(xg, w[0], b[0]) + layer_norm(hg, w[1], b[1])
        else:
            pre = xg + hg  # (B, 4H)
        i, f, a, o = pre.chunk(4, dim=-1)  # 4 x (B, H)
        if self.peephole:
            p = extras["weight_peephole"]  # (3, H): [p_i, p_f, p_o]
            i, f = i + p[0] * c_prev, f + p[1] * c_prev
        i, f, a = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(a)
        c = f * c_prev + i * a
        if self.peephole:
            o = o + extras["weight_peephole"][2] * c
        o = torch.sigmoid(o)
        c_out = layer_norm(c, extras["cell_norm_weight"], extras["cell_norm_bias"]) if self.layer_norm else c
        h = o * torch.tanh(c_out)  # the carried c_t stays unnormalised
        gates = {"input": i, "forget": f, "candidate": a, "output": o} if record else None
        return (h, c), gates


class LSTMCell(CellModule):
    """Drop-in for ``torch.nn.LSTMCell``: returns ``(h', c')``; keyword options as :class:`LSTMSpec`."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device=None,
        dtype=None,
        *,
        forget_bias: float | str | None = None,
        peephole: bool = False,
        layer_norm: bool = False,
    ) -> None:
        spec = LSTMSpec(forget_bias=forget_bias, peephole=peephole, layer_norm=layer_norm)
        super().__init__(spec, input_size, hidden_size, bias, device=device, dtype=dtype)
