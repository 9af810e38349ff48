"""Forecast baselines and the scores they are judged by: the honest yardsticks of the ``stocks`` and
``series`` demos, computed in the same run as the network on the same forecast origins.

A forecast is made at an *origin* row t (the last observed value) for row t + h. With ``y`` the series:

- persistence (random walk):    ŷ_{t+h} = y_t
- seasonal naive, period s:     ŷ_{t+h} = y_{t+h−k·s},  k = ⌈h/s⌉ (the latest value one or more whole
                                periods back, never later than t)
- moving average over k values: ŷ_{t+h} = (y_{t−k+1} + … + y_t) / k
- mean (climatology):           ŷ_{t+h} = mean of the training period
- linear autoregression AR(p):  target_t ≈ w₀ + Σ_{j<p} w_{j+1} x_{t−j}, least squares on the training
                                origins only (x = e.g. daily log-returns, target = the h-day log-return)

Scores: RMSE, MAE, and directional accuracy: the share of origins where the forecast and the truth agree
on "up" (ŷ_{t+h} > y_t vs y_{t+h} > y_t). Persistence never says "up", so its accuracy is the share of
non-up moves; the share of up moves (``up_share``) is what "always up" scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._checks import check_int_range


def _origins(origins: np.ndarray, name: str = "origins") -> np.ndarray:
    o = np.asarray(origins)
    if o.ndim != 1 or not np.issubdtype(o.dtype, np.integer):
        raise TypeError(f"{name} must be a 1-D integer array of row indices, got {o.dtype} shape {o.shape}")
    return o.astype(np.int64)


def _check_history(name: str, origins: np.ndarray, needed: int) -> None:
    if origins.size and int(origins.min()) < needed:
        raise ValueError(
            f"{name} needs {needed} earlier rows before every origin, but the first origin is row "
            f"{int(origins.min())}"
        )


def persistence(y: np.ndarray, origins: np.ndarray) -> np.ndarray:
    """ŷ_{t+h} = y_t for every origin t."""
    return np.asarray(y, dtype=np.float64)[_origins(origins)]


def seasonal_naive(y: np.ndarray, origins: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """ŷ_{t+h} = y_{t+h−k·s} with k = ⌈h/s⌉: the same phase one or more periods back."""
    h, s = check_int_range("horizon", horizon, 1), check_int_range("period", period, 1)
    o = _origins(origins)
    back = h - s * math.ceil(h / s)  # <= 0
    _check_history("seasonal_naive", o, -back)
    return np.asarray(y, dtype=np.float64)[o + back]


def moving_average(y: np.ndarray, origins: np.ndarray, k: int) -> np.ndarray:
    """ŷ_{t+h} = mean(y_{t−k+1}, …, y_t)."""
    k = check_int_range("k", k, 1)
    o = _origins(origins)
    _check_history("moving_average", o, k - 1)
    c = np.concatenate([[0.0], np.cumsum(np.asarray(y, dtype=np.float64))])
    return (c[o + 1] - c[o + 1 - k]) / k


def lag_matrix(x: np.ndarray, origins: np.ndarray, p: int) -> np.ndarray:
    """(N, p) matrix whose row n is [x_t, x_{t−1}, …, x_{t−p+1}] for origin t = origins[n]."""
    p = check_int_range("p", p, 1)
    o = _origins(origins)
    _check_history("lag_matrix", o, p - 1)
    x = np.asarray(x, dtype=np.float64)
    return x[o[:, None] - np.arange(p)[None, :]]


@dataclass
class LinearAR:
    """AR(p) by least squares: target_t ≈ w₀ + Σ_j w_{j+1} x_{t−j} (with an optional ridge penalty on
    the lag weights, never on the intercept)."""

    p: int
    ridge: float = 0.0
    weights: np.ndarray | None = None  # (p + 1,): intercept first

    def fit(self, x: np.ndarray, origins: np.ndarray, target: np.ndarray) -> LinearAR:
        X = lag_matrix(x, origins, self.p)  # (N, p)
        t = np.asarray(target, dtype=np.float64)
        if t.shape != (X.shape[0],):
            raise ValueError(f"target must have shape ({X.shape[0]},) (one per origin), got {t.shape}")
        if X.shape[0] <= self.p:
            raise ValueError(f"AR({self.p}) needs more than {self.p} training origins, got {X.shape[0]}")
        A = np.column_stack([np.ones(len(X)), X])  # (N, p + 1)
        if self.ridge > 0:
            reg = np.sqrt(self.ridge) * np.eye(self.p + 1)[1:]  # no penalty on the intercept
            A, t = np.vstack([A, reg]), np.concatenate([t, np.zeros(self.p)])
        self.weights = np.linalg.lstsq(A, t, rcond=None)[0]
        return self

    def predict(self, x: np.ndarray, origins: np.ndarray) -> np.ndarray:
        if self.weights is None:
            raise RuntimeError("LinearAR.predict called before fit")
        X = lag_matrix(x, origins, self.p)
        return self.weights[0] + X @ self.weights[1:]


@dataclass(frozen=True)
class ForecastScore:
    """RMSE, MAE and (when origin values were given) directional accuracy over ``n`` forecasts."""

    rmse: float
    mae: float
    direction: float | None
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        return {"rmse": self.rmse, "mae": self.mae, "direction": self.direction, "n": self.n}


def _pair(pred: np.ndarray, actual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, a = np.asarray(pred, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape:
        raise ValueError(f"pred must have the shape of actual {a.shape}, got {p.shape}")
    if p.size == 0:
        raise ValueError("pred and actual must not be empty")
    return p, a


def rmse(pred: np.ndarray, actual: np.ndarray) -> float:
    p, a = _pair(pred, actual)
    return float(np.sqrt(np.mean((p - a) ** 2)))


def mae(pred: np.ndarray, actual: np.ndarray) -> float:
    p, a = _pair(pred, actual)
    return float(np.mean(np.abs(p - a)))


def directional_accuracy(pred: np.ndarray, actual: np.ndarray, origin_value: np.ndarray) -> float:
    """Share of forecasts agreeing with the truth on "up": (ŷ > y_t) == (y > y_t)."""
    p, a = _pair(pred, actual)
    _, o = _pair(p, origin_value)
    return float(np.mean((p > o) == (a > o)))


def up_share(actual: np.ndarray, origin_value: np.ndarray) -> float:
    """Share of origins where the series went up: what the "always up" forecast scores."""
    a, o = _pair(actual, origin_value)
    return float(np.mean(a > o))


def score_forecast(
    pred: np.ndarray, actual: np.ndarray, origin_value: np.ndarray | None = None
) -> ForecastScore:
    direction = None if origin_value is None else directional_accuracy(pred, actual, origin_value)
    return ForecastScore(rmse(pred, actual), mae(pred, actual), direction, int(np.size(actual)))
