"""``rnnkit tour``: short runs of every demo and one report of them all (Markdown + self-contained HTML).

from rnnkit.tour import TourOptions, run_tour, select
result = run_tour(TourOptions(out=Path("runs/tour"), demos=select("text,music")))
"""

from .demos import DEMO_NAMES, DEMOS, Demo, select
from .report import DemoRun, summary_table
from .run import TourOptions, TourResult, run_tour

__all__ = [
    "DEMOS",
    "DEMO_NAMES",
    "Demo",
    "DemoRun",
    "TourOptions",
    "TourResult",
    "run_tour",
    "select",
    "summary_table",
]
