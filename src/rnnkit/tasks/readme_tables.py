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


#: series labels of the README's series table -> how the row names the series
_SERIES = {"glucose": "glucose (mg/dL, 2 h)", "sst": "sea-surface temp. (°C, 12 h)"}


def render_series_section(folder: Path, labels: tuple[str, ...] = ("default", "sst")) -> str:
    """Test MAE at the last forecast step for the network and every naive baseline, one row per recorded
    series (labels), with the floor's verdict (MAE ≤ 0.9× the best naive baseline)."""
    recs = [newest(folder, "series", label) for label in labels]
    lines = [
        "| test MAE at the last step | network | persistence | seasonal 1 day | training mean "
        "| linear AR(24) | network ÷ best naive |",
        "|---|---|---|---|---|---|---|",
    ]
    runs = []
    for rec in recs:
        report = rec.reports.get("forecast.json")
        if report is None:
            raise ValueError(f"{str(rec.path)!r} holds no forecast.json report")
        name = str(rec.config.get("data", {}).get("series", rec.label))
        base = report["baselines"]
        cells = [report["network"]["mae"]] + [
            base[k]["mae"] for k in ("persistence", "seasonal_1d", "mean", "ar24")
        ]
        digits = 3 if max(cells) < 10 else 1
        verdict = (
            f"**{report['ratio']:.3f} — floor met**"
            if report["floor_met"]
            else f"{report['ratio']:.3f} — not met"
        )
        lines.append(
            f"| {_SERIES.get(name, name)} | "
            + " | ".join(f"{v:.{digits}f}" for v in cells)
            + f" | {verdict} |"
        )
        runs.append(f"{name}: {rec.describe()}")
    lines += [
        "",
        f"The network is an {_model_name(recs[0])} (`rnnkit train --task series`, one seed per series); "
        f"measured {'; '.join(runs)}.",
    ]
    return "\n".join(lines) + "\n"


def render_music_section(folder: Path) -> str:
    """Held-out perplexity per event and the key share of generated notes, for the network, the
    baselines and the references (the held-out melodies themselves, random notes)."""
    rec = newest(folder, "music")
    report = rec.reports.get("music.json")
    if report is None:
        raise ValueError(f"{str(rec.path)!r} holds no music.json report")
    base, keys = report["baselines"], report["key_share"]
    best = report["ppl"] < min(b["ppl"] for b in base.values())
    ppl = f"**{report['ppl']:.2f}**" if best else f"{report['ppl']:.2f}"
    lines = [
        "| held-out test melodies | per-event perplexity | notes in the primer's key |",
        "|---|---|---|",
        f"| {_model_name(rec)} | {ppl} | {keys['network']:.2f} |",
        f"| bigram Markov (add-α, α and data chosen on validation) | {base['bigram']['ppl']:.2f} | "
        f"{keys['bigram']:.2f} |",
        f"| unigram | {base['unigram']['ppl']:.2f} | — |",
        f"| the held-out melodies themselves | — | {keys['held-out melodies']:.2f} |",
        f"| random notes | — | {keys['random notes']:.2f} |",
        "",
        f"Measured {rec.describe()} (`rnnkit train --task music`, one seed): {report['verdict']}.",
    ]
    return "\n".join(lines) + "\n"
