"""``series``: forecast a series with learnable structure 24 steps ahead: a continuous glucose monitor
(default; 5-minute readings, so 2 hours ahead), sea-surface temperature (30-minute readings, 12 hours
ahead) or your own CSV column.

A window of W steps of (value, change, time of day) → LSTM → the changes y_{t+h} − y_t for
h = 1 … H at once. The split is chronological (test = the last 20%, validation the 10% before), the
scalers are fit on training windows only. The headline metric is the MAE H steps ahead, reported next to
naive baselines computed in the same run on the same origins: persistence (y_t), seasonal naive (the
value one day or half a day earlier at the same phase, where the timestamps give a day) and the training
mean; plus a linear AR(p) on the last p values as a non-naive reference. Floor: MAE ≤ 0.9 × the best
naive baseline (``forecast.md`` says whether it is met).

    rnnkit train --task series                                  # glucose
    rnnkit train --task series --set data.series=sst
    rnnkit train --task series --csv load.csv --column MW --date-column time
"""

from __future__ import annotations

import argparse
import copy
import os
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from torch import nn

from ..baselines.series import change_metrics, keep_scorable, naive_forecasts, seasonal_periods
from ..train.config import Config, fraction, option
from .base import TaskData, ValSubset
from .forecasting import DEFAULTS, SMOKE, ForecastTask, WindowSource, scaler_state
from .series_report import forecast_next, write_report

FLOOR = 0.9  # the network's MAE must be at most this times the best naive baseline's


@dataclass
class SeriesDataConfig:
    series: str = option("glucose", "built-in series", choices=("glucose", "sst"))
    csv: str | None = option(None, "your own CSV file (then --column is required)")
    column: str | None = option(None, "the CSV column to forecast")
    date_column: str | None = option(None, "the CSV column with timestamps (optional)")
    window: int = option(96, "past steps the model reads", low=2)
    horizon: int = option(24, "steps ahead of the forecast (every step 1 … horizon is predicted)", low=1)
    val_frac: float = fraction(0.1, "share of steps for validation (before the test period)")
    test_frac: float = fraction(0.2, "share of steps at the end held out for testing")
    max_gap: int = option(6, "interpolate gaps of up to this many missing steps", low=0)
    time_features: bool = option(True, "add the time of day (sin, cos) for sub-daily timestamps")
    batch_size: int = option(64, "windows per batch", low=1)
    ar_order: int = option(24, "lags of the linear AR(p) reference", low=1)


def load_data(cfg: Config, *, split: bool = True, series: Any = None):
    """The run's series (or ``series``, a pandas Series of numbers indexed by time or row, NaN where
    missing), prepared (``split=False``: no split, for forecasting after its end)."""
    from ..data.series import BUILTIN_SERIES, SeriesConfig, load_builtin, load_csv, prepare_series

    d = cfg.data
    if d.ar_order > d.window:
        raise ValueError(f"data.ar_order must be <= data.window={d.window}, got {d.ar_order}")
    sc = SeriesConfig(d.window, d.horizon, d.val_frac, d.test_frac, d.max_gap, d.time_features)
    if series is not None:
        return prepare_series(series, sc, split=split)
    if d.csv:
        if not d.column:
            raise ValueError(
                f"data.column (--column NAME) is required with a CSV file ({d.csv!r}): the column to forecast"
            )
        series = load_csv(d.csv, d.column, d.date_column)
        try:
            return prepare_series(series, sc, split=split)
        except ValueError as e:
            raise ValueError(f"csv file {d.csv!r}, column {d.column!r}: {e}") from None
    return prepare_series(load_builtin(d.series), sc, unit=BUILTIN_SERIES[d.series][1], split=split)


def missing_note(data: Any) -> str | None:
    """What happened to the missing steps of a series, for the run's ``data:`` line (None: none)."""
    m = data.missing
    if not m["missing"]:
        return None
    left = m["missing"] - m["interpolated"]
    return (
        f"{m['missing']:,} missing ({m['interpolated']:,} interpolated in gaps of up to "
        f"data.max_gap={data.config.max_gap} steps, {left:,} in longer gaps or at the ends left out)"
    )


class SeriesTask(ForecastTask):
    name = "series"
    summary = "24-step-ahead forecast of glucose CGM, sea-surface temperature or --csv vs naive baselines"
    DataConfig = SeriesDataConfig
    monitor, mode = "mae", "min"
    cli_flags: ClassVar[dict[str, tuple[str, str]]] = {
        "--csv": ("data.csv", "stocks/series: train on your own CSV file"),
        "--column": ("data.column", "series: the --csv column to forecast, by header (e.g. load)"),
        "--date-column": ("data.date_column", "series: the --csv column of timestamps, by header"),
    }
    defaults: ClassVar[dict[str, Any]] = {
        **DEFAULTS,
        "optim.max_steps": 4000,
        "optim.max_minutes": 8.0,
        "run.eval_every": 200,
        "run.checkpoint_every": 200,
        "run.patience": 6,
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tour": {"optim.max_minutes": 1.0, "optim.max_steps": 800, "run.eval_every": 100},
        "smoke": {**SMOKE, "data.window": 16, "data.ar_order": 8},
    }

    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        data = load_data(cfg)
        periods = seasonal_periods(data)
        keep_scorable(data, periods)
        scalers = state["scalers"] if state else scaler_state(data.train_rows(), data.train_targets())
        sources = {}
        for period in ("train", "val", "test"):
            x, y = data.dataset(period).tensors()
            meta = {"series": data, "period": period, "periods": periods}
            sources[period] = WindowSource(
                x, y, cfg.data.batch_size, shuffle=period == "train", seed=cfg.run.seed, meta=meta
            )
        name = f"{cfg.data.csv}:{cfg.data.column}" if cfg.data.csv else cfg.data.series
        return TaskData(
            train=sources["train"],
            val=sources["val"],
            test=sources["test"],
            state={
                "scalers": scalers,
                "horizon_steps": data.horizon,
                "window": cfg.data.window,
                "features": data.feature_names,
                "unit": data.unit,
            },
            info={
                "series": name,
                "steps": len(data.values),
                "features": ",".join(data.feature_names),
                "train windows": len(sources["train"].x),
                "val windows": len(sources["val"].x),
                "test windows": len(sources["test"].x),
            }
            | ({"steps": f"{len(data.values):,}, {note}"} if (note := missing_note(data)) else {}),
        )

    def evaluate(self, model: nn.Module, source: Any, cfg: Config, max_batches: int | None = None) -> dict:
        pred, actual, sq = self.predict(model, source, max_batches)
        return {"loss": float(sq.mean()), **change_metrics(pred, actual)}

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        source = {"val": data.val, "test": data.test}[split]
        series, o = source.meta["series"], series_origins(source)
        actual = series.actual(o) - series.values[o][:, None]  # (S, H) changes
        std = np.asarray(data.state["scalers"]["target_std"])
        out = {}
        for name, f in naive_forecasts(series, o, source.meta["periods"], cfg.data.ar_order).items():
            change = f - series.values[o][:, None]
            out[name] = {
                "loss": float(np.mean(((change - actual) / std) ** 2)),
                **change_metrics(change, actual),
            }
        return out

    def val_subset(self, cfg: Config, data: TaskData, batches: int) -> ValSubset:
        """The first ``batches`` batches' windows (in origin order)."""
        val, k = data.val, min(len(data.val.x), batches * data.val.batch_size)
        sub = WindowSource(val.x[:k], val.y[:k], val.batch_size, meta={**val.meta, "rows": k})
        return ValSubset(sub, f"{k:,}-window")

    def after_training(self, model: nn.Module, cfg: Config, data: TaskData, run_dir) -> dict[str, Any]:
        pred, _, _ = self.predict(model, data.test)
        return write_report(data.test, pred, self.baselines(cfg, data, "test"), cfg, run_dir)

    def forecast(self, run: Any, args: argparse.Namespace) -> int:
        """``rnnkit forecast --task series``: the next H steps after the end of the series (``args``:
        ``csv``/``column``/``date_column`` to forecast another series, ``out`` for a CSV)."""
        keys = ("csv", "column", "date_column")
        _, data, source = forecast_data(run.cfg, **{k: getattr(args, k, None) for k in keys})
        print(forecast_next(run.model, data, getattr(args, "out", None), source))
        return 0


def forecast_data(
    cfg: Config,
    csv: str | os.PathLike[str] | None = None,
    column: str | None = None,
    date_column: str | None = None,
    *,
    series: Any = None,
) -> tuple[Config, Any, str]:
    """What a series run forecasts from: (its config, with ``csv``/``column``/``date_column`` in place of
    its own where given — a copy: ``cfg`` is left as it is —, the series prepared without a split, its
    name for messages). ``series``, a pandas Series, is forecast instead of any file."""
    cfg = copy.deepcopy(cfg)
    if series is not None:
        name = f"the series given ({series.name})" if getattr(series, "name", None) else "the series given"
        return cfg, load_data(cfg, split=False, series=series), name
    for key, value in (("csv", csv), ("column", column), ("date_column", date_column)):
        if value:
            setattr(cfg.data, key, os.fspath(value) if key == "csv" else value)
    d = cfg.data
    source = f"csv file {d.csv!r} (column {d.column!r})" if d.csv else f"the series {d.series!r}"
    return cfg, load_data(cfg, split=False), source


def series_origins(source: WindowSource) -> np.ndarray:
    """The origins of a split's windows (only the first ``meta["rows"]`` for a subset, see val_subset)."""
    return source.meta["series"].origins[source.meta["period"]][: source.meta.get("rows")]
