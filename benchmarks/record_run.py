"""Record a finished training run so that the README's figures of its task come from it.

    rnnkit train --task stocks                                   # runs/stocks-<timestamp>/
    python benchmarks/record_run.py runs/stocks-<timestamp> --label default
    python benchmarks/update_readme.py                           # the README's stocks figures

``--label`` names the configuration: ``default`` for ``rnnkit train --task NAME`` as it ships. Run it
on the machine that trained the run (the record describes this machine). The record goes to
``benchmarks/results/run-records/<task>-<label>-<date>-<cpu family>.json``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rnnkit.tasks.records import record_run

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_dir", type=Path, help="the finished run's directory")
    parser.add_argument("--label", default="default", help="the configuration's name (default: default)")
    args = parser.parse_args()
    try:
        path = record_run(args.run_dir, ROOT / "benchmarks" / "results" / "run-records", args.label)
    except (OSError, ValueError) as e:
        print(f"record_run: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"wrote {path}")
