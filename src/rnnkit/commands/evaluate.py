"""``rnnkit evaluate``: a trained run's metrics on a split, next to baselines computed in the same call."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from typing import Any

from ._cli import cli_errors


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..tasks.registry import list_tasks

    p = sub.add_parser(
        "evaluate",
        help="metrics of a trained run next to its baselines",
        description="Load a run's checkpoint, evaluate it on the validation (or test) split and print the "
        "metrics beside the task's baselines, recomputed here on the same split: each metric marked ↓ "
        "(lower is better) or ↑ (higher is better), then one line per metric saying whether the model "
        "beats the best baseline. The result is also written to <run>/eval-<split>-<checkpoint>.json.",
        epilog="examples:\n  rnnkit evaluate                       # the latest run\n"
        "  rnnkit evaluate runs/text-20260101-120000 --checkpoint last",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", nargs="?", help="run directory or checkpoint file (default: the latest run)")
    p.add_argument("--task", choices=list_tasks(), help="pick the latest run of this task")
    p.add_argument(
        "--checkpoint", choices=("best", "last"), default="best", help="which checkpoint (default best)"
    )
    p.add_argument("--split", default="val", help="val or test, as the task provides (default val)")
    p.add_argument(
        "--out-dir",
        default="runs",
        help="where to look for the latest run: DIR/<run> and DIR/*/<run>, "
        "such as the tour's runs/tour/<run> (default runs)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.set_defaults(func=run)


@cli_errors("evaluate")
def run(args: argparse.Namespace) -> int:
    from .._io import atomic_write_text
    from ..tasks.runner import choose_run, evaluate_run, load_run

    path = choose_run(args.run, args.out_dir, args.task)  # the run's line below names it
    loaded = load_run(path, args.checkpoint, args.device, tasks=[args.task] if args.task else None)
    print(f"run: {loaded.run_dir}  checkpoint: {loaded.checkpoint.name}  task: {loaded.task.name}")
    metrics, baselines, _ = evaluate_run(loaded, args.split)
    directions = metric_directions(loaded.task, metrics, loaded.task.monitor)
    judged = verdicts(metrics, baselines, directions)
    print(f"\n{args.split} split (↓ lower is better, ↑ higher is better):")
    print(metric_table(metrics, baselines, directions))
    print("\nagainst the best baseline of each metric:")
    print(verdict_lines(judged, directions))
    out = {
        "split": args.split,
        "checkpoint": str(loaded.checkpoint),
        "metrics": metrics,
        "baselines": baselines,
        "directions": directions,
        "verdicts": judged,
    }
    target = loaded.run_dir / f"eval-{args.split}-{loaded.checkpoint.stem}.json"
    atomic_write_text(target, json.dumps(out, indent=2) + "\n")
    print(f"wrote {target}", file=sys.stderr)
    return 0


ARROWS = {"min": "↓", "max": "↑", None: ""}


def metric_directions(
    task: Any, metrics: Mapping[str, float], first: str | None = None
) -> dict[str, str | None]:
    """Metric → "min" / "max" / None (see :meth:`rnnkit.tasks.base.Task.direction`), in the order the
    table shows them: ``first`` (the task's monitor) on top, then the task's order; ``count`` left out."""
    names = sorted((k for k in metrics if k != "count"), key=lambda k: k != first)
    return {n: task.direction(n) for n in names}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"


def _label(metric: str, direction: str | None) -> str:
    return f"{metric} {ARROWS[direction]}".rstrip()


def metric_table(
    metrics: Mapping[str, float],
    baselines: Mapping[str, Mapping[str, float]],
    directions: Mapping[str, str | None],
) -> str:
    """Rows: each metric with its ↓/↑; columns: the model, then each baseline (``-`` where it lacks the
    metric); every column as wide as its widest cell."""
    header = ["metric", "model", *baselines]
    rows = [
        [_label(n, d), _fmt(metrics[n]), *(_fmt(b.get(n)) for b in baselines.values())]
        for n, d in directions.items()
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = []
    for r in (header, *rows):
        cells = [r[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def verdicts(
    metrics: Mapping[str, float],
    baselines: Mapping[str, Mapping[str, float]],
    directions: Mapping[str, str | None],
) -> dict[str, dict[str, Any]]:
    """Per metric with a better side and a baseline that reports it: the best baseline (lowest for
    "min", highest for "max"; non-finite values never count as best), its value and whether the model
    beats it (strictly: a tie does not beat)."""
    out: dict[str, dict[str, Any]] = {}
    for name, direction in directions.items():
        have = {b: m[name] for b, m in baselines.items() if name in m and math.isfinite(m[name])}
        if direction is None or not have:
            continue
        pick = min if direction == "min" else max
        best = pick(have, key=have.__getitem__)
        ours = metrics[name]
        beats = ours < have[best] if direction == "min" else ours > have[best]
        out[name] = {"best_baseline": best, "baseline": have[best], "model": ours, "beats": bool(beats)}
    return out


def verdict_lines(judged: Mapping[str, Mapping[str, Any]], directions: Mapping[str, str | None]) -> str:
    """One line per metric: ``mae ↓  beats persistence (0.1200 vs 0.2500)`` or ``does NOT beat``; metrics
    without a better side or without a baseline say so."""
    width = max(len(_label(n, d)) for n, d in directions.items())
    lines = []
    for name, direction in directions.items():
        label = _label(name, direction).ljust(width)
        v = judged.get(name)
        if direction is None:
            lines.append(f"  {label}  not compared (no better side: a control)")
        elif v is None:
            lines.append(f"  {label}  not compared (no baseline reports it)")
        else:
            word = "beats" if v["beats"] else "does NOT beat"
            tie = v["model"] == v["baseline"]
            values = f"a tie at {_fmt(v['model'])}" if tie else f"{_fmt(v['model'])} vs {_fmt(v['baseline'])}"
            lines.append(f"  {label}  {word} {v['best_baseline']} ({values})")
    return "\n".join(lines)
