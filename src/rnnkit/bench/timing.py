"""Timing that survives a noisy machine: candidates interleaved round by round, warm-up first, medians
reported, and ratios taken against an anchor measured in the same rounds."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass
class Measurement:
    """Seconds per call of one candidate over all rounds."""

    name: str
    times: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def spread(self) -> float:
        """Relative spread (max − min) / median, a rough noise indicator."""
        return (max(self.times) - min(self.times)) / self.median


def time_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int = 7, warmup: int = 2, min_seconds: float = 0.05
) -> dict[str, Measurement]:
    """Time each callable ``repeats`` times, interleaving candidates within every round.

    A round calls each candidate enough times to last ~``min_seconds`` and records the mean per call,
    so very short calls are not dominated by timer resolution.
    """
    inner: dict[str, int] = {}
    for name, fn in fns.items():
        for _ in range(warmup):
            fn()
        t0 = time.perf_counter()
        fn()
        once = max(time.perf_counter() - t0, 1e-6)
        inner[name] = max(1, int(min_seconds / once))
    out = {name: Measurement(name, []) for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            out[name].times.append((time.perf_counter() - t0) / inner[name])
    return out


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def machine_info() -> dict[str, object]:
    """What the numbers were measured on (goes into every JSON report): the CPU model, its family
    (``cpu_family`` such as "AMD Zen 4", ``cpu_slug`` for file names, ``cpu_numbers`` as the OS reports
    them) and SIMD features, the cores, threads, versions, load and date."""
    from ..scan.cpu.machine import cpu_info

    info = cpu_info()
    numbers = f"family {info.family} model {info.model_number}" if info.family is not None else None
    return {
        "cpu": _cpu_model(),
        "cpu_family": info.family_name,
        "cpu_slug": info.slug,
        "cpu_numbers": numbers,
        "simd": list(info.simd),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_1min": _load_average(),
        "date": time.strftime("%Y-%m-%d"),
    }
