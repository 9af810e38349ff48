"""Benchmarks: interleaved timing against the torch.nn anchor measured in the same run."""

from .layers import LayerBenchRow, bench_layers, write_report
from .timing import Measurement, machine_info, time_interleaved

__all__ = ["LayerBenchRow", "Measurement", "bench_layers", "machine_info", "time_interleaved", "write_report"]
