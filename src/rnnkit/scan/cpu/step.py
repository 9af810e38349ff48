"""One time step of a whole stack of layers in one native call — the low-overhead path of
``RecurrentLayer.step()`` for generation (token-by-token sampling).

Shape legend: L = layers, B = batch, I = input size, H = hidden size, P = output size (proj_size or H).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ...cells.base import CellSpec, State
from .build import load
from .function import kernel_table, threads_for

_EMPTY = torch.empty(0)

#: per layer (w_ih, b_ih, w_hh, b_hh, w_hr, extras)
LayerWeights = tuple[Tensor, Tensor | None, Tensor, Tensor | None, Tensor | None, dict[str, Tensor]]


def cpu_step(spec: CellSpec, x: Tensor, state: State, weights: Sequence[LayerWeights]) -> State:
    """Advance every layer by one step: x (B, I), state ``(h (L, B, P),)`` or ``(h, c (L, B, H))``
    -> the new state, same shapes; the output of the step is ``new_state[0][-1]``. No autograd."""
    kernel, info = kernel_table()[spec.kernel]
    flat: list[Tensor] = []
    for w_ih, b_ih, w_hh, b_hh, w_hr, extras in weights:
        extra = next(iter(extras.values())) if info["E"] else None
        for t in (w_ih, b_ih, w_hh, b_hh, w_hr, extra):
            flat.append(_EMPTY if t is None else t.detach().contiguous())
    h = state[0].contiguous()
    c = state[1].contiguous() if info["cell_state"] else None
    work = sum(w[0].numel() + w[2].numel() for w in weights) * x.size(0)  # (G*H) x (I + P) per layer
    h_out, c_out = load().step(kernel, x.detach().contiguous(), h, c, flat, threads_for(work))
    return (h_out, c_out) if info["cell_state"] else (h_out,)
