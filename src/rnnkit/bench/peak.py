"""The machine's measured peak FLOP/s: the best of a large float32 GEMM through torch (MKL / oneDNN) and
through rnnkit's own GEMM, at the benchmark's thread count. Benchmarks report achieved GFLOP/s as a share
of it."""

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


def peak_call(n: int = 2048) -> tuple[Callable[[], object], float] | None:
    """(rnnkit's n×n×n float32 GEMM as a call, its FLOPs) to time beside each benchmark row, or None when
    the cpu backend is unavailable."""
    from ..scan.cpu import load, probe

    if probe() is not None:
        return None
    torch.manual_seed(0)
    a, b = torch.randn(n, n), torch.randn(n, n)
    ext, threads = load(), torch.get_num_threads()
    return (lambda: ext.mm(a, b, False, False, threads)), 2.0 * n**3


def measure_peak(n: int = 2048, repeats: int = 5) -> Peak:
    """Time an n×n×n float32 product with torch.mm and with rnnkit's GEMM, interleaved."""
    torch.manual_seed(0)
    a, b = torch.randn(n, n), torch.randn(n, n)
    fns = {"torch": lambda: torch.mm(a, b)}
    from ..scan.cpu import load, probe

    if probe() is None:
        ext, threads = load(), torch.get_num_threads()
        fns["rnnkit"] = lambda: ext.mm(a, b, False, False, threads)
    m = time_interleaved(fns, repeats=repeats, warmup=1)
    flops = 2.0 * n**3
    rnnkit = flops / min(m["rnnkit"].times) / 1e9 if "rnnkit" in m else 0.0
    return Peak(torch_gflops=flops / min(m["torch"].times) / 1e9, rnnkit_gflops=rnnkit, n=n)
