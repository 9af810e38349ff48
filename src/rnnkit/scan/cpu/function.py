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

#: a time step with fewer multiply-adds than this runs on one thread: splitting it costs a barrier per
#: step, more than the second core saves (measured on a 2-core Zen machine; see benchmarks/)
MIN_SPLIT_WORK = 96 * 1024


def threads_for(work: int) -> int:
    """Threads for a step of ``work`` multiply-adds: torch's intra-op thread count, or 1 when small."""
    return 1 if work < MIN_SPLIT_WORK else torch.get_num_threads()


def _opt(t: Tensor | None) -> Tensor | None:
    return None if t is None else t.contiguous()


class _FusedScan(torch.autograd.Function):
    """(xg, h0, c0, w_hh, b_hh, w_hr) -> (out, h_n, c_n); extras and lengths are constants."""

    @staticmethod
    def forward(ctx, kernel, has_c, lengths, extra, threads, xg, h0, c0, w_hh, b_hh, w_hr):
        ext = load()
        out, hn, cn, save, cs, hraw = ext.forward(
            kernel, xg, h0, c0, w_hh, b_hh, w_hr, extra, lengths, True, threads
        )
        ctx.kernel, ctx.has_c, ctx.threads = kernel, has_c, threads
        ctx.has_bias, ctx.has_proj = b_hh is not None, w_hr is not None
        ctx.save_for_backward(w_hh, w_hr, extra, lengths, h0, c0, out, save, cs, hraw)
        if cn is None:
            cn = hn.new_zeros(0)
        return out, hn, cn

    @staticmethod
    @once_differentiable
    def backward(ctx, dout, dhn, dcn):
        w_hh, w_hr, extra, lengths, h0, c0, out, save, cs, hraw = ctx.saved_tensors
        dxg, dhg, dh0, dc0, dH = load().backward(
            ctx.kernel,
            w_hh,
            w_hr,
            extra,
            lengths,
            h0,
            c0,
            out,
            save,
            cs,
            hraw,
            dout.contiguous(),
            dhn.contiguous(),
            dcn.contiguous() if ctx.has_c else None,
            ctx.threads,
        )
        need = ctx.needs_input_grad  # (kernel, has_c, lengths, extra, threads, xg, h0, c0, w_hh, b_hh, w_hr)
        T, B, GH = dhg.shape
        P = out.size(-1)
        dw_hh = db_hh = dw_hr = None
        if need[8]:
            # Σ_t dhg_tᵀ h_{t-1}: one GEMM over all steps, h_{t-1} = out[t-1] (h0 at t = 0)
            dw_hh = torch.mm(dhg[0].t(), h0)  # (G*H, P)
            if T > 1:
                dw_hh.addmm_(dhg[1:].reshape(-1, GH).t(), out[:-1].reshape(-1, P))
        if need[9] and ctx.has_bias:
            db_hh = dhg.sum((0, 1))  # (G*H,)
        if need[10] and ctx.has_proj:
            dw_hr = torch.mm(dH.reshape(-1, P).t(), hraw.reshape(T * B, -1))  # (P, H)
        return (
            None,
            None,
            None,
            None,
            None,
            dxg if need[5] else None,
            dh0 if need[6] else None,
            dc0 if need[7] else None,
            dw_hh,
            db_hh,
            dw_hr,
        )


def lengths_from_mask(mask: Tensor | None, steps: int) -> Tensor | None:
    """(T, B, 1) suffix-padding mask -> (B,) int64 lengths (None when absent)."""
    if mask is None:
        return None
    return mask.reshape(steps, -1).sum(0, dtype=torch.int64).cpu().contiguous()


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
    kernel, info = kernel_table()[spec.kernel]
    has_c = bool(info["cell_state"])
    steps = xg.size(0)
    lengths = lengths_from_mask(mask, steps)
    extra = None
    if info["E"]:
        (extra,) = (t.detach().contiguous() for t in extras.values())
    h0 = state0[0].contiguous()
    c0 = state0[1].contiguous() if has_c else None
    G, H, P = info["G"], xg.size(-1) // info["G"], h0.size(-1)
    threads = threads_for(xg.size(1) * G * H * P)
    tensors = (xg, h0, c0, w_hh, b_hh, w_hr)
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors):
        out, hn, cn = _FusedScan.apply(
            kernel,
            has_c,
            lengths,
            extra,
            threads,
            xg.contiguous(),
            h0,
            c0,
            w_hh.contiguous(),
            _opt(b_hh),
            _opt(w_hr),
        )
    else:
        out, hn, cn, *_ = load().forward(
            kernel, xg.contiguous(), h0, c0, w_hh.contiguous(), _opt(b_hh), _opt(w_hr), extra, lengths,
            False, threads,
        )  # fmt: skip
    return ScanResult(output=out, state=(hn, cn) if has_c else (hn,))
