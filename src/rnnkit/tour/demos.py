"""The demos of ``rnnkit tour``: which task each runs, which split and metrics it reports, the headline
metric of the summary table and where its full-budget numbers come from.

Every number a demo reports comes from the task's own run (``rnnkit.tasks.runner.train``): the model's
metrics on the reported split next to the baselines the task computed on the same split in the same run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Demo:
    """One demo of the tour.

    Attributes:
        name: the task it trains (``rnnkit train --task NAME --preset tour``), also its ``--only`` name.
        title: the section heading.
        about: what it shows, one paragraph.
        split: the split whose metrics are reported ("test", or "val" where the task has no test split).
        headline: the metric of the summary table.
        full_run: the command (and budget) behind the full-length numbers in the README.
    """

    name: str
    title: str
    about: str
    split: str
    headline: str
    full_run: str


DEMOS: tuple[Demo, ...] = (
    Demo(
        "text",
        "text — a character language model on the King James Bible (one-to-many)",
        "An LSTM reads the KJV one character at a time (truncated BPTT) and predicts the next one; the "
        "validation text is whole held-out books. Bits per character next to a unigram and a bigram "
        "model fitted on the training text in the same run, and a sample it writes.",
        "val",
        "bpc",
        "`rnnkit train --task text` (≈15 min on 2 CPU cores; floor ≤ 2.0 bpc on the held-out books)",
    ),
    Demo(
        "stocks",
        "stocks — next 1 and 5 trading days of AAPL, GOOG, IBM, MSFT (many-to-one)",
        "An LSTM reads 60 days of four scale-free features and forecasts the 1- and 5-day log-returns; "
        "walk-forward split by date, scalers fit on training windows only. Next to persistence "
        "(tomorrow = today), a moving average and a linear AR on log-returns, on the same test days.",
        "test",
        "rmse_1d",
        "`rnnkit train --task stocks` (≈6 min)",
    ),
    Demo(
        "series",
        "series — a series with learnable structure, 24 steps ahead (many-to-many)",
        "An LSTM forecasts every step 1 … 24 ahead at once from a window of the series and its time of "
        "day; chronological split. Next to persistence, seasonal naive and the training mean (the floor "
        "is MAE ≤ 0.9 × the best of them) and a linear AR, on the same test origins.",
        "test",
        "mae",
        "`rnnkit train --task series` (≈5 min; glucose) and `--set data.series=sst`",
    ),
    Demo(
        "music",
        "music — from one note, a song (one-to-many)",
        "An event-level LSTM language model over the (pitch | rest, duration) events of Bach chorale "
        "melodies, held out by tune, trained with random transpositions. Held-out perplexity per event "
        "next to unigram and bigram Markov models, the share of generated notes in the primer's key, and "
        "a melody generated from C4 as MIDI with its piano roll.",
        "test",
        "ppl",
        "`rnnkit train --task music` (≈5 min)",
    ),
    Demo(
        "jump",
        'jump — video frames → "does the dog jump?" (many-to-one)',
        "A per-frame CNN feeds an LSTM that classifies generated clips of a dog running, walking, sitting "
        "or jumping (camera bob, distractors, noise; no single frame answers). Controls in the same run: "
        "the majority class, the same CNN on single frames (pooled), and the model itself on the same "
        "clips with their frames shuffled, which must score clearly lower if the model uses motion.",
        "test",
        "accuracy",
        "`rnnkit train --task jump` (≈5 min; floor ≥ 0.95 test accuracy)",
    ),
    Demo(
        "compose",
        "compose — Smart Compose on KJV verses (encoder-decoder)",
        "A word-level Seq2Seq with attention reads the start of a verse and proposes its next words (beam "
        "search). Next-word top-1 / top-3 accuracy and exact match of 3-word continuations next to "
        "bigram and trigram models fitted on the training books and scored the same way.",
        "test",
        "top1",
        "`rnnkit train --task compose` (≈10 min)",
    ),
)

DEMO_NAMES: tuple[str, ...] = tuple(d.name for d in DEMOS)

# metric key -> (label, lower is better)
_LABELS: dict[str, tuple[str, bool]] = {
    "bpc": ("bits per character", True),
    "mae": ("MAE at the last step", True),
    "rmse": ("RMSE at the last step", True),
    "mae_avg": ("MAE over all steps ahead", True),
    "ppl": ("perplexity per event", True),
    "accuracy": ("accuracy", False),
    "shuffled_accuracy": ("accuracy, frames shuffled (order control)", False),
    "top1": ("next-word top-1 accuracy", False),
    "top3": ("next-word top-3 accuracy", False),
    "exact3": ("exact match, 3-word continuation", False),
}
_STOCK = re.compile(r"(rmse|mae|dir)_(\d+)d")


def metric_label(key: str) -> tuple[str, bool] | None:
    """(label, lower is better) of a reported metric, or None for metrics the tour does not show."""
    if key in _LABELS:
        return _LABELS[key]
    m = _STOCK.fullmatch(key)
    if m is None:
        return None
    kind, h = m.groups()
    day = "day" if h == "1" else "days"
    if kind == "dir":
        return f"directional accuracy, {h} {day}", False
    return f"{kind.upper()} of the {h}-day log-return (%)", True


def get_demo(name: str) -> Demo:
    for d in DEMOS:
        if d.name == name:
            return d
    raise ValueError(f"demo must be one of {list(DEMO_NAMES)}, got {name!r}")


def parse_names(text: str, option: str) -> list[str]:
    """``"text,music"`` → ``["text", "music"]`` checked against the demo names (ValueError names
    ``option``)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEMO_NAMES]
    if not names or unknown:
        got = ", ".join(unknown) if unknown else repr(text)
        raise ValueError(f"{option} takes a comma-separated list of {', '.join(DEMO_NAMES)}; got {got}")
    return names


def select(only: str | None = None, skip: str | None = None) -> list[Demo]:
    """The demos to run, in tour order."""
    keep = set(parse_names(only, "--only")) if only else set(DEMO_NAMES)
    drop = set(parse_names(skip, "--skip")) if skip else set()
    chosen = [d for d in DEMOS if d.name in keep and d.name not in drop]
    if not chosen:
        raise ValueError(f"--only/--skip leave no demo to run (demos: {', '.join(DEMO_NAMES)})")
    return chosen
