"""What an export wrote: the files, their signatures and checks, and the JSON sidecar a user of the files
reads (signature, versions, opset, the model's facts such as its vocabulary)."""

from __future__ import annotations

import json
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .check import ATOL, RTOL, CheckReport
from .spec import Signature

#: bumped when the sidecar's layout changes
SIDECAR_VERSION = 1


@dataclass
class ExportedFile:
    """One written file: its part, path, signature and how well it matched PyTorch."""

    part: str
    path: Path
    signature: Signature
    check: CheckReport


@dataclass
class ExportResult:
    """What an export wrote.

    Attributes:
        format: ``"onnx"`` or ``"pt2"``.
        kind: the model shape (``"generator"``, ``"seq2seq"`` …).
        files: one per part, in the order a runtime uses them.
        sidecar: the JSON written beside them (None when switched off).
        lengths: whether the exported graph takes per-sequence lengths.
        opset: the ONNX opset (None for pt2).
        custom_ops: operator namespaces outside aten the pt2 graph calls (``["rnnkit"]``: import rnnkit
            before ``torch.export.load``).
        notes: what a user must know (e.g. why lengths are not an input).
        tolerance: (atol, rtol) every file was checked with.
    """

    format: str
    kind: str
    files: list[ExportedFile]
    sidecar: Path | None
    lengths: bool
    opset: int | None = None
    custom_ops: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tolerance: tuple[float, float] = (ATOL, RTOL)

    def format_signature(self) -> str:
        blocks = [f.signature.format(f"{f.path.name} ({f.part}):") for f in self.files]
        return "\n".join(blocks + [f"note: {n}" for n in self.notes])

    def to_json(self) -> dict[str, Any]:
        import rnnkit

        return {
            "sidecar_version": SIDECAR_VERSION,
            "format": self.format,
            "kind": self.kind,
            "files": {f.part: f.path.name for f in self.files},
            "signature": {f.part: f.signature.to_json() for f in self.files},
            "lengths": self.lengths,
            "opset": self.opset,
            "needs_import_rnnkit": "rnnkit" in self.custom_ops,
            "check": {
                f.part: {"max_abs_diff": f.check.max_abs_diff, "runs": [list(r) for r in f.check.runs]}
                for f in self.files
            },
            "tolerance": {"atol": self.tolerance[0], "rtol": self.tolerance[1]},
            "notes": self.notes,
            "versions": {
                "rnnkit": rnnkit.__version__,
                "torch": torch.__version__,
                "python": platform.python_version(),
                **_runtime_versions(self.format),
            },
        }


def _runtime_versions(fmt: str) -> dict[str, str]:
    if fmt != "onnx":
        return {}
    import onnx
    import onnxruntime

    return {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}


def compact_json(value: Any, indent: int = 0) -> str:
    """JSON with objects indented and lists of numbers/strings on one line (a 6,000-word vocabulary
    stays one line, not 6,000)."""
    pad = "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(str(k))}: {compact_json(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        items = [pad + compact_json(v, indent + 1) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(value, ensure_ascii=False)
