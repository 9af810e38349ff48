"""Forecast and piano-roll plots are written as real PNG files (atomically, parents created)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread

from rnnkit.data.music import Event
from rnnkit.plots import plot_forecast, plot_horizon_errors, plot_pianoroll

PNG = b"\x89PNG\r\n\x1a\n"


def test_forecast_plots(tmp_path):
    x = pd.date_range("2020-01-01", periods=50)
    actual = np.cumsum(np.ones(50))
    path = plot_forecast(
        tmp_path / "deep" / "forecast.png",
        x,
        actual,
        {"lstm": actual + 0.1, "persistence": np.roll(actual, 1)},
        model="lstm",
        title="t",
        ylabel="$",
    )
    assert path.read_bytes()[:8] == PNG and imread(path).shape[0] > 300
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left behind
    with pytest.raises(ValueError, match="forecast 'bad' must have 50 values like actual, got 3"):
        plot_forecast(tmp_path / "x.png", x, actual, {"bad": np.ones(3)})
    errs = plot_horizon_errors(
        tmp_path / "h.png", {"lstm": np.arange(1, 25) * 0.1, "persistence": np.ones(24)}
    )
    assert errs.read_bytes()[:8] == PNG


def test_pianoroll(tmp_path):
    events = [Event(60, 1.0), Event(None, 0.5), Event(64, 0.5), Event(67, 2.0), Event(73, 1.0)]
    path = plot_pianoroll(events, tmp_path / "roll.png", prime_count=1, tonic=60, title="C4 →")
    image = imread(path)
    assert path.read_bytes()[:8] == PNG and image.shape[1] > 300
    with pytest.raises(ValueError, match="only rests"):
        plot_pianoroll([Event(None, 1.0)], tmp_path / "r.png")
    with pytest.raises(ValueError, match="mode must be 'major' or 'minor', got 'dorian'"):
        plot_pianoroll(events, tmp_path / "r.png", tonic=60, mode="dorian")


def test_forecast_lines_break_across_missing_data_but_not_weekends():
    from rnnkit.plots.forecast import _broken, _gaps

    days = pd.bdate_range("2021-01-01", periods=30)  # trading days: weekends are not gaps
    assert _gaps(days).size == 0
    steps = pd.date_range("2021-01-01", periods=10, freq="5min").delete([4, 5, 6, 7])
    steps = steps.append(pd.date_range(steps[-1] + pd.Timedelta(hours=2), periods=5, freq="5min"))
    gaps = _gaps(steps)
    assert gaps.tolist() == [6]
    xs, ys = _broken(steps, np.arange(len(steps), dtype=float), gaps)
    assert len(xs) == len(steps) + 1 and np.isnan(ys[6]) and ys[7] == 6.0
