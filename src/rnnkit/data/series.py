"""A single time series with learnable structure, for ``horizon``-step-ahead forecasting.

Built-in series (shipped by ``bokeh-sampledata``, nothing is downloaded):

- ``glucose``: a continuous glucose monitor, one reading every 5 minutes (52,281 readings, mg/dL);
  24 steps ahead = 2 hours.
- ``sst``: sea-surface temperature at a buoy on the Western Maine Shelf, every 30 minutes
  (19,226 points, °C); 24 steps ahead = 12 hours.

or a user's CSV file (:func:`load_csv`). The series is put on a regular grid (the median spacing of its
timestamps; gaps of up to ``max_gap`` steps are linearly interpolated, longer ones stay missing and no
window crosses them), split chronologically (see :mod:`rnnkit.data.windows`) and turned into features:

- ``level``: the value y_t;
- ``change``: y_t − y_{t−1};
- ``tod_sin``, ``tod_cos``: the time of day on the unit circle (only for sub-daily timestamps).

Targets at origin t are the changes y_{t+h} − y_t for h = 1 … horizon; a forecast of the values is y_t
plus the predicted changes. Features and targets are raw: the model's scalers are fit on
:meth:`SeriesData.train_rows` and :meth:`SeriesData.train_targets` (training period only).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .files import describe_lines, read_csv
from .windows import SplitPoints, WindowDataset, make_origins, window_rows

BUILTIN_SERIES = {
    "glucose": ("glucose", "mg/dL", "continuous glucose monitor (5-minute readings)"),
    "sst": ("temperature", "°C", "sea-surface temperature, Western Maine Shelf (30-minute readings)"),
}


@dataclass
class SeriesConfig:
    """How a series becomes samples.

    Attributes:
        window: W, past steps the model reads.
        horizon: H, the forecast reaches H steps ahead (targets for every step 1 … H).
        val_frac, test_frac: chronological split fractions (test last, validation just before it).
        max_gap: gaps of up to this many missing steps are interpolated; longer ones stay missing.
        time_features: add the time of day (sin, cos) when the index holds sub-daily timestamps.
    """

    window: int = 96
    horizon: int = 24
    val_frac: float = 0.1
    test_frac: float = 0.2
    max_gap: int = 6
    time_features: bool = True


def load_builtin(name: str) -> pd.Series:
    """A built-in series by name (``"glucose"`` or ``"sst"``), indexed by timestamp."""
    if name == "glucose":
        from bokeh_sampledata.glucose import data

        s = data["glucose"].astype(np.float64)
    elif name == "sst":
        with warnings.catch_warnings():  # the package's own pandas call is deprecated in pandas 3.1
            warnings.simplefilter("ignore")
            from bokeh_sampledata.sea_surface_temperature import sea_surface_temperature as data

        s = data["temperature"].astype(np.float64)
        s.index = s.index.tz_localize(None)  # UTC wall-clock time
    else:
        raise ValueError(f"series name must be one of {sorted(BUILTIN_SERIES)}, got {name!r}")
    s.name = name
    return s


#: the largest share of missing (empty or NaN) values a CSV column may have; more is an error, fewer are
#: interpolated where a gap is at most ``max_gap`` steps and left out (no window crosses them) elsewhere
MAX_MISSING_SHARE = 0.1


def load_csv(path: str | os.PathLike[str], column: str, date_column: str | None = None) -> pd.Series:
    """Column ``column`` of a CSV file as a series; indexed by ``date_column`` (parsed as dates and
    sorted; duplicate timestamps averaged) when given, else by row number.

    The column must hold numbers: empty cells (or ``nan``) are missing values, allowed up to
    :data:`MAX_MISSING_SHARE` of the rows; ``inf`` and text are errors naming the line."""
    what = "csv file"
    frame = read_csv(path, what)
    name = os.fspath(path)
    for arg, col in (("column", column), ("date_column", date_column)):
        if col is not None and col not in frame.columns:
            raise ValueError(
                f"{what} {name!r}: data.{arg} must name a column of the file "
                f"{[str(c) for c in frame.columns]}, got {col!r}"
            )
    values = pd.to_numeric(frame[column], errors="coerce")
    text = values.isna() & frame[column].notna()
    if text.any():
        rows = np.flatnonzero(text.to_numpy())
        raise ValueError(
            f"{what} {name!r}, column {column!r} must hold numbers, got {len(rows)} non-numeric "
            f"value(s) at {describe_lines(rows)} (e.g. {str(frame[column].iloc[rows[0]])!r})"
        )
    y = values.to_numpy(np.float64)
    infinite = np.isinf(y)
    if infinite.any():
        rows = np.flatnonzero(infinite)
        raise ValueError(
            f"{what} {name!r}, column {column!r} holds {len(rows)} infinite value(s) at "
            f"{describe_lines(rows)}; expected finite numbers (leave a missing reading empty)"
        )
    missing = int(np.isnan(y).sum())
    if missing > MAX_MISSING_SHARE * len(y):
        raise ValueError(
            f"{what} {name!r}, column {column!r} has {missing:,} missing values of {len(y):,} "
            f"({missing / len(y):.0%}); at most {MAX_MISSING_SHARE:.0%} may be missing (short gaps are "
            "interpolated): fill them in or drop those rows"
        )
    s = pd.Series(y, name=column)
    if date_column is not None:
        with warnings.catch_warnings():  # pandas warns when it has to guess the date format
            warnings.simplefilter("ignore")
            dates = pd.to_datetime(frame[date_column], errors="coerce")
        if dates.isna().any():
            rows = np.flatnonzero(dates.isna().to_numpy())
            raise ValueError(
                f"{what} {name!r}, date column {date_column!r} must hold dates, got {len(rows)} "
                f"unparsable value(s) at {describe_lines(rows)} "
                f"(e.g. {str(frame[date_column].iloc[rows[0]])!r})"
            )
        s.index = pd.DatetimeIndex(dates, name=date_column)
        s = s.groupby(level=0).mean().sort_index()
    if s.notna().sum() < 10:
        raise ValueError(
            f"{what} {name!r}, column {column!r} must hold at least 10 numbers, got {int(s.notna().sum())}"
        )
    return s


def regularize(s: pd.Series, max_gap: int = 6) -> pd.Series:
    """Put a timestamped series on a regular grid at its median spacing (readings averaged per step,
    gaps up to ``max_gap`` steps interpolated); a series indexed by row number is returned as is."""
    if not isinstance(s.index, pd.DatetimeIndex):
        return fill_gaps(s.reset_index(drop=True), max_gap)
    s = s.groupby(level=0).mean().sort_index()
    step = pd.Series(s.index).diff().median()
    if pd.isna(step) or step <= pd.Timedelta(0):
        raise ValueError(f"the series' timestamps must increase, got a median spacing of {step}")
    return fill_gaps(s.resample(step, origin="start").mean(), max_gap)


def fill_gaps(s: pd.Series, max_gap: int) -> pd.Series:
    """Linearly interpolate every run of at most ``max_gap`` missing values between two known ones;
    longer runs (and missing values at either end) stay missing."""
    missing = s.isna().to_numpy()
    run_id = np.cumsum(~missing)  # missing values of one run share the id of the value before them
    run_len = pd.Series(missing.astype(int)).groupby(run_id).transform("sum").to_numpy()
    filled = s.interpolate(limit_area="inside")
    return filled.where(~missing | (run_len <= max_gap))


def steps_per_day(index: pd.Index) -> int | None:
    """Grid steps in one day for a regular sub-daily DatetimeIndex, else None."""
    if not isinstance(index, pd.DatetimeIndex) or len(index) < 2:
        return None
    step = index[1] - index[0]
    per_day = pd.Timedelta(days=1) / step
    return round(per_day) if per_day >= 2 and abs(per_day - round(per_day)) < 1e-9 else None


@dataclass
class SeriesData:
    """A series ready for training: raw features and targets per row, and the split."""

    name: str
    unit: str
    config: SeriesConfig
    index: pd.Index  # (N,) regular timestamps or row numbers
    values: np.ndarray  # (N,) raw values, NaN where missing
    features: np.ndarray  # (N, F) raw features, NaN where invalid
    feature_names: list[str]
    targets: np.ndarray  # (N, H, 1) changes y_{t+h} − y_t, NaN where unavailable
    points: SplitPoints
    origins: dict[str, np.ndarray] = field(default_factory=dict)
    #: steps missing on the regular grid before interpolation, and how many of them were interpolated
    missing: dict[str, int] = field(default_factory=lambda: {"missing": 0, "interpolated": 0})

    @property
    def horizon(self) -> int:
        return self.config.horizon

    def dataset(self, period: str) -> WindowDataset:
        """Raw windows (W, F) and target changes (H, 1) of ``period``."""
        f, y = np.nan_to_num(self.features), np.nan_to_num(self.targets)
        return WindowDataset(f, y, self.origins[period], self.config.window)

    def train_rows(self) -> np.ndarray:
        """(R, F): every feature row read by a training window: what an input scaler is fit on."""
        return self.features[window_rows(self.origins["train"], self.config.window)]

    def train_targets(self) -> np.ndarray:
        """(S, H, 1): the targets of the training samples: what a target scaler is fit on."""
        return self.targets[self.origins["train"]]

    def to_values(self, origins: np.ndarray, changes: np.ndarray) -> np.ndarray:
        """Predicted changes (S, H) or (S, H, 1) at ``origins`` → forecast values (S, H)."""
        c = np.asarray(changes, dtype=np.float64).reshape(len(origins), self.horizon)
        return self.values[np.asarray(origins)][:, None] + c

    def actual(self, origins: np.ndarray) -> np.ndarray:
        """The true values at t+1 … t+H for each origin t: (S, H)."""
        return self.values[np.asarray(origins)[:, None] + np.arange(1, self.horizon + 1)]


def prepare_series(
    s: pd.Series, config: SeriesConfig | None = None, *, unit: str = "", split: bool = True
) -> SeriesData:
    """Regularise, split and featurise ``s`` (a pandas Series of numbers, NaN where missing).

    ``split=False`` (forecasting after the end of a series): no split, no origins and no targets; only
    the values and features."""
    cfg = config or SeriesConfig()
    if not isinstance(s, pd.Series):
        raise TypeError(f"s must be a pandas Series, got {type(s).__name__}")
    for name in ("window", "horizon"):
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"config.{name} must be an int >= 1, got {value!r}")
    s = s.astype(np.float64)
    if np.isinf(s.to_numpy()).any():
        where = s.index[np.isinf(s.to_numpy())][:5].tolist()
        raise ValueError(f"s must hold finite numbers or NaN (missing), got inf at {where}")
    gaps = int(regularize(s, 0).isna().sum())  # missing steps on the grid before interpolation
    s = regularize(s, cfg.max_gap)
    y = s.to_numpy(np.float64)  # (N,)
    n, H = len(y), cfg.horizon
    missing = {"missing": gaps, "interpolated": gaps - int(np.isnan(y).sum())}
    features, names = _features(s, y, cfg)  # (N, F)
    if not split:
        return SeriesData(
            name=str(s.name or "series"), unit=unit, config=cfg, index=s.index, values=y, features=features,
            feature_names=names, targets=np.full((n, H, 1), np.nan), points=SplitPoints(n, n, n),
            missing=missing,
        )  # fmt: skip
    if n < cfg.window + H + 1:
        raise ValueError(
            f"the series has {n} steps, fewer than one window of {cfg.window} steps (data.window) + {H} "
            f"steps ahead (data.horizon) + 1 = {cfg.window + H + 1}; training needs windows in each of "
            "the train, validation and test periods: use a longer series or a smaller window/horizon"
        )
    points = SplitPoints.from_fractions(n, cfg.val_frac, cfg.test_frac)
    targets = np.full((n, H, 1), np.nan)
    for h in range(1, H + 1):
        targets[: n - h, h - 1, 0] = y[h:] - y[: n - h]
    valid = np.isfinite(features).all(axis=1)
    origins = {
        p: make_origins(points, p, window=cfg.window, horizons=range(1, H + 1), valid=valid)
        for p in ("train", "val", "test")
    }
    shares = {
        "train": "",
        "val": f", data.val_frac={cfg.val_frac}",
        "test": f", data.test_frac={cfg.test_frac}",
    }
    for p, o in origins.items():
        if o.size < (2 if p == "train" else 1):
            start, stop = points.period(p)
            name = {"val": "validation"}.get(p, p)
            raise ValueError(
                f"the {name} period ({stop - start:,} of the series' {n:,} steps{shares[p]}) holds no "
                f"complete window of {cfg.window} + {H} steps: use a longer series, a smaller data.window "
                "or data.horizon, or other split shares"
            )
    return SeriesData(
        name=str(s.name or "series"),
        unit=unit,
        config=cfg,
        index=s.index,
        values=y,
        features=features,
        feature_names=names,
        targets=targets,
        points=points,
        origins=origins,
        missing=missing,
    )


def _features(s: pd.Series, y: np.ndarray, cfg: SeriesConfig) -> tuple[np.ndarray, list[str]]:
    """(N, F) raw features of the regular series ``s`` (values ``y``) and their names."""
    cols, names = [y, np.concatenate([[np.nan], np.diff(y)])], ["level", "change"]
    if cfg.time_features and steps_per_day(s.index) is not None:
        day = (s.index - s.index.normalize()) / pd.Timedelta(days=1)
        angle = 2 * np.pi * np.asarray(day, dtype=np.float64)
        cols += [np.sin(angle), np.cos(angle)]
        names += ["tod_sin", "tod_cos"]
    return np.column_stack(cols), names


def load_series(name: str, config: SeriesConfig | None = None) -> SeriesData:
    """A built-in series (``"glucose"`` or ``"sst"``) prepared for training."""
    if name not in BUILTIN_SERIES:
        raise ValueError(f"series name must be one of {sorted(BUILTIN_SERIES)}, got {name!r}")
    return prepare_series(load_builtin(name), config, unit=BUILTIN_SERIES[name][1])
