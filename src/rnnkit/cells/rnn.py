"""The Elman RNN cell.

.. math::

    h_t = \\phi(W x_t + b_{ih} + U h_{t-1} + b_{hh}), \\qquad \\phi \\in \\{\\tanh, \\mathrm{relu}\\}

``x_t`` is the input at step t, ``h_{t-1}`` the previous hidden state, ``W``/``U`` the input and
recurrent weights (torch's ``weight_ih``/``weight_hh``, one row block). ``trace()`` reports one "gate",
``"preactivation"`` = W x_t + U h_{t-1} + b: its magnitude shows how saturated the nonlinearity is.

Example::

    cell = rnnkit.RNNCell(10, 20, nonlinearity="tanh")
    h = torch.zeros(3, 20)
    for x_t in torch.randn(5, 3, 10):
        h = cell(x_t, h)                      # (3, 20)
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .base import CellModule, CellSpec, Gates, State

NONLINEARITIES = ("tanh", "relu")


class RNNSpec(CellSpec):
    """Elman RNN: h_t = φ(W x_t + b_ih + U h_{t-1} + b_hh), φ = tanh or relu."""

    name: ClassVar[str] = "rnn"
    gate_names: ClassVar[tuple[str, ...]] = ("preactivation",)
    num_chunks: ClassVar[int] = 1

    def __init__(self, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    @property
    def kernel(self) -> str:  # type: ignore[override]
        return f"rnn_{self.nonlinearity}"

    def options(self) -> dict[str, object]:
        return {"nonlinearity": self.nonlinearity}

    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        pre = xg + hg  # (B, H)
        h = torch.tanh(pre) if self.nonlinearity == "tanh" else torch.relu(pre)
        return (h,), ({"preactivation": pre} if record else None)


class RNNCell(CellModule):
    """Drop-in for ``torch.nn.RNNCell``: ``h' = φ(W x + b_ih + U h + b_hh)``."""

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        nonlinearity: str = "tanh",
        device=None,
        dtype=None,
    ) -> None:
        super().__init__(RNNSpec(nonlinearity), input_size, hidden_size, bias, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity
