"""``rnnkit forecast``: the next values of a series from a trained ``stocks`` or ``series`` run."""

from __future__ import annotations

import argparse
import sys

from ._cli import check_out_file, cli_errors

FORECAST_TASKS = ("stocks", "series")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "forecast",
        help="forecast the next values of a series from a trained stocks/series run",
        description="Load a trained forecasting run and predict the steps after the end of its data "
        "(or of another file with the same columns), in the data's own units, next to the naive "
        "baselines' forecasts.",
        epilog="examples:\n  rnnkit train --task stocks && rnnkit forecast --task stocks\n"
        "  rnnkit forecast --task series --csv my.csv --column load --date-column time --out next.csv",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run", nargs="?", help="run directory or checkpoint (default: the latest run of --task)")
    p.add_argument(
        "--task", choices=FORECAST_TASKS, default="stocks", help="pick the latest run of this task"
    )
    p.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which checkpoint")
    p.add_argument("--csv", metavar="FILE", help="forecast this CSV instead of the run's data")
    p.add_argument(
        "--column", metavar="NAME", help="series task: the header of the --csv column to forecast, e.g. load"
    )
    p.add_argument(
        "--date-column", metavar="NAME", help="series task: the header of the --csv column of timestamps"
    )
    p.add_argument(
        "--out", metavar="FILE", help="also write the forecasts, the model's and the baselines', to this CSV"
    )
    p.add_argument(
        "--out-dir",
        default="runs",
        help="where to look for the latest run: DIR/<run> and DIR/*/<run>, "
        "such as the tour's runs/tour/<run> (default runs)",
    )
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    p.set_defaults(func=run)


@cli_errors("forecast")
def run(args: argparse.Namespace) -> int:
    from ..tasks.runner import choose_run, load_run

    check_out_file("--out", args.out)
    path = choose_run(args.run, args.out_dir, args.task, echo=lambda s: print(s, file=sys.stderr))
    loaded = load_run(path, args.checkpoint, args.device, tasks=FORECAST_TASKS)
    forecast = getattr(loaded.task, "forecast", None)
    if forecast is None:
        raise ValueError(
            f"run {str(path)!r} is a {loaded.task.name!r} run; rnnkit forecast needs a "
            f"run of one of {FORECAST_TASKS}"
        )
    status = forecast(loaded, args)
    if args.out and status == 0:
        print(f"wrote {args.out}", file=sys.stderr)
    return status
