"""The ``stocks`` task's test report: per ticker and horizon, RMSE and MAE in dollars, directional
accuracy and the up-day share for the network and every baseline, plots of forecast vs actual, and a
plain verdict on whether the network beats persistence; and forecasts past the last day of the data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write_text
from ..baselines.forecast import moving_average, score_forecast, up_share
from ..baselines.stocks import baseline_returns
from ..train.config import Config
from .forecasting import text_table

PLOT_DAYS = 150  # the last trading days of the test period drawn in each plot


def _table(rows: list[dict[str, Any]]) -> str:
    head = "| ticker | h | forecaster | RMSE $ | MAE $ | RMSE ÷ persistence | direction | up share |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['ticker']} | {r['h']}d | {r['forecaster']} | {r['rmse']:.3f} | {r['mae']:.3f} | "
            f"{r['ratio']:.4f} | {r['direction']:.3f} | {r['up_share']:.3f} |"
        )
    return "\n".join(lines)


def write_report(stocks: Any, pred: np.ndarray, cfg: Config, run_dir: Path) -> dict[str, Any]:
    """Score the network's test predictions (S, K) (tickers in order) and the baselines in dollars;
    write ``forecast.md``, ``forecast.json`` and ``forecast-<TICKER>.png``; return the summary."""
    from ..plots import plot_forecast

    d = cfg.data
    hs = tuple(d.horizons)
    net = cfg.model.cell  # the network's name in the rows and plots: its cell (lstm, gru, …)
    base = baseline_returns(stocks, "test", d.ma_window, d.ar_order)
    rows, plots, offset = [], [], 0
    for i, t in enumerate(stocks.tickers.values()):
        o = t.origins["test"]
        forecasters = {net: pred[offset : offset + len(o)]} | {n: parts[i] for n, parts in base.items()}
        offset += len(o)
        for k, h in enumerate(hs):
            actual, start = t.price[o + h], t.price[o]
            prices = {n: start * np.exp(r[:, k]) for n, r in forecasters.items()}
            ref = score_forecast(prices["persistence"], actual, start).rmse
            for n, p in prices.items():
                s = score_forecast(p, actual, start)
                rows.append(
                    {"ticker": t.ticker, "h": h, "forecaster": n, "rmse": s.rmse, "mae": s.mae,
                     "ratio": s.rmse / ref, "direction": s.direction, "up_share": up_share(actual, start)}
                )  # fmt: skip
            if k == 0:
                tail = slice(max(0, len(o) - PLOT_DAYS), len(o))
                path = run_dir / f"forecast-{t.ticker}.png"
                plot_forecast(
                    path,
                    t.dates[o[tail] + h],
                    actual[tail],
                    {n: p[tail] for n, p in prices.items()},
                    model=net,
                    title=f"{t.ticker}: {h}-day-ahead forecasts, last {PLOT_DAYS} test days",
                    ylabel="adjusted close ($)",
                )
                plots.append(path.name)
    ours = [r for r in rows if r["forecaster"] == net]
    wins = [r for r in ours if r["ratio"] < 1.0]
    mean_ratio = float(np.mean([r["ratio"] for r in ours]))
    if mean_ratio < 0.99:
        verdict = f"the network beats persistence: mean RMSE ratio {mean_ratio:.3f}"
    else:
        verdict = (
            f"the network does NOT beat persistence (mean RMSE ratio {mean_ratio:.3f}; lower on "
            f"{len(wins)} of {len(ours)} ticker-horizons): daily prices are close to a random walk"
        )
    text = (
        f"# stocks: test period from {stocks.test_start.date()}\n\n{verdict}.\n\n{_table(rows)}\n\n"
        "RMSE ÷ persistence < 1 means better than tomorrow = today. Direction: share of days where the "
        "forecast and the truth agree on 'up'; up share: what always saying 'up' scores.\n"
    )
    atomic_write_text(run_dir / "forecast.md", text)
    atomic_write_text(
        run_dir / "forecast.json", json.dumps({"verdict": verdict, "rows": rows}, indent=2) + "\n"
    )
    print(f"\n{verdict}\n{_table(ours)}")
    return {"verdict": verdict, "rmse_vs_persistence": mean_ratio, "report": "forecast.md", "plots": plots}


@torch.no_grad()
def forecast_rows(
    model: nn.Module, stocks: Any, cfg: Config, source: str = "the prices"
) -> list[dict[str, Any]]:
    """The network's price forecast h trading days after the last day of each ticker, one row per
    ticker and horizon: ticker, last_day, close, days_ahead, forecast, log_return (the forecast
    log-return); ``source`` names the data in messages."""
    hs = tuple(cfg.data.horizons)
    W = cfg.data.window
    model.eval()
    device = next(model.parameters()).device
    rows = []
    for t in stocks.tickers.values():
        if len(t.features) < W + 1:
            raise ValueError(
                f"{source} ({t.ticker}) has {len(t.features)} trading days; this run reads a window of {W} "
                f"days (data.window), so forecasting needs at least {W + 1} (the first day has no return)"
            )
        x = torch.tensor(t.features[-W:], dtype=torch.float32)  # (W, F)
        if not torch.isfinite(x).all():
            raise ValueError(f"{t.ticker}: the last {W} days must have complete bars to forecast")
        r = model.predict(x.to(device))[:, 0].double().cpu().numpy()  # (K,) h-day log-returns
        p = t.price[-1]
        for h, v in zip(hs, r, strict=True):
            rows.append({"ticker": t.ticker, "last_day": str(t.dates[-1].date()), "close": p, "days_ahead": h,
                         "forecast": p * np.exp(v), "log_return": v})  # fmt: skip
    return rows


def naive_next(stocks: Any, ma_window: int) -> dict[str, dict[str, float]]:
    """Per ticker, the naive baselines' price forecast for every day ahead, as the test report scores
    them: persistence (the last close) and the moving average of the last ``ma_window`` closes."""
    out = {}
    for t in stocks.tickers.values():
        last = np.array([len(t.price) - 1])
        ma = float(moving_average(t.price, last, ma_window)[0]) if len(t.price) >= ma_window else np.nan
        out[t.ticker] = {"persistence": float(t.price[-1]), f"ma{ma_window}": ma}
    return out


def forecast_next(
    model: nn.Module, stocks: Any, cfg: Config, out: str | None = None, source: str = "the prices"
) -> str:
    """The network's price forecasts h trading days after the last day of each ticker
    (:func:`forecast_rows`) next to the naive baselines' (:func:`naive_next`), as a table with a header
    row and the prices' unit (also written as CSV to ``out``: the rows of :func:`forecast_rows` with one
    column per baseline); ``source`` names the data in messages."""
    rows = forecast_rows(model, stocks, cfg, source)
    naive = naive_next(stocks, cfg.data.ma_window)
    for r in rows:
        r.update(naive[r["ticker"]])
    if out:
        import pandas as pd

        atomic_write_text(out, pd.DataFrame(rows).to_csv(index=False))
    names = list(next(iter(naive.values())))
    unit = "in the units of the CSV file" if cfg.data.csv else "in $"
    caption = (
        f"{source}: the adjusted close after each ticker's last trading day, forecast by the model and by "
        f"the naive baselines,\n{unit} (in brackets: the change from the last close):"
    )

    def price(value: float, close: float) -> str:
        return f"{value:.2f} ({100 * (value / close - 1):+.2f}%)" if np.isfinite(value) else "-"

    table = []
    for r in rows:
        c = r["close"]
        forecasts = [price(r["forecast"], c), f"{r['persistence']:.2f}", *(price(r[n], c) for n in names[1:])]
        table.append([r["ticker"], r["last_day"], f"+{r['days_ahead']}d", f"{c:.2f}", *forecasts])
    header = ["ticker", "last day", "ahead", "close", "model", *names]
    return caption + "\n" + text_table(header, table, left=3)
