"""The fused CPU scan as a differentiable function: :func:`cpu_scan` has :func:`reference_scan`'s
signature and result, and runs the whole sequence forward (and, in the backward pass, the whole reverse
loop) in native code, through the operators ``rnnkit::scan_forward`` / ``rnnkit::scan_backward``
(``ops.py``), so autograd, ``torch.compile`` and ``torch.export`` see real operators.

Training (anything requires grad) saves only what the backward pass needs — per step the cell's gate
values (B, S*H), c_t for LSTM-like cells and h before the projection — and computes the weight
gradients after the reverse loop as large GEMMs:
``dW_hh = Σ_t dhg_tᵀ h_{t-1}``, ``db_hh = Σ_t dhg_t``, ``dW_hr = Σ_t dh_tᵀ hraw_t``. Inference saves nothing.

Shape legend: T = time steps, B = batch, H = hidden size, P = output size (proj_size or H), G = row
blocks of the cell's weights, S = values the cell saves per unit and step.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ...cells.base import CellSpec, State
from ..reference import ScanResult
from . import ops  # noqa: F401  (registers the rnnkit:: operators)

#: a time step with fewer multiply-adds than this runs on one thread when its layers split the hidden
#: units (a barrier per step costs more than the second core saves; measured on a 2-core Zen machine)
MIN_SPLIT_WORK = 96 * 1024


def threads_for(work: int) -> int:
    """Threads for a step of ``work`` multiply-adds: torch's intra-op thread count, or 1 when small."""
    return 1 if work < MIN_SPLIT_WORK else torch.get_num_threads()


def lengths_from_mask(mask: Tensor | None, steps: int) -> Tensor | None:
    """(T, B, 1) suffix-padding mask -> (B,) int64 lengths on the CPU (None when absent)."""
    if mask is None:
        return None
    return mask.reshape(steps, -1).sum(0, dtype=torch.int64).cpu()


def fused_layer(
    spec: CellSpec,
    x: Tensor,
    w_ih: Tensor | None,
    b_ih: Tensor | None,
    state0: State,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
    extras: dict[str, Tensor],
    mask: Tensor | None = None,
) -> ScanResult:
    """One direction of one layer from its input x (T, B, I): ``xg = x w_ihᵀ + b_ih`` (rnnkit's GEMM) and
    the scan, differentiable. With ``w_ih`` None, x is xg itself (T, B, G*H)."""
    has_c = spec.has_cell_state
    extra = next(iter(extras.values())).detach() if extras else None
    h0, c0 = state0[0], state0[1] if has_c else None
    tensors = (x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr)
    # save for the backward pass only when gradients can be asked for; torch.export records the inference
    # form (an exported program is for running; its backward pass raises a clear error)
    training = (
        torch.is_grad_enabled()
        and any(t is not None and t.requires_grad for t in tensors)
        and not torch.compiler.is_exporting()
    )
    out, hn, cn, *_ = torch.ops.rnnkit.scan_forward(
        spec.kernel, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths_from_mask(mask, x.size(0)),
        training,
    )  # fmt: skip
    return ScanResult(output=out, state=(hn, cn) if has_c else (hn,))


def cpu_scan(
    spec: CellSpec,
    xg: Tensor,
    state0: State,
    w_hh: Tensor,
    b_hh: Tensor | None,
    w_hr: Tensor | None,
    extras: dict[str, Tensor],
    mask: Tensor | None = None,
) -> ScanResult:
    """Run ``spec`` over time with the fused kernels; arguments and result as
    :func:`rnnkit.scan.reference.reference_scan` (``mask`` must pad a suffix of each sequence, as
    ``time_mask`` does)."""
    return fused_layer(spec, xg, None, None, state0, w_hh, b_hh, w_hr, extras, mask)
