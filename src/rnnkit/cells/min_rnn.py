"""minGRU and minLSTM (Feng et al. 2024, "Were RNNs All We Needed?"): gates that read only x_t, so the
recurrence is LINEAR in h and a whole sequence is one parallel scan.

.. math::

    \\text{minGRU:}\\quad z_t &= \\sigma(W_z x_t + b_z), \\quad \\tilde h_t = g(W_h x_t + b_h) \\\\
    h_t &= (1 - z_t) \\odot h_{t-1} + z_t \\odot \\tilde h_t \\\\[4pt]
    \\text{minLSTM:}\\quad f_t &= \\sigma(W_f x_t + b_f), \\quad i_t = \\sigma(W_i x_t + b_i),
        \\quad \\tilde h_t = g(W_h x_t + b_h) \\\\
    f'_t &= f_t / (f_t + i_t), \\quad i'_t = i_t / (f_t + i_t) \\\\
    h_t &= f'_t \\odot h_{t-1} + i'_t \\odot \\tilde h_t

with g(v) = v + 1/2 for v ≥ 0 and σ(v) otherwise (positive, so the scan can run in log space; the
paper's "log-space" variant). Both are h_t = a_t⊙h_{t-1} + b_t with a_t ∈ (0, 1), b_t > 0:

    h_t = A_t⊙h_0 + exp(log A_t + logcumsumexp_s≤t(log b_s − log A_s)),   log A_t = Σ_{s≤t} log a_s

computed over the whole sequence at once (:func:`log_linear_scan`); the h_0 term is kept apart so any
initial state (also negative or zero) is exact. The sequential step (:meth:`MinRNNSpec.step`) computes
the same numbers one step at a time, for generation.

No recurrent weight: the cells have ``weight_ih`` (G*H, I) and ``bias_ih`` (G*H,) only, rows
[z, h̃] (minGRU) or [f, i, h̃] (minLSTM). ``trace()`` reports "update" and "candidate" (minGRU) or
"forget" (f'), "input" (i') and "candidate" (minLSTM), each (B, H).

Example::

    cell = rnnkit.cells.MinGRUCell(10, 20)
    h = torch.zeros(3, 20)
    for x_t in torch.randn(5, 3, 10):
        h = cell(x_t, h)                               # sequential, for generation
    layer = rnnkit.MinGRU(10, 20, batch_first=True)
    out, h_n = layer(torch.randn(3, 500, 10))          # one parallel scan over 500 steps
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_float_tensor, check_same_dtype, check_shape, check_size
from .._pickle import PlainPickleMixin
from .base import CellSpec, Gates, State


def g(v: Tensor) -> Tensor:
    """g(v) = v + 1/2 for v ≥ 0, σ(v) otherwise: continuous, increasing, positive."""
    return torch.where(v >= 0, F.relu(v) + 0.5, torch.sigmoid(v))


def log_g(v: Tensor) -> Tensor:
    """log g(v), computed without forming g(v) for very negative v."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def log_linear_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All h_t of h_t = a_t⊙h_{t-1} + b_t (a_t, b_t > 0) from log a, log b (T, B, H) and h0 (B, H)."""
    log_A = torch.cumsum(log_a, dim=0)  # (T, B, H): log Π_{s≤t} a_s
    log_hb = log_A + torch.logcumsumexp(log_b - log_A, dim=0)  # (T, B, H): log Σ_{s≤t} (A_t/A_s) b_s
    return torch.exp(log_hb) + torch.exp(log_A) * h0  # (T, B, H)


class MinRNNSpec(CellSpec):
    """A cell whose gates read only x_t: h_t = a(x_t)⊙h_{t-1} + b(x_t). Subclasses give log a, log b."""

    state_names: ClassVar[tuple[str, ...]] = ("h",)
    kernel: ClassVar[str | None] = None
    #: runs as one parallel scan over time (``scan/parallel.py``), not through the recurrent runner
    parallel: ClassVar[bool] = True

    def coefficients(self, xg: Tensor) -> tuple[Tensor, Tensor]:
        """xg = W x + b (..., G*H) -> (log a, log b), each (..., H)."""
        raise NotImplementedError

    def gates(self, xg: Tensor) -> Gates:
        """The gates by name, each (..., H), for ``trace()``."""
        raise NotImplementedError

    def step(self, xg: Tensor, h_prev: Tensor) -> Tensor:
        """One sequential step: h_t = a⊙h_{t-1} + b, each (B, H)."""
        log_a, log_b = self.coefficients(xg)
        return torch.exp(log_a) * h_prev + torch.exp(log_b)

    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        """The CellSpec protocol; ``hg`` is unused (there is no recurrent weight)."""
        return (self.step(xg, state[0]),), (self.gates(xg) if record else None)


class MinGRUSpec(MinRNNSpec):
    """minGRU: h_t = (1 − z_t)⊙h_{t-1} + z_t⊙g(h̃_t), z_t = σ(W_z x_t + b_z); rows [z, h̃]."""

    name: ClassVar[str] = "mingru"
    gate_names: ClassVar[tuple[str, ...]] = ("update", "candidate")
    num_chunks: ClassVar[int] = 2

    def coefficients(self, xg: Tensor) -> tuple[Tensor, Tensor]:
        k, v = xg.chunk(2, dim=-1)  # 2 x (..., H)
        return -F.softplus(k), -F.softplus(-k) + log_g(v)  # log(1 − z), log z + log g(h̃)

    def gates(self, xg: Tensor) -> Gates:
        k, v = xg.chunk(2, dim=-1)
        return {"update": torch.sigmoid(k), "candidate": g(v)}


class MinLSTMSpec(MinRNNSpec):
    """minLSTM: h_t = f'⊙h_{t-1} + i'⊙g(h̃_t) with f' = f/(f+i), i' = i/(f+i); rows [f, i, h̃]."""

    name: ClassVar[str] = "minlstm"
    gate_names: ClassVar[tuple[str, ...]] = ("forget", "input", "candidate")
    num_chunks: ClassVar[int] = 3

    @staticmethod
    def _log_ratio(kf: Tensor, ki: Tensor) -> Tensor:
        return F.softplus(-kf) - F.softplus(-ki)  # log(i/f) = log σ(k_i) − log σ(k_f)

    def coefficients(self, xg: Tensor) -> tuple[Tensor, Tensor]:
        kf, ki, v = xg.chunk(3, dim=-1)  # 3 x (..., H)
        d = self._log_ratio(kf, ki)
        return -F.softplus(d), -F.softplus(-d) + log_g(v)  # log f', log i' + log g(h̃)

    def gates(self, xg: Tensor) -> Gates:
        kf, ki, v = xg.chunk(3, dim=-1)
        f = torch.sigmoid(-self._log_ratio(kf, ki))  # f' = 1 / (1 + i/f)
        return {"forget": f, "input": 1 - f, "candidate": g(v)}


class MinRNNCell(PlainPickleMixin, nn.Module):
    """A single-step min-RNN cell: ``weight_ih`` (G*H, I), ``bias_ih`` (G*H,), uniform ±1/√H; no
    recurrent weight. ``cell(x, h)`` returns h'; ``cell.step(x, h, record=True)`` also the gates."""

    spec: MinRNNSpec

    def __init__(
        self, spec: MinRNNSpec, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ) -> None:
        super().__init__()
        self.spec = spec
        self.input_size = check_size("input_size", input_size)  # 0 allowed, as in torch.nn.RNNCell
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.bias = bool(bias)
        kw = {"device": device, "dtype": dtype}
        rows = spec.num_chunks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **kw))
        self.bias_ih = nn.Parameter(torch.empty(rows, **kw)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for p in self.parameters():
            nn.init.uniform_(p, -stdv, stdv)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")

    def _prepare(self, input: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor, bool]:
        check_float_tensor("input", input)
        if input.dim() not in (1, 2) or input.size(-1) != self.input_size:
            raise ValueError(
                f"input must be (batch, {self.input_size}) or unbatched ({self.input_size},), "
                f"got shape {tuple(input.shape)}"
            )
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)  # (B, I)
        if hx is None:
            return x, x.new_zeros(x.size(0), self.hidden_size), batched
        check_float_tensor("hx", hx)
        check_shape("hx", hx, (x.size(0), self.hidden_size) if batched else (self.hidden_size,))
        check_same_dtype("hx", hx, input)
        return x, hx if batched else hx.unsqueeze(0), batched

    def step(
        self, input: Tensor, hx: Tensor | None = None, record: bool = False
    ) -> tuple[State, Gates | None]:
        x, h, batched = self._prepare(input, hx)
        xg = F.linear(x, self.weight_ih, self.bias_ih)  # (B, G*H)
        (h,), gates = self.spec.pointwise(xg, xg, (h,), {}, record)
        if not batched:
            h, gates = h.squeeze(0), None if gates is None else {k: v.squeeze(0) for k, v in gates.items()}
        return (h,), gates

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self.step(input, hx)[0][0]


class MinGRUCell(MinRNNCell):
    """Single-step minGRU: ``h' = (1 − z)⊙h + z⊙g(h̃)``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(MinGRUSpec(), input_size, hidden_size, bias, device=device, dtype=dtype)


class MinLSTMCell(MinRNNCell):
    """Single-step minLSTM: ``h' = f'⊙h + i'⊙g(h̃)``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(MinLSTMSpec(), input_size, hidden_size, bias, device=device, dtype=dtype)
