"""Fused backend against torch.nn: training (forward + backward) and inference time per shape, achieved
GFLOP/s and the share of the machine's measured peak.

Every ratio is ``torch.nn time / rnnkit time`` from the same interleaved rounds (> 1: rnnkit faster);
the spread is the range of the per-round ratios. FLOPs count the GEMMs only (the pointwise work is
O(1/H) of it): with input size I = H, per step 2·B·G·H·H for each of W x and U h forward, and of
dW_ih, dW_hh and dh through U backward (x needs no gradient here).

Shape legend: B = batch, T = time steps, H = hidden size (input size = H), G = row blocks of the cell.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ..cells.registry import get_cell
from ..layers import create_layer
from .timing import Measurement, time_interleaved

#: (B, T, H) shapes of the fused-backend issue
SHAPES: tuple[tuple[int, int, int], ...] = (
    (32, 100, 128),
    (64, 100, 256),
    (16, 200, 512),
    (1, 500, 64),
    (128, 50, 1024),
)

#: rnnkit cell -> (torch.nn anchor, whether the weights carry over, target speed-up vs the anchor)
ANCHORS: dict[str, tuple[str, bool, float]] = {
    "lstm": ("LSTM", True, 1.0),
    "gru": ("GRU", True, 1.5),
    "rnn": ("RNN", True, 1.0),
    "urlstm": ("LSTM", False, 0.8),
}

#: training and inference must reach this share of the measured peak at H >= PEAK_MIN_H
PEAK_TARGET, PEAK_MIN_H = 0.70, 512


@dataclass
class BackendBenchRow:
    cell: str
    anchor: str  # the torch.nn layer it is compared with
    mode: str  # "train" (forward + backward) or "infer" (no_grad forward)
    B: int
    T: int
    H: int
    torch_ms: float
    rnnkit_ms: float
    ratio: float  # median of the per-round torch/rnnkit ratios
    ratio_min: float
    ratio_max: float
    target: float
    rnnkit_gflops: float
    torch_gflops: float
    peak_gflops: float  # the peak GEMM timed in the same rounds (0 when not measured)
    peak_share: float  # rnnkit GFLOP/s / peak_gflops

    @property
    def meets_target(self) -> bool:
        return self.ratio >= self.target


def layer_flops(cell: str, mode: str, B: int, T: int, H: int) -> float:
    """GEMM FLOPs of one call of a 1-layer unidirectional layer with input size H."""
    G = get_cell(cell).make_spec().num_chunks
    step = 2.0 * T * B * G * H * H  # one of the five products, each of this size
    return 2 * step if mode == "infer" else 5 * step  # W x, U h; + dW_ih, dW_hh and dh through U


def _call(layer: torch.nn.Module, x: torch.Tensor, mode: str) -> Callable[[], object]:
    if mode == "infer":

        def infer() -> object:
            with torch.no_grad():
                return layer(x)

        return infer

    def train() -> object:
        out, state = layer(x)
        states = state if isinstance(state, tuple) else (state,)
        loss = out.sum() + sum(s.sum() for s in states)
        loss.backward()
        return loss

    return train


def ratio_stats(ours: Measurement, theirs: Measurement) -> tuple[float, float, float]:
    """Median, min and max of the per-round ratios theirs/ours."""
    ratios = [t / o for t, o in zip(theirs.times, ours.times, strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def bench_backends(
    cells: Iterable[str] = ("lstm", "gru", "rnn", "urlstm"),
    shapes: Iterable[tuple[int, int, int]] = SHAPES,
    modes: Iterable[str] = ("train", "infer"),
    backend: str = "cpu",
    repeats: int = 5,
    peak: tuple[Callable[[], object], float] | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BackendBenchRow]:
    """Time every (cell, shape, mode) against its torch.nn anchor, interleaved round by round.

    ``peak``: (a GEMM call, its FLOPs) timed in the same rounds as each row, so that the share of peak
    compares numbers taken under the same load."""
    rows = []
    for cell in cells:
        if cell not in ANCHORS:
            raise ValueError(f"cells must be among {sorted(ANCHORS)}, got {cell!r}")
        anchor, same_weights, target = ANCHORS[cell]
        for B, T, H in shapes:
            torch.manual_seed(0)
            theirs = getattr(torch.nn, anchor)(H, H)
            ours = create_layer(cell, H, H, backend=backend)
            if same_weights:
                ours.load_state_dict(theirs.state_dict())
            x = torch.randn(T, B, H)
            for mode in modes:
                if progress:
                    progress(f"{cell} {mode} B={B} T={T} H={H}")
                fns = {"torch": _call(theirs, x, mode), "rnnkit": _call(ours, x, mode)}
                if peak is not None:
                    fns["peak"] = peak[0]
                m = time_interleaved(fns, repeats)
                peak_gf = peak[1] / m["peak"].median / 1e9 if peak is not None else 0.0
                ratio, lo, hi = ratio_stats(m["rnnkit"], m["torch"])
                flops = layer_flops(cell, mode, B, T, H)
                ours_gf, theirs_gf = flops / m["rnnkit"].median / 1e9, flops / m["torch"].median / 1e9
                rows.append(
                    BackendBenchRow(
                        cell=cell,
                        anchor=f"nn.{anchor}",
                        mode=mode,
                        B=B,
                        T=T,
                        H=H,
                        torch_ms=round(m["torch"].median * 1e3, 3),
                        rnnkit_ms=round(m["rnnkit"].median * 1e3, 3),
                        ratio=round(ratio, 3),
                        ratio_min=round(lo, 3),
                        ratio_max=round(hi, 3),
                        target=target,
                        rnnkit_gflops=round(ours_gf, 1),
                        torch_gflops=round(theirs_gf, 1),
                        peak_gflops=round(peak_gf, 1),
                        peak_share=round(ours_gf / peak_gf, 3) if peak_gf else 0.0,
                    )
                )
    return rows


def backend_table(rows: list[BackendBenchRow]) -> str:
    """Markdown table of the rows; ✗ marks a missed target."""
    lines = [
        "| cell | vs | mode | B,T,H | torch.nn ms | rnnkit ms | speed-up (min–max) | target | "
        "rnnkit GFLOP/s | peak GFLOP/s | % of peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "" if r.meets_target else " ✗"
        share = f"{100 * r.peak_share:.0f}%" if r.peak_share else "–"
        if r.H >= PEAK_MIN_H and r.peak_share and r.peak_share < PEAK_TARGET:
            share += " ✗"
        shape = f"{r.B},{r.T},{r.H}"
        lines.append(
            f"| {r.cell} | {r.anchor} | {r.mode} | {shape} | {r.torch_ms:.2f} | {r.rnnkit_ms:.2f} | "
            f"**{r.ratio:.2f}×**{mark} ({r.ratio_min:.2f}–{r.ratio_max:.2f}) | ≥ {r.target:.1f}× | "
            f"{r.rnnkit_gflops:.0f} | {r.peak_gflops:.0f} | {share} |"
        )
    return "\n".join(lines)
