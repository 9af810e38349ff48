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
from .kernels import kernel_table, threads_for

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


def step_kernel(
    cell: str, x: Tensor, h: Tensor, c: Tensor | None, flat: list[Tensor]
) -> tuple[Tensor, Tensor]:
    """The body of ``rnnkit::step`` (same arguments and result): a step plan for this call (the packed
    weights come from the cache), then its one native call."""
    plan = StepPlan(cell, flat, x.size(0))
    state = (h.contiguous(), c.contiguous()) if plan.has_c else (h.contiguous(),)
    new = plan(x.contiguous(), state)
    return new[0], (new[1] if plan.has_c else new[0].new_empty(0))


class StepPlan:
    """One step of a layer stack with everything decided once (the kernel, the threads for this batch
    size, the weights packed for them): ``plan(x, state) -> new state`` is one native call and nothing
    else. ``RecurrentLayer.step`` keeps one per layer while the weights, the batch size and the dtype stay
    the same (it checks the weights' versions before each call; the plan itself checks nothing).

    ``cell``: the fused kernel's name; ``flat``: per layer [w_ih, b_ih, w_hh, b_hh, w_hr, extra], an empty
    tensor for a missing one (``flatten``)."""

    def __init__(self, cell: str, flat: Sequence[Tensor], batch: int) -> None:
        self.flat = [t if t.is_contiguous() else t.contiguous() for t in flat]
        layers = len(self.flat) // 6
        # (G*H) x (I + P) multiply-adds per layer and row
        work = sum(self.flat[6 * k].numel() + self.flat[6 * k + 2].numel() for k in range(layers)) * batch
        self.threads = threads_for(work)
        self.kernel, info = kernel_table()[cell]
        self.has_c = bool(info["cell_state"])
        self.packed = packed_weights(self.kernel, self.flat, self.threads)
        self._ext = load()

    @classmethod
    def for_layers(cls, spec: CellSpec, weights: Sequence[LayerWeights], batch: int) -> StepPlan:
        """The plan of a layer stack given as ``RecurrentLayer.weights`` tuples (``Backend.step_plan``)."""
        return cls(spec.kernel, flatten(weights), batch)

    def __call__(self, x: Tensor, state: State) -> State:
        """x (B, I), state ``(h (L, B, P),)`` or ``(h, c (L, B, H))``, contiguous, the plan's dtype."""
        c = state[1] if self.has_c else None
        h_out, c_out = self._ext.step(self.kernel, x, state[0], c, self.flat, self.packed, self.threads)
        return (h_out, c_out) if self.has_c else (h_out,)


def flatten(weights: Sequence[LayerWeights]) -> list[Tensor]:
    """Per layer [w_ih, b_ih, w_hh, b_hh, w_hr, extra], an empty tensor for a missing one."""
    flat: list[Tensor] = []
    for w_ih, b_ih, w_hh, b_hh, w_hr, extras in weights:
        extra = next(iter(extras.values())) if extras else None
        flat += [_EMPTY if t is None else t for t in (w_ih, b_ih, w_hh, b_hh, w_hr, extra)]
    return flat


def cpu_step(spec: CellSpec, x: Tensor, state: State, weights: Sequence[LayerWeights]) -> State:
    """Advance every layer by one step: x (B, I), state ``(h (L, B, P),)`` or ``(h, c (L, B, H))``
    -> the new state, same shapes; the output of the step is ``new_state[0][-1]``. No autograd."""
    has_c = spec.has_cell_state
    flat = flatten(weights)
    c = state[1] if has_c else None
    run = torch.ops.rnnkit.step if torch.compiler.is_compiling() else step_kernel
    h_out, c_out = run(spec.kernel, x, state[0], c, flat)  # the binding reads data only: no detach needed
    return (h_out, c_out) if has_c else (h_out,)
