"""pt2: one part through ``torch.export.export`` (non-strict) and ``torch.export.save``, kept in memory,
loaded back with ``torch.export.load`` and run as ``.module()`` for the check before anything is written.

The fused CPU kernels appear in the graph as rnnkit's own operators (``torch.ops.rnnkit.*``), so a
process that loads the file must ``import rnnkit`` first (it registers them); the reference path is
plain aten.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import torch
from torch import Tensor

from .onnx import quiet_exporter
from .part import ExportPart
from .spec import Signature, build_signature, dtype_name, label_dims


@dataclass
class Pt2Artefact:
    """An ExportedProgram serialised in memory.

    Attributes:
        data: what ``torch.export.save`` wrote (what gets written to the file).
        signature: its inputs and outputs, symbolic sizes named after the export's axes.
        custom_ops: the non-aten operator namespaces the graph calls (``["rnnkit"]`` when it does).
    """

    data: bytes
    signature: Signature
    custom_ops: list[str]
    _module: object = None

    def module(self) -> torch.nn.Module:
        """The program loaded back from ``data`` (as a user would), as a module (made once)."""
        if self._module is None:
            self._module = torch.export.load(io.BytesIO(self.data)).module()
        return self._module

    def run(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        with torch.no_grad():
            out = self.module()(*inputs)
        return tuple(out) if isinstance(out, tuple | list) else (out,)


def _custom_namespaces(program: torch.export.ExportedProgram) -> list[str]:
    found = set()
    for node in program.graph.nodes:
        if node.op == "call_function" and isinstance(node.target, torch._ops.OpOverload):
            ns = node.target.namespace
            if ns not in ("aten", "prim", "prims", "_assert", "higher_order"):
                found.add(ns)
    return sorted(found)


def export_part_pt2(part: ExportPart) -> Pt2Artefact:
    """Export one part with ``torch.export`` in memory (dynamic batch; time where the path allows)."""
    with quiet_exporter(), torch.no_grad():
        program = torch.export.export(
            part.module, part.example, dynamic_shapes=part.dynamic_shapes(), strict=False
        )
    placeholders = {n.name: n for n in program.graph.nodes if n.op == "placeholder"}
    user_inputs = list(program.graph_signature.user_inputs)
    if len(user_inputs) != len(part.inputs):
        raise RuntimeError(f"the exported program takes {user_inputs}, expected {list(part.inputs)}")
    output_node = next(n for n in program.graph.nodes if n.op == "output")
    user_outputs = output_node.args[0][-len(part.outputs) :]
    shapes, dtypes = {}, {}
    for name, node_name in zip(part.inputs, user_inputs, strict=True):
        val = placeholders[node_name].meta["val"]
        shapes[name], dtypes[name] = tuple(val.shape), dtype_name(val.dtype)
    for name, node in zip(part.outputs, user_outputs, strict=True):
        val = node.meta["val"]
        shapes[name], dtypes[name] = tuple(val.shape), dtype_name(val.dtype)
    labelled = label_dims(shapes, part.axes)
    signature = build_signature(labelled, dtypes, part.inputs, part.outputs, part.docs, part.notes)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return Pt2Artefact(buffer.getvalue(), signature, _custom_namespaces(program))
