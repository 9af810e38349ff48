"""Running one direction of one layer over time: the backends (reference, fused CPU, torch's own) and
how one is chosen. The layers that drive them live in :mod:`rnnkit.layers`."""

from .backends import backend_status, backends
from .reference import ScanResult, reference_scan, reference_step
from .weights import LayerWeights

__all__ = [
    "LayerWeights",
    "ScanResult",
    "backend_status",
    "backends",
    "reference_scan",
    "reference_step",
]
