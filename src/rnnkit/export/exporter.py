"""``export_onnx`` and ``export_pt2``: a model of any of rnnkit's shapes to files a runtime loads, each
checked against PyTorch before it is written, plus a JSON sidecar saying how to use them.

Every part (see :mod:`.plan`) is exported in memory, run in its runtime (onnxruntime, or the loaded
ExportedProgram) on several batch sizes and time lengths and compared with the PyTorch module; only
when every part agrees are the files written, atomically. ``lengths``: None takes them where the model
shape has them and the export path can trace them, and says so in a note where it cannot.

Example::

    result = export_onnx(model, "model.onnx")     # a seq2seq: model.encoder.onnx + model.decoder.onnx
    print(result.format_signature())
    result = export_pt2(model, "model.pt2", metadata={"itos": itos})
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from .._io import atomic_write_bytes, atomic_write_text
from .check import ATOL, RTOL, check_part
from .part import ExportPart
from .plan import model_kind, plan_parts, takes_lengths
from .result import ExportedFile, ExportResult, compact_json

FORMATS = ("onnx", "pt2")


def part_paths(path: Path, parts: list[ExportPart]) -> list[Path]:
    """``model.onnx`` for one part; ``model.encoder.onnx``, ``model.decoder.onnx`` for several."""
    if len(parts) == 1:
        return [path]
    return [path.with_name(f"{path.stem}.{p.name}{path.suffix}") for p in parts]


def _is_data_dependent(error: BaseException) -> bool:
    """Whether an export failed because the traced code reads tensor values (as lengths checks do)."""
    seen: BaseException | None = error
    while seen is not None:
        text = f"{type(seen).__name__} {seen}"
        if "GuardOnDataDependent" in text or "data-dependent" in text or "data dependent" in text:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ExportFailedError(RuntimeError):
    """The exporter could not capture a part (the cause says why); nothing was written."""


def _export_parts(
    parts: list[ExportPart], export_part: Callable[[ExportPart], Any], fmt: str, kind: str
) -> list[Any]:
    out = []
    for part in parts:
        try:
            out.append(export_part(part))
        except Exception as e:
            first = (str(e).strip().splitlines() or [""])[0][:400]
            raise ExportFailedError(
                f"the {fmt} export of the {kind}'s {part.name} failed ({type(e).__name__}: {first}); "
                "nothing was written"
            ) from e
    return out


def _export(
    model: nn.Module,
    path: str | Path,
    fmt: str,
    export_part: Callable[[ExportPart], Any],
    *,
    example: Tensor | None,
    steps: int | None,
    lengths: bool | None,
    metadata: Mapping[str, Any] | None,
    sidecar: bool,
    atol: float,
    rtol: float,
) -> ExportResult:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    kind = model_kind(model)
    path = Path(path)
    if path.suffix.lower() != f".{fmt}":
        raise ValueError(f"path must end in .{fmt} for format {fmt!r}, got {str(path)!r}")
    if lengths is not None and not isinstance(lengths, bool):
        raise TypeError(f"lengths must be None, True or False, got {type(lengths).__name__}")
    for name, tol in (("atol", atol), ("rtol", rtol)):
        if isinstance(tol, bool) or not isinstance(tol, int | float) or not 0 <= tol < float("inf"):
            raise ValueError(f"{name} must be a finite number >= 0, got {tol!r}")
    try:
        json.dumps(dict(metadata or {}))
    except (TypeError, ValueError) as e:
        raise TypeError(f"metadata must be a JSON-serialisable mapping ({e})") from None
    want_lengths = takes_lengths(model) if lengths is None else lengths
    notes: list[str] = []
    was_training = model.training
    model.eval()
    try:
        parts = plan_parts(model, example=example, steps=steps, lengths=want_lengths)
        try:
            artefacts = _export_parts(parts, export_part, fmt, kind)
        except ExportFailedError as e:
            if not (want_lengths and lengths is None and _is_data_dependent(e)):
                raise
            name = "src_lengths" if kind == "seq2seq" else "lengths"
            note = (
                f"{name} is not an input: this rnnkit cannot trace per-sequence lengths into an exported "
                "graph (its length checks read tensor values). Give every sequence of a batch the same "
                "length (e.g. one per call): padding would change the result."
            )
            notes.append(note)
            parts = plan_parts(model, example=example, steps=steps, lengths=False)
            artefacts = _export_parts(parts, export_part, fmt, kind)
            want_lengths = False
        paths = part_paths(path, parts)
        checks = [
            check_part(p, a.signature, a.run, f"{fmt} {p.name} ({q.name})", atol, rtol)
            for p, a, q in zip(parts, artefacts, paths, strict=True)
        ]
    finally:
        model.train(was_training)
    for a, q in zip(artefacts, paths, strict=True):
        atomic_write_bytes(q, a.data)
    files = [
        ExportedFile(p.name, q, a.signature, c)
        for p, a, q, c in zip(parts, artefacts, paths, checks, strict=True)
    ]
    result = ExportResult(fmt, kind, files, None, want_lengths, notes=notes, tolerance=(atol, rtol))
    if fmt == "onnx":
        result.opset = artefacts[0].opset
    else:
        result.custom_ops = sorted({ns for a in artefacts for ns in a.custom_ops})
        if "rnnkit" in result.custom_ops:
            result.notes.append(
                "the graph calls rnnkit's fused operators: `import rnnkit` before torch.export.load"
            )
    if sidecar:
        result.sidecar = path.with_suffix(".json")
        payload = result.to_json() | {"model": dict(metadata or {})}
        atomic_write_text(result.sidecar, compact_json(payload) + "\n")
    return result


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    example: Tensor | None = None,
    steps: int | None = None,
    lengths: bool | None = None,
    opset: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    sidecar: bool = True,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> ExportResult:
    """Export ``model`` to ONNX file(s) at ``path`` (``.onnx``), checked in onnxruntime first.

    Args:
        model: a SequenceClassifier, SequenceTagger, Forecaster, Generator or Seq2Seq (put in eval mode
            for the export, its mode restored after).
        path: the file; a seq2seq writes ``<stem>.encoder.onnx`` and ``<stem>.decoder.onnx``.
        example: a real input batch (B, T, ...) for whole-sequence models (required with a per-step
            encoder); its T is the time length the graph is fixed at where time cannot be symbolic.
        steps: time length of a random example (seq2seq: source length); default 7.
        lengths: take per-sequence lengths as an input (None: where the model has them and the export
            path traces them; True: required, an error otherwise; False: never).
        opset: the ONNX opset (None: the exporter's default).
        metadata: JSON-able facts to store in the sidecar under ``"model"`` (vocabulary, scalers …).
        sidecar: write ``<stem>.json`` beside the file(s).
        atol, rtol: the check's tolerance (|onnx - pytorch| <= atol + rtol·|pytorch|).
    Raises:
        ExportMismatchError: a part disagrees with PyTorch (nothing is written).
    """
    from .onnx import export_part_onnx

    return _export(
        model,
        path,
        "onnx",
        lambda part: export_part_onnx(part, opset),
        example=example,
        steps=steps,
        lengths=lengths,
        metadata=metadata,
        sidecar=sidecar,
        atol=atol,
        rtol=rtol,
    )


def export_pt2(
    model: nn.Module,
    path: str | Path,
    *,
    example: Tensor | None = None,
    steps: int | None = None,
    lengths: bool | None = None,
    metadata: Mapping[str, Any] | None = None,
    sidecar: bool = True,
    atol: float = ATOL,
    rtol: float = RTOL,
) -> ExportResult:
    """Export ``model`` with ``torch.export`` to ``.pt2`` file(s) at ``path``, each checked as
    ``torch.export.load(file).module()`` first. Arguments as :func:`export_onnx` (no opset)."""
    from .pt2 import export_part_pt2

    return _export(
        model,
        path,
        "pt2",
        export_part_pt2,
        example=example,
        steps=steps,
        lengths=lengths,
        metadata=metadata,
        sidecar=sidecar,
        atol=atol,
        rtol=rtol,
    )
