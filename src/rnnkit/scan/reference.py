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


def reference_scan(
    spec: CellSpec,
    xg: Tensor,
    state0: State,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
    extras: dict[str, Tensor],
    mask: Tensor | None = None,
    record: bool = False,
    h_mask: Tensor | None = None,
    zoneout: tuple[Tensor, ...] | None = None,
) -> ScanResult:
    """Run ``spec`` forward over time.

    Args:
        xg: the input projection ``W x + b_ih`` for all steps, (T, B, G*H).
        state0: initial state, ``(h0,)`` or ``(h0, c0)``; h0 (B, P), c0 (B, H).
        w_hh: recurrent weight (G*H, P); b_hh: (G*H,) or None; w_hr: projection (P, H) or None.
        extras: the cell's extra tensors for this layer/direction.
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
        h_in = state[0] if h_mask is None else state[0] * h_mask  # (B, P)
        hg_t = F.linear(h_in, w_hh, b_hh)  # (B, G*H)
        new, step_gates = spec.pointwise(xg_t, hg_t, state, extras, record)
        if w_hr is not None:
            new = (F.linear(new[0], w_hr), *new[1:])  # h: (B, P)
        if zoneout is not None:
            new = apply_zoneout(new, state, zoneout, t)
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
