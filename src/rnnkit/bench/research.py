"""The README's research tables, rendered from the committed result files: the gating reproduction of
Gu et al. (``gating.json``, written by ``benchmarks/gating_report.py``) and the vanishing-gradient
diagnosis of the adding-problem runs (``diagnose-adding/summary.json``, written by ``rnnkit diagnose``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: README rows of the gating table: experiment -> (label, measure, key of the mean, lower is better)
GATING_ROWS: dict[str, tuple[str, str, str, bool]] = {
    "adding200": ("adding, T = 200", "test MSE ÷ always-1", "test_ratio", True),
    "copy100": ("copy, L = 100", "test loss ÷ memoryless", "test_ratio", True),
    "seqdigits": ("digits pixel by pixel", "test accuracy", "test_accuracy", False),
    "pseqdigits": ("permuted digits", "test accuracy", "test_accuracy", False),
}
GATING_CELLS: dict[str, str] = {
    "lstm": "LSTM",
    "lstm_fb1": "LSTM, forget bias 1",
    "gru": "GRU",
    "urlstm": "UR-LSTM",
    "urgru": "UR-GRU",
}
#: diagnosis rows: summary key prefix -> README label (trained runs: the steps come from the gating runs)
DIAGNOSE_ROWS = (
    ("lstm init", "LSTM at initialisation"),
    ("lstm trained", "LSTM after {steps} steps"),
    ("gru trained", "GRU after {steps} steps"),
    ("urlstm init", "UR-LSTM at initialisation (UGI)"),
    ("urlstm trained", "UR-LSTM after {steps} steps"),
)


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read the result file {str(path)!r}: {e}") from None


def render_gating_section(results: Path) -> str:
    """The gating table (mean ± std over seeds, the best cell in bold) and when the runs were trained."""
    data = _load(Path(results) / "gating.json")
    rows = {(r["experiment"], r["cell"]): r for r in data["rows"]}
    lines = [
        "| experiment | measure | " + " | ".join(GATING_CELLS.values()) + " |",
        "|---|---|" + "---|" * len(GATING_CELLS),
    ]
    dates: dict[str, set[str]] = {}
    for exp, (label, measure, key, lower) in GATING_ROWS.items():
        cells = [rows.get((exp, c)) for c in GATING_CELLS]
        present = [r for r in cells if r is not None]
        if not present:
            raise ValueError(f"gating.json has no rows for experiment {exp!r}")
        means = [r[f"{key}_mean"] for r in present]
        best = min(means) if lower else max(means)
        text = []
        for r in cells:
            if r is None:
                text.append("—")
                continue
            value = f"{r[f'{key}_mean']:.3f} ± {r[f'{key}_std']:.3f}"
            text.append(f"**{value}**" if r[f"{key}_mean"] == best else value)
            dates.setdefault(r.get("measured", "?"), set()).add(label.split(",")[0])
        steps = present[0]["steps"]
        lines.append(f"| {label} ({steps:,} steps) | {measure} | " + " | ".join(text) + " |")
    when = "; ".join(f"{', '.join(sorted(what))} trained {date}" for date, what in sorted(dates.items()))
    lines += ["", f"Mean ± std over the seeds of each row ({when}; `gating.md` names the machines)."]
    return "\n".join(lines) + "\n"


def _sci(x: float) -> str:
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def render_diagnose_section(results: Path) -> str:
    """The gradient-distance table of the adding-problem runs."""
    summary = _load(Path(results) / "diagnose-adding" / "summary.json")
    gating = _load(Path(results) / "gating.json")
    steps = {r["cell"]: r["steps"] for r in gating["rows"] if r["experiment"] == "adding200"}
    lines = [
        "| adding T = 200 | ‖∂L/∂h_t‖ 199 steps back | per step | median memory timescale "
        "| units > 10 steps |",
        "|---|---|---|---|---|",
    ]
    for prefix, label in DIAGNOSE_ROWS:
        key = next((k for k in summary if k.startswith(prefix + " ")), None)
        if key is None:
            raise ValueError(f"diagnose-adding/summary.json has no entry {prefix!r} …")
        s = summary[key]
        back = s["h_norm_at_distance"][str(s["steps"] - 1)]
        name = label.format(steps=f"{steps.get(prefix.split()[0], 0):,}")
        lines.append(
            f"| {name} | {_sci(back)} | ×{s['factor_per_step']:.3f} | {s['timescale']['median']:.1f} steps | "
            f"{100 * s['timescale']['share_over_10']:.0f}% |"
        )
    return "\n".join(lines) + "\n"
