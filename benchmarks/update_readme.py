"""Rewrite every generated section of the README, and redraw its generated figures, from the committed
result files.

    python benchmarks/update_readme.py            # rewrite what changed, list it
    python benchmarks/update_readme.py --check    # exit 1 and list the stale sections/figures, change nothing

The sections and their renderers are listed in ``rnnkit.readme.SECTIONS``, the figures in
``rnnkit.readme.FIGURES``; ``tests/test_readme_sync.py`` runs the same check in CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rnnkit._io import atomic_write_text
from rnnkit.readme import draw_figures, regenerate, stale_figures, stale_sections

ROOT = Path(__file__).resolve().parent.parent
README, RESULTS = ROOT / "README.md", ROOT / "benchmarks" / "results"


def main(argv: list[str]) -> int:
    if argv not in ([], ["--check"]):
        print(__doc__, file=sys.stderr)
        return 2
    text = README.read_text(encoding="utf-8")
    stale = stale_sections(text, RESULTS)
    if argv == ["--check"]:
        stale += stale_figures(ROOT, RESULTS)
        print("stale: " + ", ".join(stale) if stale else "README is in sync with the results")
        return 1 if stale else 0
    new = regenerate(text, RESULTS)
    if new != text:
        atomic_write_text(README, new)
    stale += draw_figures(ROOT, RESULTS)
    print("rewrote: " + ", ".join(stale) if stale else "README already in sync with the results")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
