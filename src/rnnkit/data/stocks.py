"""Daily stock prices (OHLCV) for forecasting the next 1 and 5 days, with a walk-forward split by date.

Source: ``bokeh-sampledata``'s daily open/high/low/close/volume and split- and dividend-adjusted close
for AAPL, GOOG, IBM and MSFT (2000-03-01 … 2013-03-01; GOOG from its 2004 listing), or a user's CSV
(:func:`load_ohlcv_csv`). Nothing is downloaded.

Features of day t (all scale-free, so tickers can share one model):

- ``return``: log(P_t / P_{t−1}), P = adjusted close;
- ``range``:  log(high_t / low_t), the day's trading range;
- ``gap``:    log(adjusted open_t / P_{t−1}), the overnight move;
- ``volume``: log(V_t / V_{t−1}), V = split-adjusted volume (volume · close / adjusted close).

Targets at origin t: the log-returns log(P_{t+h} / P_t) for each h in ``horizons`` (default 1 and 5
trading days); a price forecast is P_t · exp(ŷ).

Split: ONE set of dates for all tickers (so no ticker's training period overlaps another's test
period): over the union of trading days, the last ``test_frac`` is the test period and the
``val_frac`` before it validation (see :mod:`rnnkit.data.windows` for the no-look-ahead rule).
Features and targets are raw: a model's scalers are fit on :meth:`StocksData.train_rows` and
:meth:`StocksData.train_targets`, the training samples of all tickers pooled, nothing else.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from torch.utils.data import ConcatDataset

from .files import describe_lines, read_csv
from .windows import SplitPoints, WindowDataset, check_horizons, make_origins, window_rows

TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")
FEATURES = ("return", "range", "gap", "volume")
OHLCV = ("open", "high", "low", "close", "volume")


@dataclass
class StocksConfig:
    """Attributes:
    tickers: which of the built-in tickers to use.
    window: W, trading days the model reads.
    horizons: trading days ahead to forecast.
    val_frac, test_frac: chronological split fractions over the union of trading days.
    """

    tickers: tuple[str, ...] = TICKERS
    window: int = 60
    horizons: tuple[int, ...] = (1, 5)
    val_frac: float = 0.1
    test_frac: float = 0.2


def load_ohlcv(ticker: str) -> pd.DataFrame:
    """A built-in ticker's daily bars: DatetimeIndex ``date``; columns open, high, low, close,
    volume, adj_close."""
    if ticker not in TICKERS:
        raise ValueError(f"ticker must be one of {list(TICKERS)}, got {ticker!r}")
    from bokeh_sampledata import stocks

    frame = pd.DataFrame(getattr(stocks, ticker))
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("date")), name="date")
    return frame.sort_index()


def load_ohlcv_csv(path: str | os.PathLike[str], date_column: str = "date") -> pd.DataFrame:
    """Daily bars from a CSV with a date column and open, high, low, close, volume (and optionally
    adj_close; the close is used when absent). Column names are matched case-insensitively. Every row
    must be a complete bar: a date, and positive finite prices (volume >= 0); errors name the file, the
    column and the lines."""
    what = "csv file"
    name = os.fspath(path)
    frame = read_csv(path, what)
    frame.columns = [str(c).strip().lower().replace(" ", "_") for c in frame.columns]
    needed = (date_column.lower(), *OHLCV)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{what} {name!r} must have columns {list(needed)} (adj_close optional), missing {missing}; "
            f"it has {list(frame.columns)}"
        )
    if "adj_close" not in frame.columns:
        frame["adj_close"] = frame["close"]
    with warnings.catch_warnings():  # pandas warns when it has to guess the date format
        warnings.simplefilter("ignore")
        dates = pd.to_datetime(frame.pop(date_column.lower()), errors="coerce")
    if dates.isna().any():
        rows = np.flatnonzero(dates.isna().to_numpy())
        raise ValueError(
            f"{what} {name!r}, column {date_column!r} must hold dates, got {len(rows)} unparsable "
            f"value(s) at {describe_lines(rows)}"
        )
    numbers = {}
    for col in (*OHLCV, "adj_close"):
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(np.float64)
        low = 0.0 if col == "volume" else None
        bad = ~np.isfinite(values) | (values < 0 if low is not None else values <= 0)
        if bad.any():
            rows = np.flatnonzero(bad)
            expected = "a number >= 0" if col == "volume" else "a positive price"
            raise ValueError(
                f"{what} {name!r}, column {col!r} must hold {expected} on every row, got "
                f"{str(frame[col].iloc[rows[0]])!r} at {describe_lines(rows)}"
            )
        numbers[col] = values
    frame = pd.DataFrame(numbers, index=pd.DatetimeIndex(dates, name="date")).sort_index()
    return frame[~frame.index.duplicated(keep="last")]


def stock_features(bars: pd.DataFrame) -> pd.DataFrame:
    """The four features per day (see the module docstring); the first day is NaN (no history)."""
    adj = bars["adj_close"] / bars["close"]  # split/dividend adjustment factor
    price = np.log(bars["adj_close"])
    volume = np.log(bars["volume"].clip(lower=1) / adj)
    return pd.DataFrame(
        {
            "return": price.diff(),
            "range": np.log(bars["high"] / bars["low"]),
            "gap": np.log(bars["open"] * adj) - price.shift(1),
            "volume": volume.diff(),
        },
        index=bars.index,
    )[list(FEATURES)]


def split_dates(
    calendars: Sequence[pd.DatetimeIndex], val_frac: float = 0.1, test_frac: float = 0.2
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(first validation date, first test date) over the union of the given trading calendars."""
    union = pd.DatetimeIndex(sorted(set().union(*[set(c) for c in calendars])))
    p = SplitPoints.from_fractions(len(union), val_frac, test_frac)
    return union[p.val_start], union[p.test_start]


@dataclass
class TickerData:
    """One ticker's rows: raw features and targets, the split and its origins."""

    ticker: str
    dates: pd.DatetimeIndex  # (N,)
    price: np.ndarray  # (N,) adjusted close
    returns: np.ndarray  # (N,) daily log-returns (NaN on the first day)
    features: np.ndarray  # (N, F) raw features
    targets: np.ndarray  # (N, K) raw h-day log-returns (NaN where the future is unknown)
    points: SplitPoints
    origins: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class StocksData:
    """All tickers on one date split."""

    config: StocksConfig
    tickers: dict[str, TickerData]
    val_start: pd.Timestamp
    test_start: pd.Timestamp

    def dataset(self, period: str, tickers: Sequence[str] | None = None) -> ConcatDataset:
        """Raw windows (W, F) and h-day log-returns (K, 1) of ``period`` for the given tickers (all by
        default)."""
        names = list(tickers) if tickers is not None else list(self.tickers)
        return ConcatDataset([self.ticker_dataset(t, period) for t in names])

    def ticker_dataset(self, ticker: str, period: str) -> WindowDataset:
        d = self.tickers[ticker]
        f, y = np.nan_to_num(d.features), np.nan_to_num(d.targets)
        return WindowDataset(f, y[:, :, None], d.origins[period], self.config.window)

    def train_rows(self) -> np.ndarray:
        """(R, F): every feature row read by a training window, all tickers pooled: what an input
        scaler is fit on."""
        w = self.config.window
        return np.concatenate([t.features[window_rows(t.origins["train"], w)] for t in self.tickers.values()])

    def train_targets(self) -> np.ndarray:
        """(S, K, 1): the targets of every training sample, all tickers pooled."""
        return np.concatenate([t.targets[t.origins["train"]] for t in self.tickers.values()])[:, :, None]


def prepare_stocks(
    bars: dict[str, pd.DataFrame], config: StocksConfig | None = None, *, split: bool = True
) -> StocksData:
    """Featurise the daily bars of each ticker and split them on one set of dates (``split=False``, for
    forecasting after the last day: features only, no split and no origins)."""
    cfg = config or StocksConfig()
    hs = check_horizons(cfg.horizons)
    if isinstance(cfg.window, bool) or not isinstance(cfg.window, int) or cfg.window < 1:
        raise ValueError(f"config.window must be an int >= 1, got {cfg.window!r}")
    if not bars:
        raise ValueError("bars must hold at least one ticker's daily bars, got none")
    if not split:
        return StocksData(cfg, {n: _ticker(n, f, hs, None) for n, f in bars.items()}, pd.NaT, pd.NaT)
    days = len(set().union(*[set(b.index) for b in bars.values()]))
    if days < cfg.window + max(hs) + 2:
        raise ValueError(
            f"the prices cover {days} trading days, fewer than one window of {cfg.window} days (data.window) "
            f"+ {max(hs)} days ahead (data.horizons) + 2; training needs windows in each of the train, "
            "validation and test periods: use a longer price history or a smaller window"
        )
    val_start, test_start = split_dates([b.index for b in bars.values()], cfg.val_frac, cfg.test_frac)
    tickers: dict[str, TickerData] = {}
    for name, frame in bars.items():
        t = tickers[name] = _ticker(name, frame, hs, (val_start, test_start))
        valid = np.isfinite(t.features).all(axis=1)
        t.origins = {
            p: make_origins(t.points, p, window=cfg.window, horizons=hs, valid=valid)
            for p in ("train", "val", "test")
        }
    if not any(t.origins["train"].size > 1 for t in tickers.values()):
        raise ValueError(f"no ticker has a training window of {cfg.window} days before {val_start.date()}")
    for period, start in (("validation", val_start), ("test", test_start)):
        key = "val" if period == "validation" else period
        if not any(t.origins[key].size for t in tickers.values()):
            raise ValueError(
                f"the {period} period (from {start.date()}) holds no complete window of {cfg.window} days "
                f"+ {max(hs)} days ahead: use a longer price history, a smaller data.window or larger "
                "data.val_frac/test_frac"
            )
    return StocksData(cfg, tickers, val_start, test_start)


def _ticker(
    name: str, frame: pd.DataFrame, hs: tuple[int, ...], starts: tuple[pd.Timestamp, pd.Timestamp] | None
) -> TickerData:
    """One ticker's features and targets; its split points at the given (validation, test) start dates
    (no split: every row in the training period)."""
    feats = stock_features(frame).to_numpy(np.float64)  # (N, F)
    price = frame["adj_close"].to_numpy(np.float64)  # (N,)
    n = len(price)
    log_p = np.log(price)
    targets = np.full((n, len(hs)), np.nan)  # (N, K)
    for k, h in enumerate(hs):
        targets[: max(n - h, 0), k] = log_p[h:] - log_p[: max(n - h, 0)]
    dates = pd.DatetimeIndex(frame.index)
    if starts is None:
        points = SplitPoints(n, n, n)
    else:
        points = SplitPoints(n, int(dates.searchsorted(starts[0])), int(dates.searchsorted(starts[1])))
    return TickerData(name, dates, price, feats[:, 0], feats, targets, points)


def load_stocks(config: StocksConfig | None = None) -> StocksData:
    """The built-in tickers prepared for training."""
    cfg = config or StocksConfig()
    return prepare_stocks({t: load_ohlcv(t) for t in cfg.tickers}, cfg)
