"""The machine's measured peak FLOP/s: the best of a large float32 GEMM through torch (MKL / oneDNN) and
through rnnkit's own GEMM, at the benchmark's thread count. Benchmarks report achieved GFLOP/s as a share
of it, with both products timed again in the rounds of every row (``peak_calls``) so that the share
compares numbers taken under the same load."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .timing import time_interleaved


@dataclass
class Peak:
    torch_gflops: float  # torch.mm on an n×n float32 product
    rnnkit_gflops: float  # rnnkit's GEMM on the same product (0 when the cpu backend is unavailable)
    n: int

    @property
    def gflops(self) -> float:
        return max(self.torch_gflops, self.rnnkit_gflops)


@dataclass
class PeakCalls:
    """The n×n×n float32 product as calls to time beside a benchmark row."""

    calls: dict[str, Callable[[], object]]  # "torch" (torch.mm) and, with the cpu backend, "rnnkit"
    flops: float


def peak_calls(n: int = 2048) -> PeakCalls:
    """torch.mm and (when the cpu backend is available) rnnkit's GEMM on the same n×n float32 product,
    at the current torch thread count."""
    from ..scan.cpu import load, probe

    torch.manual_seed(0)
    a, b = torch.randn(n, n), torch.randn(n, n)
    calls: dict[str, Callable[[], object]] = {"torch": lambda: torch.mm(a, b)}
    if probe() is None:
        ext, threads = load(), torch.get_num_threads()
        calls["rnnkit"] = lambda: ext.mm(a, b, False, False, threads)
    return PeakCalls(calls, 2.0 * n**3)


def measure_peak(n: int = 2048, repeats: int = 5) -> Peak:
    """Time an n×n×n float32 product with torch.mm and with rnnkit's GEMM, interleaved; best round."""
    peak = peak_calls(n)
    m = time_interleaved(peak.calls, repeats=repeats, warmup=1)
    rnnkit = peak.flops / min(m["rnnkit"].times) / 1e9 if "rnnkit" in m else 0.0
    return Peak(torch_gflops=peak.flops / min(m["torch"].times) / 1e9, rnnkit_gflops=rnnkit, n=n)
