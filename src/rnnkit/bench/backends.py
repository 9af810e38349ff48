"""Fused backend against torch.nn: training (forward + backward) and inference time per shape, achieved
GFLOP/s and the share of the machine's measured peak.

Every ratio is ``torch.nn time / rnnkit time`` from the same interleaved rounds (> 1: rnnkit faster);
the spread is the range of the per-round ratios. FLOPs count the GEMMs only (the pointwise work is
O(1/H) of it): with input size I = H, per step 2·B·G·H·H for each of W x and U h forward, and of
dW_ih, dW_hh and dh through U backward (x needs no gradient here).

The peak is the faster of torch.mm and rnnkit's GEMM on an n×n×n float32 product, both timed in the
rounds of every row; the targets are in ``targets``.

Shape legend: B = batch, T = time steps, H = hidden size (input size = H), G = row blocks of the cell.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from ..cells.registry import get_cell
from ..layers import create_layer
from .peak import PeakCalls
from .targets import peak_target, speedup_target
from .timing import Measurement, time_interleaved

#: (B, T, H) shapes of the fused-backend issue
SHAPES: tuple[tuple[int, int, int], ...] = (
    (32, 100, 128),
    (64, 100, 256),
    (16, 200, 512),
    (1, 500, 64),
    (128, 50, 1024),
)

#: rnnkit cell -> (torch.nn anchor, whether the weights carry over)
ANCHORS: dict[str, tuple[str, bool]] = {
    "lstm": ("LSTM", True),
    "gru": ("GRU", True),
    "rnn": ("RNN", True),
    "urlstm": ("LSTM", False),
}


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
    target: float  # the speed-up to reach (targets.speedup_target)
    rnnkit_gflops: float
    torch_gflops: float
    peak_gflops: float  # the faster of the two peak GEMMs timed in the same rounds (0 when not measured)
    peak_share: float  # rnnkit GFLOP/s / peak_gflops (0 when not measured)
    peak_torch_gflops: float = 0.0  # torch.mm in the same rounds (0 when not measured)
    peak_rnnkit_gflops: float = 0.0  # rnnkit's GEMM in the same rounds (0 when not measured)

    @property
    def meets_target(self) -> bool:
        return self.ratio >= self.target

    @property
    def peak_target(self) -> float | None:
        """The share of peak this row must reach (None: no target at this H)."""
        return peak_target(self.H)

    @property
    def meets_peak_target(self) -> bool:
        """True where no share of peak is required or none was measured."""
        want = self.peak_target
        return want is None or not self.peak_share or self.peak_share >= want


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
    peak: PeakCalls | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[BackendBenchRow]:
    """Time every (cell, shape, mode) against its torch.nn anchor, interleaved round by round.

    ``peak``: the peak GEMMs (torch.mm and rnnkit's) timed in the same rounds as each row, so that the
    share of peak, and whether the anchor is bound by its GEMMs, compare numbers taken under the same
    load."""
    rows = []
    for cell in cells:
        if cell not in ANCHORS:
            raise ValueError(f"cells must be among {sorted(ANCHORS)}, got {cell!r}")
        anchor, same_weights = ANCHORS[cell]
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
                calls = peak.calls if peak is not None else {}
                fns = {"torch": _call(theirs, x, mode), "rnnkit": _call(ours, x, mode)}
                fns |= {f"peak_{name}": fn for name, fn in calls.items()}
                m = time_interleaved(fns, repeats)
                flops_peak = peak.flops if peak is not None else 0.0
                peaks = {n: round(flops_peak / m[f"peak_{n}"].median / 1e9, 1) for n in calls}
                peak_gf = max(peaks.values(), default=0.0)
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
                        # judged on the recorded (rounded) numbers, so that the file reproduces it
                        target=speedup_target(cell, round(theirs_gf, 1), peak_gf),
                        rnnkit_gflops=round(ours_gf, 1),
                        torch_gflops=round(theirs_gf, 1),
                        peak_gflops=peak_gf,
                        peak_share=round(ours_gf / peak_gf, 3) if peak_gf else 0.0,
                        peak_torch_gflops=peaks.get("torch", 0.0),
                        peak_rnnkit_gflops=peaks.get("rnnkit", 0.0),
                    )
                )
    return rows


def backend_table(rows: list[BackendBenchRow]) -> str:
    """Markdown table of the rows, one per (cell, shape, mode); ✗ marks a missed target."""
    lines = [
        "| cell | vs | mode | B,T,H | torch.nn ms | rnnkit ms | speed-up (min–max) | target | "
        "torch.nn GFLOP/s | rnnkit GFLOP/s | peak GFLOP/s (torch.mm / rnnkit) | % of peak |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "" if r.meets_target else " ✗"
        share = f"{100 * r.peak_share:.0f}%" if r.peak_share else "–"
        if not r.meets_peak_target:
            share += " ✗"
        if r.peak_torch_gflops or r.peak_rnnkit_gflops:
            peak = f"{r.peak_gflops:.0f} ({r.peak_torch_gflops:.0f} / {r.peak_rnnkit_gflops:.0f})"
        else:
            peak = f"{r.peak_gflops:.0f}" if r.peak_gflops else "–"
        shape = f"{r.B},{r.T},{r.H}"
        lines.append(
            f"| {r.cell} | {r.anchor} | {r.mode} | {shape} | {r.torch_ms:.2f} | {r.rnnkit_ms:.2f} | "
            f"**{r.ratio:.2f}×**{mark} ({r.ratio_min:.2f}–{r.ratio_max:.2f}) | ≥ {r.target:.1f}× | "
            f"{r.torch_gflops:.0f} | {r.rnnkit_gflops:.0f} | {peak} | {share} |"
        )
    return "\n".join(lines)
