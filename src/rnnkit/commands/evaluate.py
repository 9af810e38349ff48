"""``rnnkit evaluate``: a trained run's metrics on a split, next to baselines computed in the same call."""

from __future__ import annotations

import argparse
import json

from .train import cli_errors


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..tasks.registry import list_tasks

    p = sub.add_parser(
        "evaluate",
        help="metrics of a trained run next to its baselines",
        description="Load a run's checkpoint, evaluate it on the validation (or test) split and print the "
        "metrics beside the task's baselines, recomputed here on the same split. The result is also "
        "written to <run>/eval-<split>-<checkpoint>.json.",
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
    from ..tasks.runner import choose_run, evaluate_run, format_table, load_run
    from ..train.io import atomic_write_text

    path = choose_run(args.run, args.out_dir, args.task)  # the run's line below names it
    loaded = load_run(path, args.checkpoint, args.device, tasks=[args.task] if args.task else None)
    print(f"run: {loaded.run_dir}  checkpoint: {loaded.checkpoint.name}  task: {loaded.task.name}")
    metrics, baselines, _ = evaluate_run(loaded, args.split)
    print(format_table(metrics, baselines, loaded.task.monitor))
    out = {
        "split": args.split,
        "checkpoint": str(loaded.checkpoint),
        "metrics": metrics,
        "baselines": baselines,
    }
    target = loaded.run_dir / f"eval-{args.split}-{loaded.checkpoint.stem}.json"
    atomic_write_text(target, json.dumps(out, indent=2) + "\n")
    return 0
