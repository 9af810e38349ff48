"""The ``stocks`` task's baselines and scores: persistence (random walk), a moving average of closes and
a per-ticker linear AR(p) on daily log-returns, on the same origins as the network; RMSE/MAE of h-day
log-returns in percent and directional accuracy.

``stocks`` is a :class:`rnnkit.data.stocks.StocksData` (per ticker: prices, returns, origins, targets)."""

from __future__ import annotations

import numpy as np

from .forecast import LinearAR, directional_accuracy, mae, moving_average, rmse


def return_metrics(pred: np.ndarray, actual: np.ndarray, horizons: tuple[int, ...]) -> dict[str, float]:
    """RMSE/MAE of the h-day log-returns in percent and directional accuracy, for each horizon."""
    out = {}
    for k, h in enumerate(horizons):
        p, a = pred[:, k], actual[:, k]
        out[f"rmse_{h}d"] = 100 * rmse(p, a)
        out[f"mae_{h}d"] = 100 * mae(p, a)
        out[f"dir_{h}d"] = directional_accuracy(p, a, np.zeros_like(a))
    return out


def baseline_returns(stocks, period: str, ma_window: int, ar_order: int) -> dict[str, list[np.ndarray]]:
    """Baseline name → per ticker the predicted h-day log-returns (S_t, K) at the period's origins."""
    out: dict[str, list[np.ndarray]] = {"persistence": [], f"ma{ma_window}": [], f"ar{ar_order}": []}
    for t in stocks.tickers.values():
        o, tr = t.origins[period], t.origins["train"]
        K = t.targets.shape[1]
        out["persistence"].append(np.zeros((len(o), K)))
        ma = np.log(moving_average(t.price, o, ma_window) / t.price[o])
        out[f"ma{ma_window}"].append(np.repeat(ma[:, None], K, axis=1))
        ar = [LinearAR(ar_order).fit(t.returns, tr, t.targets[tr, k]).predict(t.returns, o) for k in range(K)]
        out[f"ar{ar_order}"].append(np.column_stack(ar))
    return out
