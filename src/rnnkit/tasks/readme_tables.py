"""The README's figures of the trained demos, rendered from recorded runs (``tasks/records.py``): each
section names the run it comes from (date, machine, steps, minutes) and restates the run's own report
(``forecast.json`` …), so that no figure is typed by hand."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

from .records import RunRecord, newest

_FORECASTERS = {"persistence": "persistence", "ar5": "AR(5) on log-returns", "ma5": "moving average (5 days)"}


def _model_name(rec: RunRecord) -> str:
    cell = str(rec.config.get("model", {}).get("cell", "lstm"))
    return {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN", "urlstm": "UR-LSTM"}.get(cell, cell)


def render_stocks_section(folder: Path) -> str:
    """Test RMSE 1 day ahead per ticker and the pooled direction, for the network and every baseline."""
    rec = newest(folder, "stocks")
    report = rec.reports.get("forecast.json")
    if report is None:
        raise ValueError(f"{str(rec.path)!r} holds no forecast.json report")
    rows = report["rows"]
    tickers = list(dict.fromkeys(r["ticker"] for r in rows))
    model = next(r["forecaster"] for r in rows if r["forecaster"] not in _FORECASTERS)
    rmse = {(r["ticker"], r["forecaster"]): r["rmse"] for r in rows if r["h"] == 1}
    test = rec.summary["metrics"]["test"]
    base = rec.summary["baselines"]["test"]
    lines = [
        f"Measured {rec.describe()} (`rnnkit train --task stocks`, one seed): {report['verdict']}.",
        "",
        "| test, 1 day ahead (RMSE $) | " + " | ".join(tickers) + " | direction (pooled) |",
        "|---|" + "---|" * (len(tickers) + 1),
    ]
    for name, label in [(model, _model_name(rec)), *_FORECASTERS.items()]:
        direction = test["dir_1d"] if name == model else base.get(name, {}).get("dir_1d")
        cells = [f"{rmse[(t, name)]:.3f}" for t in tickers]
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {'' if direction is None else f'{direction:.3f}'} |"
        )
    if "always up" in base:
        lines.append("| always up | " + " | " * len(tickers) + f"{base['always up']['dir_1d']:.3f} |")
    ratios = {n: [r["ratio"] for r in rows if r["forecaster"] == n] for n in (model, "ar5")}
    lines += [
        "",
        f"Over the tickers and both horizons the network's test RMSE is {min(ratios[model]):.3f}–"
        f"{max(ratios[model]):.3f}× persistence's (mean {mean(ratios[model]):.3f}), the linear AR(5)'s "
        f"{min(ratios['ar5']):.3f}–{max(ratios['ar5']):.3f}×.",
    ]
    return "\n".join(lines) + "\n"
