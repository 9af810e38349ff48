"""Running cells over time: the generic layer runner and the backends beneath it."""

from .backends import backend_status, backends
from .layer import RecurrentLayer, Trace
from .reference import ScanResult, reference_scan

__all__ = ["RecurrentLayer", "ScanResult", "Trace", "backend_status", "backends", "reference_scan"]
