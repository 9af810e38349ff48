"""``rnnkit export``: a trained run's model to ONNX or a torch.export program (.pt2), checked against
PyTorch before it is written, with a JSON sidecar holding what a user of the file needs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._cli import check_out_file, cli_errors

DESCRIPTION = """\
Export a trained run's model for deployment, in the form each model shape is used:

  classifier, tagger   the whole sequence: x (batch, time, ...) [, lengths] -> logits
  forecaster           raw window (batch, window, features) [, lengths] -> forecast in the original
                       units (the scalers are inside the graph)
  generator            ONE step: token (batch,), h[, c] -> logits (batch, vocab), h_next[, c_next];
                       loop it, feeding back the state (text, music)
  seq2seq              encoder: src (batch, source)[, src_lengths] -> decoder's initial state
                       [+ memory, keys, mask with attention]; decoder: ONE step from a token and the
                       state (compose)

Batch is always a free (symbolic) size; time is free too where the exported path allows it (the
signature printed says which sizes are fixed). Every file is run in its runtime right after exporting
(onnxruntime for ONNX, torch.export.load(...).module() for pt2) on several batch sizes and time lengths
and compared with PyTorch; a file that differs by more than 1e-5 (+ 1e-5 relative) is not written.

Beside the file(s) goes <stem>.json: the signature, the vocabulary (itos) or scalers, feature names and
window, the model kind, the opset and the rnnkit/torch versions. A pt2 program that calls rnnkit's fused
operators needs `import rnnkit` before torch.export.load (the sidecar says so: needs_import_rnnkit).
"""

EPILOG = """\
examples:
  rnnkit export runs/text-20260101-120000 --format onnx          # -> runs/text-…/export/text.onnx + text.json
  rnnkit export --task compose --format pt2 --out compose.pt2    # -> compose.encoder.pt2, compose.decoder.pt2
  rnnkit export runs/stocks-20260101-120000 --format onnx --no-lengths
"""


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..tasks.registry import list_tasks

    p = sub.add_parser(
        "export",
        help="export a trained model to ONNX or torch.export (.pt2), checked against PyTorch",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "run",
        nargs="?",
        help="run directory or checkpoint file (default: the latest run, of --task if given)",
    )
    p.add_argument("--format", choices=("onnx", "pt2"), required=True, help="onnx or pt2 (torch.export)")
    p.add_argument(
        "--out",
        metavar="FILE",
        help="the file to write, ending in .onnx/.pt2 (default <run>/export/<task>.<format>); a seq2seq "
        "writes FILE's stem + .encoder/.decoder, the sidecar is FILE's stem + .json",
    )
    p.add_argument("--task", choices=list_tasks(), help="pick the latest run of this task")
    p.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which checkpoint (default best)"
    )
    p.add_argument(
        "--lengths",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="take per-sequence lengths as an input (default: where the model has them and the export "
        "path can trace them); --lengths fails if it cannot, --no-lengths never adds them",
    )
    p.add_argument("--opset", type=int, help="ONNX opset version (default: the exporter's)")
    p.add_argument("--out-dir", default="runs", help="where to look for the latest run (default runs)")
    p.set_defaults(func=run)


@cli_errors("export")
def run(args: argparse.Namespace) -> int:
    from ..export import ExportMismatchError, export_onnx, export_pt2
    from ..export.exporter import ExportFailedError
    from ..export.tasks import task_export
    from ..tasks.runner import latest_run, load_run

    if args.opset is not None and args.format != "onnx":
        raise ValueError(f"--opset applies to --format onnx only, got --format {args.format}")
    if args.opset is not None and args.opset < 1:
        raise ValueError(f"--opset must be a positive int, got {args.opset}")
    path = Path(args.run) if args.run else latest_run(args.out_dir, args.task)
    if args.run and not path.exists():
        raise FileNotFoundError(
            f"run {str(path)!r} does not exist (pass a run directory or a checkpoint file)"
        )
    loaded = load_run(path, args.checkpoint, "cpu", tasks=[args.task] if args.task else None)
    out = Path(args.out) if args.out else loaded.run_dir / "export" / f"{loaded.task.name}.{args.format}"
    if out.suffix.lower() != f".{args.format}":
        raise ValueError(f"--out must end in .{args.format} for --format {args.format}, got {str(out)!r}")
    check_out_file("--out", str(out))
    spec = task_export(loaded)
    kwargs = {
        "example": spec.example,
        "steps": spec.steps,
        "lengths": args.lengths,
        "metadata": spec.metadata,
    }
    print(f"run: {loaded.run_dir}  checkpoint: {loaded.checkpoint.name}  task: {loaded.task.name}")
    try:
        if args.format == "onnx":
            result = export_onnx(loaded.model, out, opset=args.opset, **kwargs)
        else:
            result = export_pt2(loaded.model, out, **kwargs)
    except (ExportMismatchError, ExportFailedError) as e:
        print(f"rnnkit export: error: {e}", file=sys.stderr)
        return 1
    opset = f", opset {result.opset}" if result.opset is not None else ""
    print(f"exported the {result.kind} as {args.format}{opset}:")
    print(result.format_signature())
    for f in result.files:
        runs = ", ".join(f"{b}×{t}" if t is not None else f"{b}" for b, t in f.check.runs)
        print(
            f"checked {f.path.name} against PyTorch on batch{'×time' if f.check.runs[0][1] else ''} {runs}: "
            f"max |difference| {f.check.max_abs_diff:.2g}"
        )
    for f in result.files:
        print(f"wrote {f.path}")
    print(f"wrote {result.sidecar}")
    return 0
