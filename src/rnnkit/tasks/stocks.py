"""``stocks``: forecast the next 1 and 5 trading days of AAPL, GOOG, IBM and MSFT (or your own CSV).

A window of 60 days of four scale-free features (log-return, high-low range, overnight gap, volume
change; see :mod:`rnnkit.data.stocks`) → LSTM → the 1- and 5-day log-returns; one model for all
tickers. The split is walk-forward by date, one set of dates for every ticker (test = the last 20% of
trading days, validation the 10% before; training targets end before validation starts), and the
scalers are fit on training windows only.

Baselines in the same run, on the same forecast origins: persistence (random walk: tomorrow = today),
a moving average of the last ``ma_window`` closes, and a linear AR(p) on daily log-returns fit per
ticker by least squares on the training period. Metrics: RMSE and MAE of the h-day log-return in
percent (so tickers of different price levels pool), directional accuracy (and "always up", the
up-day share); per ticker in dollars in ``forecast.md``.

Daily prices are close to a random walk: expect no model, this one included, to beat persistence by
more than noise. The report says so when it does not.

    rnnkit train --task stocks
    rnnkit train --task stocks --csv prices.csv     # date, open, high, low, close, volume[, adj_close]
    rnnkit evaluate --task stocks --split test
"""

from __future__ import annotations

import argparse
import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from ..baselines.stocks import baseline_returns, return_metrics
from ..train.config import Config, fraction, option
from .base import TaskData, ValSubset
from .forecasting import DEFAULTS, SMOKE, ForecastTask, WindowSource, scaler_state
from .stocks_report import forecast_next, write_report


@dataclass
class StocksDataConfig:
    csv: str | None = option(None, "your daily prices: a CSV with date, open, high, low, close, volume")
    tickers: tuple[str, ...] = option(
        ("AAPL", "GOOG", "IBM", "MSFT"),
        "built-in tickers to train on",
        choices=("AAPL", "GOOG", "IBM", "MSFT"),
    )
    window: int = option(60, "trading days the model reads", low=2)
    horizons: tuple[int, ...] = option((1, 5), "trading days ahead to forecast", low=1)
    val_frac: float = fraction(0.1, "share of trading days for validation (before the test period)")
    test_frac: float = fraction(0.2, "share of trading days at the end held out for testing")
    batch_size: int = option(64, "windows per batch", low=1)
    ma_window: int = option(5, "days in the moving-average baseline", low=1)
    ar_order: int = option(5, "lags of the linear AR(p) baseline on log-returns", low=1)


def load_data(cfg: Config, *, split: bool = True):
    """The run's prices, prepared (``split=False``: no split, for forecasting after the last day)."""
    from ..data.stocks import StocksConfig, load_ohlcv, load_ohlcv_csv, prepare_stocks

    d = cfg.data
    if d.csv:
        bars = {Path(d.csv).stem.upper(): load_ohlcv_csv(d.csv)}
    else:
        bars = {t: load_ohlcv(t) for t in d.tickers}
    try:
        return prepare_stocks(
            bars, StocksConfig(tuple(bars), d.window, tuple(d.horizons), d.val_frac, d.test_frac), split=split
        )
    except ValueError as e:
        if not d.csv:
            raise
        raise ValueError(f"csv file {d.csv!r}: {e}") from None


class StocksTask(ForecastTask):
    name = "stocks"
    summary = "1- and 5-day stock forecasts (AAPL, GOOG, IBM, MSFT or --csv) vs persistence, MA and AR"
    DataConfig = StocksDataConfig
    monitor, mode = "loss", "min"
    cli_flags: ClassVar[dict[str, tuple[str, str]]] = {
        "--csv": ("data.csv", "stocks/series: train on your own CSV file"),
    }
    defaults: ClassVar[dict[str, Any]] = {
        **DEFAULTS,
        "optim.max_steps": 3000,
        "optim.max_minutes": 6.0,
        "model.dropout": 0.1,
        "run.eval_every": 100,
        "run.checkpoint_every": 100,
        "run.patience": 8,
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tour": {"optim.max_minutes": 0.75, "optim.max_steps": 600},
        "smoke": {**SMOKE, "data.tickers": ("AAPL", "MSFT"), "data.window": 10},
    }

    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        d = cfg.data
        stocks = load_data(cfg)
        scalers = state["scalers"] if state else scaler_state(stocks.train_rows(), stocks.train_targets())
        sources = {}
        for period in ("train", "val", "test"):
            parts = [stocks.ticker_dataset(t, period).tensors() for t in stocks.tickers]
            x, y = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
            meta = {"stocks": stocks, "period": period}
            sources[period] = WindowSource(
                x, y, d.batch_size, shuffle=period == "train", seed=cfg.run.seed, meta=meta
            )
        count = {p: len(s.x) for p, s in sources.items()}
        return TaskData(
            train=sources["train"],
            val=sources["val"],
            test=sources["test"],
            state={
                "scalers": scalers,
                "horizon_steps": len(d.horizons),
                "horizons": list(d.horizons),
                "window": d.window,
                "tickers": list(stocks.tickers),
            },
            info={
                "tickers": ",".join(stocks.tickers),
                "validation from": str(stocks.val_start.date()),
                "test from": str(stocks.test_start.date()),
                "train windows": count["train"],
                "val windows": count["val"],
                "test windows": count["test"],
            },
        )

    def evaluate(self, model: nn.Module, source: Any, cfg: Config, max_batches: int | None = None) -> dict:
        pred, actual, sq = self.predict(model, source, max_batches)
        return {"loss": float(sq.mean()), **return_metrics(pred, actual, tuple(cfg.data.horizons))}

    def direction(self, metric: str) -> str | None:
        """RMSE and MAE of the h-day return (``rmse_1d``, ``mae_5d``): lower is better; directional
        accuracy (``dir_1d``): higher."""
        kind, _, days = metric.partition("_")
        if kind in ("rmse", "mae", "dir") and days[:-1].isdigit() and days.endswith("d"):
            return "max" if kind == "dir" else "min"
        return super().direction(metric)

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        source = {"val": data.val, "test": data.test}[split]
        stocks, period, rows = source.meta["stocks"], source.meta["period"], source.meta.get("rows")
        hs = tuple(cfg.data.horizons)
        actual = np.concatenate([t.targets[t.origins[period]] for t in stocks.tickers.values()])[:rows]
        std = np.asarray(data.state["scalers"]["target_std"])
        out = {}
        for name, parts in baseline_returns(stocks, period, cfg.data.ma_window, cfg.data.ar_order).items():
            pred = np.concatenate(parts)[:rows]  # the first rows only, for a subset (see val_subset)
            out[name] = {
                "loss": float(np.mean(((pred - actual) / std) ** 2)),
                **return_metrics(pred, actual, hs),
            }
        out["always up"] = {f"dir_{h}d": float(np.mean(actual[:, k] > 0)) for k, h in enumerate(hs)}
        return out

    def val_subset(self, cfg: Config, data: TaskData, batches: int) -> ValSubset:
        """The first ``batches`` batches' windows (in origin order, ticker after ticker)."""
        val, k = data.val, min(len(data.val.x), batches * data.val.batch_size)
        sub = WindowSource(val.x[:k], val.y[:k], val.batch_size, meta={**val.meta, "rows": k})
        return ValSubset(sub, f"{k:,}-window")

    def after_training(self, model: nn.Module, cfg: Config, data: TaskData, run_dir: Path) -> dict[str, Any]:
        pred, _, _ = self.predict(model, data.test)
        return write_report(data.test.meta["stocks"], pred, cfg, run_dir)

    def forecast(self, run: Any, args: argparse.Namespace) -> int:
        """``rnnkit forecast --task stocks``: the next trading days after the data's last date (``args``:
        ``csv`` to forecast another price file, ``out`` for a CSV of the forecasts)."""
        cfg, data, source = forecast_data(run.cfg, getattr(args, "csv", None))
        print(forecast_next(run.model, data, cfg, getattr(args, "out", None), source))
        return 0


def forecast_data(cfg: Config, csv: str | os.PathLike[str] | None = None) -> tuple[Config, Any, str]:
    """What a stocks run forecasts from: (its config, with ``csv`` in place of its prices when given —
    a copy: ``cfg`` is left as it is —, those prices prepared without a split, their name for messages)."""
    cfg = copy.deepcopy(cfg)
    if csv:
        cfg.data.csv = os.fspath(csv)
    data = load_data(cfg, split=False)
    return cfg, data, f"csv file {cfg.data.csv!r}" if cfg.data.csv else "the built-in prices"
