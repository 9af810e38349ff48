"""ONNX: one part through ``torch.onnx.export(..., dynamo=True)`` (the exporter built on
``torch.export``), kept in memory, loaded into onnxruntime and checked there before anything is
written.

The ONNX exporter is the only place where rnnkit's layers run as plain ONNX operators: while it runs,
``torch.onnx.is_in_onnx_export()`` is true and the recurrent layers take a path the exporter can
translate, so the graph needs nothing from rnnkit at inference time.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .part import ExportPart
from .spec import Signature, build_signature, label_dims


@dataclass
class OnnxArtefact:
    """An exported ONNX model in memory.

    Attributes:
        data: the serialised ModelProto (what gets written).
        signature: its inputs and outputs, symbolic sizes named after the export's axes.
        opset: the default-domain opset the graph uses.
    """

    data: bytes
    signature: Signature
    opset: int
    _session: object = None

    def session(self):
        """An onnxruntime InferenceSession on ``data`` (made once)."""
        if self._session is None:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3  # errors only
            self._session = ort.InferenceSession(self.data, options, providers=["CPUExecutionProvider"])
        return self._session

    def run(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        sess = self.session()
        feeds = {
            spec.name: x.detach().cpu().numpy() for spec, x in zip(self.signature.inputs, inputs, strict=True)
        }
        return tuple(torch.from_numpy(np.asarray(o)) for o in sess.run(None, feeds))


@contextlib.contextmanager
def quiet_exporter() -> Iterator[None]:
    """Silence the exporters' progress prints, their log records (a failed trace dumps its whole graph
    there; the exception says what failed) and the warnings of their dependencies; errors still raise."""
    names = [n for n in logging.root.manager.loggerDict if n.split(".")[0] in ("torch", "onnxscript")]
    loggers = [logging.getLogger(n) for n in ("torch", "onnxscript", *names)]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _onnx_dtype(elem_type: int) -> str:
    import onnx

    return str(np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type)))


def export_part_onnx(part: ExportPart, opset: int | None = None) -> OnnxArtefact:
    """Export one part to ONNX in memory (dynamic batch; time where the traced path allows it)."""
    with quiet_exporter(), torch.no_grad():
        program = torch.onnx.export(
            part.module,
            part.example,
            dynamo=True,
            dynamic_shapes=part.dynamic_shapes(),
            input_names=list(part.inputs),
            output_names=list(part.outputs),
            opset_version=opset,
            verbose=False,
            optimize=True,
        )
    proto = program.model_proto
    shapes, dtypes = {}, {}
    for value in [*proto.graph.input, *proto.graph.output]:
        t = value.type.tensor_type
        shapes[value.name] = tuple(
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim
        )
        dtypes[value.name] = _onnx_dtype(t.elem_type)
    missing = [n for n in (*part.inputs, *part.outputs) if n not in shapes]
    if missing:
        raise RuntimeError(f"the ONNX graph lacks the tensors {missing} (it has {sorted(shapes)})")
    labelled = label_dims({n: shapes[n] for n in shapes}, part.axes)
    _rename_dims(proto, labelled)
    opset_used = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), -1)
    signature = build_signature(labelled, dtypes, part.inputs, part.outputs, part.docs, part.notes)
    return OnnxArtefact(proto.SerializeToString(), signature, int(opset_used))


def _rename_dims(proto, labelled: dict[str, tuple[object, ...]]) -> None:
    """Write the axis labels into the graph's inputs and outputs (``batch`` instead of ``s23``)."""
    for value in [*proto.graph.input, *proto.graph.output]:
        for d, size in zip(value.type.tensor_type.shape.dim, labelled[value.name], strict=True):
            if isinstance(size, str):
                d.dim_param = size
