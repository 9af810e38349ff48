"""Deploying rnnkit models: each model shape as modules ``torch.export`` and ONNX can take, exported to
``.pt2`` / ``.onnx`` files that are checked against PyTorch before they are written.

- :func:`export_onnx`, :func:`export_pt2`: a model to file(s) + a JSON sidecar (signature, versions,
  whatever ``metadata`` is given: vocabulary, scalers …).
- :func:`plan_parts`: the exportable modules themselves (classifier/tagger/forecaster: the whole
  sequence; generator: one step with the state in and out; seq2seq: encoder + one decoder step).
- :mod:`.runtime`: onnxruntime drivers that generate and decode greedily with the exported files.

``rnnkit export RUN_DIR --format onnx|pt2`` does it for a trained run.
"""

from .check import ATOL, RTOL, CheckReport, ExportMismatchError
from .exporter import FORMATS, ExportedFile, ExportFailedError, ExportResult, export_onnx, export_pt2
from .part import ExportPart
from .plan import model_kind, plan_parts, takes_lengths
from .spec import Signature, TensorSpec

__all__ = [
    "ATOL",
    "FORMATS",
    "RTOL",
    "CheckReport",
    "ExportFailedError",
    "ExportMismatchError",
    "ExportPart",
    "ExportResult",
    "ExportedFile",
    "Signature",
    "TensorSpec",
    "export_onnx",
    "export_pt2",
    "model_kind",
    "plan_parts",
    "takes_lengths",
]
