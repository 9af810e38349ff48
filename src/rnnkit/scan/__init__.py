"""Running cells over time: the generic layer runner and the backends beneath it."""

from .backends import backend_status, backends
from .layer import RecurrentLayer, Trace
from .reference import ScanResult, reference_scan, reference_step
from .weights import LayerWeights

__all__ = [
    "LayerWeights",
    "RecurrentLayer",
    "ScanResult",
    "Trace",
    "backend_status",
    "backends",
    "reference_scan",
    "reference_step",
]
