"""``rnnkit tour``: short runs of every demo, one after another, and a report of all of them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli import in_words
from ..tour.demos import DEMO_NAMES
from ._cli import check_out_dir, cli_errors

EPILOG = """\
demos (in order): text, stocks, series, music, jump, compose — each is `rnnkit train --task NAME
--preset tour` with its share of the time budget; see the README for the full-budget runs.

outputs in --out (default runs/tour):
  report.md, report.html   a table of contents, every metric beside its baselines, captioned plots, a
                           text sample, a melody (MIDI, audio, piano roll), Smart Compose completions,
                           the jump controls; the HTML is self-contained (images, MIDI and audio embedded)
  report.json              the summary rows and the facts of the run
  <task>-<timestamp>/      each demo's run directory (checkpoints, metrics, plots): rnnkit generate /
                           evaluate / forecast / compose and rnnkit.load_run() find them

examples:
  rnnkit tour                              # everything, ≈10 minutes on 2 CPU cores
  rnnkit tour --only text,music            # some demos
  rnnkit tour --skip jump --minutes 6      # a tighter budget for the rest
  rnnkit tour --smoke --out /tmp/tour      # seconds per demo: checks that everything runs

exit status: 0 when every demo finished, 1 when one failed (the others still run and are reported),
130 when interrupted (the report holds what finished), 2 for bad options."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tour",
        help=f"short runs of all {in_words(len(DEMO_NAMES))} demos ({', '.join(DEMO_NAMES)}) and a report "
        "(the main job, within a 10-minute budget)",
        description="Train short versions of every demo — KJV char-rnn, stock and series forecasts, "
        "Bach melodies, the jumping dog, Smart Compose — one after another within a total time budget, "
        "then write report.md and report.html with every metric next to the baselines computed in the "
        "same run, and print a summary table.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", default="runs/tour", metavar="DIR", help="folder of the report and runs (default runs/tour)"
    )
    p.add_argument("--only", metavar="NAMES", help="comma-separated demos to run (default: all)")
    p.add_argument("--skip", metavar="NAMES", help="comma-separated demos to leave out")
    p.add_argument(
        "--minutes",
        type=float,
        default=10.0,
        metavar="M",
        help="total wall-clock budget, shared among the demos' training loops (default 10)",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny models, a few steps each: same code paths and outputs, seconds",
    )
    p.add_argument(
        "--series", choices=("glucose", "sst"), help="built-in series of the series demo (default glucose)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto)")
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="torch CPU threads (default: torch's; 1 when the machine is already busy)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


@cli_errors("tour")
def run(args: argparse.Namespace) -> int:
    from ..tour.demos import select
    from ..tour.report import summary_table
    from ..tour.run import TourOptions, run_tour

    if args.minutes is not None and args.minutes <= 0:
        raise ValueError(f"--minutes must be > 0, got {args.minutes}")
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads must be >= 1, got {args.threads}")
    check_out_dir("--out", args.out)
    opts = TourOptions(
        out=Path(args.out),
        demos=select(args.only, args.skip),
        minutes=args.minutes,
        smoke=args.smoke,
        seed=args.seed,
        device=args.device,
        threads=args.threads,
        progress=not args.no_progress,
        series=args.series,
    )
    result = run_tour(opts)
    print(f"\nrnnkit tour: {result.facts.seconds / 60:.1f} min in all ({result.facts.machine})\n")
    print(summary_table(result.runs))
    print(f"\nreport: {result.report_md} and {result.report_html}")
    failed = [r.demo.name for r in result.runs if r.status == "failed"]
    if failed:
        print(
            f"rnnkit tour: {len(failed)} demo(s) failed: {', '.join(failed)} (see the report)",
            file=sys.stderr,
        )
    return result.exit_code
