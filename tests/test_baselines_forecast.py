"""Forecast baselines and scores, checked by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnkit.baselines import forecast as F


def test_naive_forecasts_by_hand():
    y = np.array([10.0, 11, 13, 12, 15, 14, 18])
    o = np.array([3, 4])
    np.testing.assert_array_equal(F.persistence(y, o), [12, 15])
    # period 2, horizon 3: k = ceil(3/2) = 2 -> y[t + 3 - 4] = y[t - 1]
    np.testing.assert_array_equal(F.seasonal_naive(y, o, horizon=3, period=2), [13, 12])
    # period 4, horizon 1: y[t + 1 - 4]
    np.testing.assert_array_equal(F.seasonal_naive(y, o, horizon=1, period=4), [10, 11])
    np.testing.assert_allclose(F.moving_average(y, o, 3), [(11 + 13 + 12) / 3, (13 + 12 + 15) / 3])
    np.testing.assert_array_equal(F.lag_matrix(y, o, 2), [[12, 13], [15, 12]])


def test_naive_forecasts_refuse_missing_history():
    y = np.arange(10.0)
    with pytest.raises(
        ValueError, match="needs 2 earlier rows before every origin, but the first origin is row 1"
    ):
        F.moving_average(y, np.array([1, 5]), 3)
    with pytest.raises(ValueError, match="period must be an int >= 1, got 0"):
        F.seasonal_naive(y, np.array([5]), 1, 0)
    with pytest.raises(TypeError, match="origins must be a 1-D integer array"):
        F.persistence(y, np.array([1.5]))


def test_linear_ar_recovers_a_known_process():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    origins = np.arange(5, 399)
    target = 0.3 + 0.5 * x[origins] - 0.25 * x[origins - 1]
    ar = F.LinearAR(3).fit(x, origins, target)
    np.testing.assert_allclose(ar.weights, [0.3, 0.5, -0.25, 0.0], atol=1e-10)
    np.testing.assert_allclose(ar.predict(x, np.array([100, 200])), target[[95, 195]])
    shrunk = F.LinearAR(3, ridge=1e4).fit(x, origins, target)
    assert np.abs(shrunk.weights[1:]).sum() < np.abs(ar.weights[1:]).sum()
    with pytest.raises(ValueError, match=r"target must have shape \(394,\)"):
        F.LinearAR(3).fit(x, origins, target[:-1])


def test_scores_by_hand():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    pred = np.array([2.0, 2.0, 1.0, 4.0])  # errors 1, 0, -2, 0
    assert F.mae(pred, actual) == pytest.approx(0.75)
    assert F.rmse(pred, actual) == pytest.approx(math.sqrt(5 / 4))
    origin = np.array([0.5, 2.5, 2.0, 5.0])  # truth: up, down, up, down; forecast: up, down, down, down
    assert F.directional_accuracy(pred, actual, origin) == pytest.approx(0.75)
    assert F.up_share(actual, origin) == pytest.approx(0.5)
    s = F.score_forecast(pred, actual, origin)
    assert (s.mae, s.direction, s.n) == (pytest.approx(0.75), pytest.approx(0.75), 4)
    # persistence never says "up": its accuracy is the share of non-up moves
    assert F.directional_accuracy(origin, actual, origin) == pytest.approx(1 - F.up_share(actual, origin))
    with pytest.raises(ValueError, match=r"pred must have the shape of actual \(4,\), got \(3,\)"):
        F.mae(pred[:3], actual)
