"""One time step of a whole stack of layers in one native call — the low-overhead path of
``RecurrentLayer.step()`` for generation (token-by-token sampling).

The weights are packed into GEMM panels once and the packing is cached while the weights stay the same
objects with the same data and version (an optimiser step or ``load_state_dict`` bumps the version, so
the next step repacks).

In eager mode the step calls the extension directly (a generation step is short, and the operator
dispatch would add a tenth to it); under ``torch.compile`` it is the operator ``rnnkit::step``
(``ops.py``), which runs the same native code.

Shape legend: L = layers, B = batch, I = input size, H = hidden size, P = output size (proj_size or H).
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor

from ...cells.base import CellSpec, State
from .build import load
from .function import threads_for
from .ops import kernel_table

_EMPTY = torch.empty(0)

#: per layer (w_ih, b_ih, w_hh, b_hh, w_hr, extras)
LayerWeights = tuple[Tensor, Tensor | None, Tensor, Tensor | None, Tensor | None, dict[str, Tensor]]

#: packed weights of the last few layer stacks stepped: key -> (weak refs, (data_ptr, version)s, packed)
_CACHE: OrderedDict[tuple, tuple[list, list[tuple[int, int]], list[Tensor]]] = OrderedDict()
_CACHE_SIZE = 8


def packed_weights(kernel: int, flat: list[Tensor], threads: int) -> list[Tensor]:
    """The weights packed for ``threads`` threads, from the cache when they have not changed."""
    key = (kernel, threads, *(id(t) for t in flat))
    stamp = [(t.data_ptr(), t._version) for t in flat]
    hit = _CACHE.get(key)
    if hit is not None:
        refs, old, packed = hit
        if old == stamp and all(r() is t for r, t in zip(refs, flat, strict=True)):
            _CACHE.move_to_end(key)
            return packed
    with torch.no_grad():
        packed = load().step_pack(kernel, flat, threads)
    _CACHE[key] = ([weakref.ref(t) for t in flat], stamp, packed)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return packed


def cpu_step(spec: CellSpec, x: Tensor, state: State, weights: Sequence[LayerWeights]) -> State:
    """Advance every layer by one step: x (B, I), state ``(h (L, B, P),)`` or ``(h, c (L, B, H))``
    -> the new state, same shapes; the output of the step is ``new_state[0][-1]``. No autograd."""
    has_c = spec.has_cell_state
    flat: list[Tensor] = []
    for w_ih, b_ih, w_hh, b_hh, w_hr, extras in weights:
        extra = next(iter(extras.values())) if extras else None
        for t in (w_ih, b_ih, w_hh, b_hh, w_hr, extra):  # the binding reads data only: no detach needed
            flat.append(_EMPTY if t is None else t if t.is_contiguous() else t.contiguous())
    work = sum(w[0].numel() + w[2].numel() for w in weights) * x.size(0)  # (G*H) x (I + P) per layer
    threads = threads_for(work)
    c = state[1] if has_c else None
    if torch.compiler.is_compiling():
        h_out, c_out = torch.ops.rnnkit.step(spec.kernel, x, state[0], c, flat, threads)
        return (h_out, c_out) if has_c else (h_out,)
    kernel = kernel_table()[spec.kernel][0]
    packed = packed_weights(kernel, flat, threads)
    h, c = state[0].contiguous(), None if c is None else c.contiguous()
    h_out, c_out = load().step(kernel, x.contiguous(), h, c, flat, packed, threads)
    return (h_out, c_out) if has_c else (h_out,)
