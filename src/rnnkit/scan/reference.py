"""The reference backend: a plain PyTorch time loop over any cell. Slow, obviously correct, the truth
that every fused backend is tested against.

Shape legend: T = time steps, B = batch, H = hidden size, P = output size (H, or proj_size),
G = row blocks of the cell's weights (LSTM 4, GRU 3, Elman 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ..cells.base import CellSpec, Gates, State
from .regularize import apply_zoneout
from .weights import LayerWeights


@dataclass
class ScanResult:
    """What one direction of one layer produced.

    Attributes:
        output: hidden output per step (T, B, P); zero at padded steps.
        state: the final state, each at the sequence's own last valid step.
        cells: cell state per step (T, B, H) when recorded and the cell has one, else None.
        gates: gate name -> (T, B, H) per step when recorded, else None; zero at padded steps.
    """

    output: Tensor
    state: State
    cells: Tensor | None = None
    gates: Gates | None = None


def reference_step(
    spec: CellSpec,
    xg_t: Tensor,
    state: State,
    weights: LayerWeights,
    record: bool = False,
    h_mask: Tensor | None = None,
    zoneout: tuple[Tensor, ...] | None = None,
    t: int = 0,
) -> tuple[State, Gates | None]:
    """One step of ``spec`` from the input projection ``xg_t`` (B, G*H): the recurrent product, the
    cell's pointwise update, the projection and zoneout. The scan below and ``RecurrentLayer.step()``
    both take their steps here. Returns (new state, gates when ``record``); arguments as in
    :func:`reference_scan` (``t`` picks the step's zoneout draw)."""
    h_in = state[0] if h_mask is None else state[0] * h_mask  # (B, P)
    hg_t = F.linear(h_in, weights.weight_hh, weights.bias_hh)  # (B, G*H)
    new, gates = spec.pointwise(xg_t, hg_t, state, weights.extras, record)
    if weights.weight_hr is not None:
        new = (F.linear(new[0], weights.weight_hr), *new[1:])  # h: (B, P)
    if zoneout is not None:
        new = apply_zoneout(new, state, zoneout, t)
    return new, gates


def reference_scan(
    spec: CellSpec,
    xg: Tensor,
    state0: State,
    weights: LayerWeights,
    mask: Tensor | None = None,
    record: bool = False,
    h_mask: Tensor | None = None,
    zoneout: tuple[Tensor, ...] | None = None,
) -> ScanResult:
    """Run ``spec`` forward over time.

    Args:
        xg: the input projection ``W x + b_ih`` for all steps, (T, B, G*H).
        state0: initial state, ``(h0,)`` or ``(h0, c0)``; h0 (B, P), c0 (B, H).
        weights: this layer/direction's weights; the scan reads weight_hh (G*H, P), bias_hh (G*H,) or
            None, weight_hr (P, H) or None and the cell's extras (the input side is already in ``xg``).
        mask: (T, B, 1) bool, True where step t is inside sequence b; None when all are full length.
        record: also return per-step cell states and gates.
        h_mask: (B, P) variational-dropout mask on h_{t-1} where it enters U h_{t-1}, or None.
        zoneout: per state component the share of the old value kept, (T, B, ·) or (1, 1, 1), or None
            (see ``scan/regularize.py``).
    """
    state = state0
    outputs: list[Tensor] = []
    cells: list[Tensor] = []
    gates: dict[str, list[Tensor]] = {name: [] for name in spec.gate_names} if record else {}
    masks = mask.unbind(0) if mask is not None else None
    for t, xg_t in enumerate(xg.unbind(0)):  # xg_t: (B, G*H)
        new, step_gates = reference_step(spec, xg_t, state, weights, record, h_mask, zoneout, t)
        if masks is not None:
            m = masks[t]  # (B, 1)
            out_t = torch.where(m, new[0], 0.0)
            new = tuple(torch.where(m, n, s) for n, s in zip(new, state, strict=True))
            if step_gates is not None:
                step_gates = {k: torch.where(m, v, 0.0) for k, v in step_gates.items()}
            cell_t = torch.where(m, new[1], 0.0) if record and len(new) > 1 else None
        else:
            out_t = new[0]
            cell_t = new[1] if record and len(new) > 1 else None
        state = new
        outputs.append(out_t)
        if record:
            if cell_t is not None:
                cells.append(cell_t)
            for k, v in (step_gates or {}).items():
                gates[k].append(v)
    return ScanResult(
        output=torch.stack(outputs),  # (T, B, P)
        state=state,
        cells=torch.stack(cells) if cells else None,  # (T, B, H)
        gates={k: torch.stack(v) for k, v in gates.items()} if record else None,  # (T, B, H) each
    )
