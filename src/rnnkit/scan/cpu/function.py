"""The fused CPU scan as a differentiable function: :func:`cpu_scan` has :func:`reference_scan`'s
signature and result, and runs the whole sequence forward (and, in ``backward``, the whole reverse
loop) in native code.

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
from torch.autograd.function import once_differentiable

from ...cells.base import CellSpec, State
from ..reference import ScanResult
from .build import load


def kernel_table() -> dict[str, tuple[int, dict[str, object]]]:
    """Cells with a fused kernel: name -> (kernel id, info: G, S, E, cell_state, split)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = {k["name"]: (i, k) for i, k in enumerate(load().kernel_info())}
    return _TABLE


_TABLE: dict[str, tuple[int, dict[str, object]]] | None = None

#: a time step with fewer multiply-adds than this runs on one thread when its layers split the hidden
#: units (a barrier per step costs more than the second core saves; measured on a 2-core Zen machine)
MIN_SPLIT_WORK = 96 * 1024

#: the scan's thread layout: "auto" (per call), "rows" (batch rows, no barriers) or "units" (hidden units,
#: a barrier per step); see csrc/common.h
SPLIT = "auto"
_SPLITS = {"auto": 0, "rows": 1, "units": 2}


def threads_for(work: int) -> int:
    """Threads for a step of ``work`` multiply-adds: torch's intra-op thread count, or 1 when small."""
    return 1 if work < MIN_SPLIT_WORK else torch.get_num_threads()


def _opt(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


class _FusedLayer(torch.autograd.Function):
    """(x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr) -> (out, h_n, c_n) for one direction of one layer.

    With ``w_ih`` None, ``x`` is already the input projection xg (T, B, G*H). Extras and lengths are
    constants. Backward: one native call for the reverse loop and every weight gradient."""

    @staticmethod
    def forward(ctx, kernel, has_c, lengths, extra, threads, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr):
        out, hn, cn, save, cs, hraw = load().forward(
            kernel, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths, True, *threads
        )
        ctx.kernel, ctx.has_c, ctx.threads = kernel, has_c, threads
        ctx.has_b_ih, ctx.has_b_hh = b_ih is not None, b_hh is not None
        ctx.save_for_backward(x, w_ih, w_hh, w_hr, extra, lengths, h0, c0, out, save, cs, hraw)
        if cn is None:
            cn = hn.new_zeros(0)
        return out, hn, cn

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dhn, dcn):
        x, w_ih, w_hh, w_hr, extra, lengths, h0, c0, out, save, cs, hraw = ctx.saved_tensors
        # needs_input_grad: (kernel, has_c, lengths, extra, threads, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr)
        need = ctx.needs_input_grad
        dx, dw_ih, db_ih, dh0, dc0, dw_hh, db_hh, dw_hr = load().backward(
            ctx.kernel, x, w_ih, ctx.has_b_ih, w_hh, ctx.has_b_hh, w_hr, extra, lengths, h0, c0, out,
            save, cs, hraw, dout.contiguous(), dhn.contiguous(), dcn.contiguous() if ctx.has_c else None,
            [need[5], need[6], need[7], need[10], need[11], need[12]], *ctx.threads,
        )  # fmt: skip
        return (None, None, None, None, None, dx, dw_ih, db_ih, dh0 if need[8] else None,
                dc0 if need[9] else None, dw_hh, db_hh, dw_hr)  # fmt: skip


def lengths_from_mask(mask: Tensor | None, steps: int) -> Tensor | None:
    """(T, B, 1) suffix-padding mask -> (B,) int64 lengths (None when absent)."""
    if mask is None:
        return None
    return mask.reshape(steps, -1).sum(0, dtype=torch.int64).cpu().contiguous()


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
    kernel, info = kernel_table()[spec.kernel]
    has_c = bool(info["cell_state"])
    steps = x.size(0)
    lengths = lengths_from_mask(mask, steps)
    extra = None
    if info["E"]:
        (extra,) = (t.detach().contiguous() for t in extras.values())
    h0 = state0[0].contiguous()
    c0 = state0[1].contiguous() if has_c else None
    n = torch.get_num_threads()
    threads = (n, n, _SPLITS[SPLIT])  # GEMM threads, scan threads, scan layout
    tensors = (x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr)
    args = (x.contiguous(), _opt(w_ih), _opt(b_ih), h0, c0, w_hh.contiguous(), _opt(b_hh), _opt(w_hr))
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        out, hn, cn = _FusedLayer.apply(kernel, has_c, lengths, extra, threads, *args)
    else:
        x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr = args
        out, hn, cn, *_ = load().forward(
            kernel, x, w_ih, b_ih, h0, c0, w_hh, b_hh, w_hr, extra, lengths, False, *threads
        )
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
