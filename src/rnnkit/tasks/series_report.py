"""The ``series`` task's test report: the network's MAE H steps ahead beside every baseline's, the
floor (≤ 0.9 × the best naive baseline) met or not, a plot of the forecasts against the truth and a
plot of the error by steps ahead; and forecasts past the end of the series."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .._io import atomic_write_text
from ..baselines.series import change_metrics, naive_forecasts, seasonal_periods
from ..train.config import Config
from .forecasting import decimals, text_table

NAIVE = ("persistence", "seasonal_1d", "seasonal_12h", "mean")
PLOT_POINTS = 576  # the last origins drawn (two days of 5-minute readings)


def write_report(
    source: Any, pred: np.ndarray, baselines: dict, cfg: Config, run_dir: Path
) -> dict[str, Any]:
    """``pred``: the network's predicted changes (S, H) on the test origins; ``baselines``: the test
    metrics of every baseline. Writes ``forecast.md``, ``forecast.json``, ``forecast.png`` and
    ``horizon.png``."""
    from ..plots import plot_forecast, plot_horizon_errors

    data, period = source.meta["series"], source.meta["period"]
    o = data.origins[period]
    H, unit = data.horizon, f" {data.unit}" if data.unit else ""
    y0 = data.values[o][:, None]
    actual = data.actual(o)  # (S, H)
    ours = change_metrics(pred, actual - y0)
    naive = {n: m for n, m in baselines.items() if n in NAIVE}
    best_name = min(naive, key=lambda n: naive[n]["mae"])
    best_mae = naive[best_name]["mae"]
    ratio = ours["mae"] / best_mae if best_mae > 0 else float("inf")  # a naive forecast can be exact
    met = ratio <= 0.9
    verdict = (
        f"MAE {H} steps ahead: network {ours['mae']:.4g}{unit} vs best naive baseline ({best_name}) "
        f"{naive[best_name]['mae']:.4g}{unit}: ratio {ratio:.3f}, floor ≤ 0.9 {'MET' if met else 'NOT MET'}"
    )
    rows = ["| forecaster | MAE at H | RMSE at H | MAE over 1…H | ÷ best naive |", "|---|---|---|---|---|"]
    net = cfg.model.cell  # the network's name in the table and plots: its cell (lstm, gru, …)
    for name, m in {net: ours, **baselines}.items():
        rows.append(
            f"| {name} | {m['mae']:.4g} | {m['rmse']:.4g} | {m['mae_avg']:.4g} | "
            f"{m['mae'] / best_mae if best_mae > 0 else float('inf'):.3f} |"
        )
    forecasts = {net: y0 + pred} | naive_forecasts(data, o, source.meta["periods"], cfg.data.ar_order)
    tail = slice(max(0, len(o) - PLOT_POINTS), len(o))
    when = data.index[o[tail] + H]
    plot_forecast(
        run_dir / "forecast.png",
        when,
        actual[tail, -1],
        {n: f[tail, -1] for n, f in forecasts.items()},
        model=net,
        title=f"{H}-step-ahead forecasts on the test period (last {len(when)} origins)",
        ylabel=data.unit or "value",
    )
    errors = {n: np.mean(np.abs(f - actual), axis=0) for n, f in forecasts.items()}
    plot_horizon_errors(
        run_dir / "horizon.png", errors, model=net, title="test MAE by steps ahead", ylabel=f"MAE{unit}"
    )
    text = f"# series: {H}-step-ahead forecast, test period\n\n{verdict}.\n\n" + "\n".join(rows) + "\n"
    atomic_write_text(run_dir / "forecast.md", text)
    payload = {"verdict": verdict, "ratio": ratio, "floor_met": met, "network": ours, "baselines": baselines}
    atomic_write_text(run_dir / "forecast.json", json.dumps(payload, indent=2) + "\n")
    print(f"\n{verdict}")
    return {
        "verdict": verdict,
        "mae_vs_best_naive": ratio,
        "floor_met": met,
        "report": "forecast.md",
        "plots": ["forecast.png", "horizon.png"],
    }


@torch.no_grad()
def forecast_frame(model: nn.Module, data: Any, source: str = "the series") -> pd.DataFrame:
    """The network's forecast of the H steps after the last one: columns ``time`` (the step's timestamp,
    or its row number for a series without dates) and ``forecast`` (in the series' units); ``source``
    names the series in messages."""
    W = data.config.window
    if len(data.values) < W + 1:
        raise ValueError(
            f"{source} has {len(data.values)} steps; this run reads a window of {W} steps (data.window), so "
            f"forecasting needs at least {W + 1} (the first step has no change)"
        )
    x = torch.tensor(data.features[-W:], dtype=torch.float32)  # (W, F)
    if not torch.isfinite(x).all():
        gaps = int((~torch.isfinite(x).all(dim=1)).sum())
        raise ValueError(
            f"the last {W} steps of {source} (the run's window) must be complete to forecast, "
            f"found {gaps} missing"
        )
    model.eval()
    change = model.predict(x.to(next(model.parameters()).device))[:, 0].double().cpu().numpy()  # (H,)
    values = data.values[-1] + change
    if isinstance(data.index, pd.DatetimeIndex):
        step = data.index[-1] - data.index[-2]
        when = [str(data.index[-1] + step * (h + 1)) for h in range(data.horizon)]
    else:
        when = [str(len(data.values) + h) for h in range(data.horizon)]
    return pd.DataFrame({"time": when, "forecast": values})


def naive_next(data: Any) -> dict[str, np.ndarray]:
    """The naive baselines' forecasts (H,) of the H steps after the last one, as the test report scores
    them: persistence (the last value), seasonal naive (the value a day or half a day earlier at the same
    phase, where the timestamps give a day; NaN where that value is missing) and the mean (of the whole
    series read)."""
    y, H = data.values, data.horizon
    last = len(y) - 1
    out = {"persistence": np.full(H, y[-1])}
    for name, s in seasonal_periods(data).items():
        back = np.array([last + h - s * math.ceil(h / s) for h in range(1, H + 1)])  # (H,) <= last
        out[name] = np.where(back >= 0, y[np.maximum(back, 0)], np.nan)
    out["mean"] = np.full(H, float(np.nanmean(y)))
    return out


def forecast_next(model: nn.Module, data: Any, out: str | None = None, source: str = "the series") -> str:
    """The network's forecast of the H steps after the last one (:func:`forecast_frame`) next to the
    naive baselines' (:func:`naive_next`), as a table with a header row and the series' units (and a CSV
    at ``out``: time, forecast, then one column per baseline); ``source`` names the series in messages."""
    frame = forecast_frame(model, data, source)
    naive = naive_next(data)
    for name, values in naive.items():
        frame[name] = values
    if out:
        atomic_write_text(out, frame.to_csv(index=False))
    unit = f" {data.unit}" if data.unit else ""
    caption = (
        f"{source}: last value {data.values[-1]:.4g}{unit} at {data.index[-1]}\n"
        f"the next {data.horizon} steps, forecast by the model and by the naive baselines, "
        f"{f'in{unit}' if unit else f'in the units of {source}'}:"
    )
    columns = ("forecast", *naive)
    d = decimals(frame[list(columns)].to_numpy())
    cell = lambda v: f"{v:.{d}f}" if np.isfinite(v) else "-"  # noqa: E731
    rows = [
        [f"+{h + 1}", str(frame["time"].iloc[h]), *(cell(frame[c].iloc[h]) for c in columns)]
        for h in range(len(frame))
    ]
    return caption + "\n" + text_table(["step", "time", "model", *naive], rows, left=2)
