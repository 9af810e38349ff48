"""Record a finished tour so that the README's tour figures come from it.

    rnnkit tour                                   # writes runs/tour/report.json
    python benchmarks/record_tour.py [runs/tour]  # -> benchmarks/results/tours/<date>-<cpu family>.json
    python benchmarks/update_readme.py            # the README's tour section from every record

Run it on the machine that ran the tour (the record describes this machine). A --smoke tour is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rnnkit.tour.records import record_tour

ROOT = Path(__file__).resolve().parent.parent

if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) > 1 or args[:1] in (["-h"], ["--help"]):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    tour = Path(args[0]) if args else Path("runs") / "tour"
    try:
        path = record_tour(tour, ROOT / "benchmarks" / "results" / "tours")
    except (OSError, ValueError) as e:
        print(f"record_tour: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"wrote {path}")
