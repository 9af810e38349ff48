"""A single series: regular grid, chronological split without look-ahead, targets, CSV input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.data.series import SeriesConfig, load_csv, load_series, prepare_series, regularize, steps_per_day
from rnnkit.data.windows import SplitPoints, make_origins
from rnnkit.models import Forecaster

CFG = SeriesConfig(window=12, horizon=4, val_frac=0.1, test_frac=0.2)


def hourly(n: int = 600, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    values = 10 + np.sin(2 * np.pi * t / 24) + 0.1 * rng.normal(size=n)
    return pd.Series(values, index=pd.date_range("2021-03-01", periods=n, freq="h"), name="demo")


def test_make_origins_keeps_targets_inside_their_period():
    p = SplitPoints.from_fractions(100, 0.1, 0.2)
    assert (p.val_start, p.test_start) == (70, 80)
    train = make_origins(p, "train", window=5, horizons=(1, 3))
    test = make_origins(p, "test", window=5, horizons=(1, 3))
    assert train[0] == 4 and train[-1] + 3 == 69
    assert test[0] + 1 == 80 and test[-1] + 3 == 99
    valid = np.ones(100, dtype=bool)
    valid[30] = False  # windows over row 30 and targets at row 30 are dropped
    kept = make_origins(p, "train", window=5, horizons=(1, 3), valid=valid)
    assert not any(o - 4 <= 30 <= o for o in kept) and not any(o + 1 == 30 or o + 3 == 30 for o in kept)
    with pytest.raises(ValueError, match="val_frac must be a number in"):
        SplitPoints.from_fractions(100, 1.5, 0.2)


def test_regularize_interpolates_short_gaps_only():
    s = hourly(100)
    holes = s.drop(s.index[[10, 11]]).drop(s.index[40:50])
    grid = regularize(holes, max_gap=3)
    assert len(grid) == 100 and steps_per_day(grid.index) == 24
    assert np.isfinite(grid.iloc[10]) and grid.iloc[10] == pytest.approx(
        s.iloc[9] + (s.iloc[12] - s.iloc[9]) / 3
    )
    assert grid.iloc[40:50].isna().all()


def test_split_targets_and_windows():
    data = prepare_series(hourly(), CFG)
    assert data.feature_names == ["level", "change", "tod_sin", "tod_cos"]
    n = len(data.values)
    o = data.origins
    assert o["train"].max() + 4 < data.points.val_start <= o["val"].min() + 1
    assert o["val"].max() + 4 < data.points.test_start <= o["test"].min() + 1
    assert o["test"].max() + 4 == n - 1
    x, y = data.dataset("test")[0]
    t = int(o["test"][0])
    assert x.shape == (12, 4) and y.shape == (4, 1)
    np.testing.assert_allclose(y[:, 0].numpy(), data.values[t + 1 : t + 5] - data.values[t], rtol=1e-5)
    np.testing.assert_allclose(data.to_values(o["test"][:1], y.numpy()[None])[0], data.values[t + 1 : t + 5])
    np.testing.assert_array_equal(data.actual(o["test"][:1])[0], data.values[t + 1 : t + 5])
    # the time of day is on the unit circle, midnight at angle 0
    midnight = np.flatnonzero(data.index.hour == 0)[0]
    np.testing.assert_allclose(data.features[midnight, 2:], [0.0, 1.0], atol=1e-12)


def test_scalers_see_only_training_data():
    s = hourly()
    data = prepare_series(s, CFG)
    model = Forecaster(4, horizon=4, num_targets=1, hidden_size=8)
    model.fit_scalers(torch.tensor(data.train_rows()), torch.tensor(data.train_targets()))
    rows = data.features[1 : data.origins["train"].max() + 1]
    np.testing.assert_allclose(model.input_scaler.mean.numpy(), rows.mean(0), rtol=1e-5, atol=1e-7)
    shocked = s.copy()
    shocked.iloc[data.points.val_start :] += 100.0
    again = prepare_series(shocked, CFG)
    np.testing.assert_array_equal(again.train_rows(), data.train_rows())
    np.testing.assert_array_equal(again.train_targets(), data.train_targets())


def test_user_csv(tmp_path):
    s = hourly(300)
    frame = pd.DataFrame({"when": s.index.astype(str), "reading": s.to_numpy(), "other": "x"})
    frame = frame.sample(frac=1.0, random_state=0)  # unsorted rows are put in time order
    path = tmp_path / "series.csv"
    frame.to_csv(path, index=False)
    loaded = load_csv(path, "reading", date_column="when")
    np.testing.assert_allclose(loaded.to_numpy(), s.to_numpy())
    assert prepare_series(loaded, CFG).feature_names[-1] == "tod_cos"
    by_row = load_csv(path, "reading")  # no date column: row order, no time features
    assert prepare_series(by_row, CFG).feature_names == ["level", "change"]
    with pytest.raises(ValueError, match=r"column must name a column of .* got 'missing'"):
        load_csv(path, "missing")
    with pytest.raises(ValueError, match="column 'other' must hold numbers, got 300 non-numeric"):
        load_csv(path, "other")
    with pytest.raises(ValueError, match="no complete window"):
        prepare_series(loaded.iloc[:40], SeriesConfig(window=30, horizon=4))


def test_builtin_series():
    data = load_series("sst", SeriesConfig(window=48, horizon=24))
    assert steps_per_day(data.index) == 48 and data.unit == "°C"
    assert len(data.values) >= 19226  # 30-minute grid (a 12-hour gap stays missing)
    assert np.isnan(data.values).sum() > 0
    with pytest.raises(ValueError, match=r"series name must be one of \['glucose', 'sst'\]"):
        load_series("weather")
