"""Stock data: a walk-forward split with no look-ahead, features and targets by hand, CSV input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit.data.stocks import (
    FEATURES,
    StocksConfig,
    load_ohlcv,
    load_ohlcv_csv,
    prepare_stocks,
    split_dates,
    stock_features,
)
from rnnkit.models import Forecaster

CFG = StocksConfig(tickers=("AAPL", "GOOG"), window=20, horizons=(1, 5))


@pytest.fixture(scope="module")
def bars() -> dict[str, pd.DataFrame]:
    # a tiny slice: 2004-2006, where GOOG's calendar starts later than AAPL's
    return {t: load_ohlcv(t).loc["2004-01-01":"2006-12-31"] for t in ("AAPL", "GOOG")}


def test_builtin_bars():
    aapl = load_ohlcv("AAPL")
    assert list(aapl.columns) == ["open", "high", "low", "close", "volume", "adj_close"]
    assert len(aapl) == 3270 and aapl.index.is_monotonic_increasing
    # 3,270: the daily bars of bokeh_sampledata's stocks.AAPL, every one kept (one row per date)
    from bokeh_sampledata import stocks

    assert len(stocks.AAPL["date"]) == len(set(stocks.AAPL["date"])) == len(aapl)
    assert str(aapl.index[0].date()) == "2000-03-01" and str(aapl.index[-1].date()) == "2013-03-01"
    with pytest.raises(
        ValueError, match=r"ticker must be one of \['AAPL', 'GOOG', 'IBM', 'MSFT'\], got 'FOO'"
    ):
        load_ohlcv("FOO")


def test_features_by_hand():
    bars = pd.DataFrame(
        {
            "open": [10.0, 21.0, 11.0],
            "high": [11.0, 22.0, 12.0],
            "low": [9.0, 20.0, 10.0],
            "close": [10.0, 22.0, 11.5],
            "volume": [100, 300, 400],
            "adj_close": [5.0, 11.0, 11.5],  # a 2:1 split after day 1: factor 0.5 then 1
        },
        index=pd.date_range("2020-01-01", periods=3),
    )
    f = stock_features(bars)
    assert list(f.columns) == list(FEATURES)
    np.testing.assert_allclose(f["return"].iloc[1:], np.log([11 / 5, 11.5 / 11]))
    np.testing.assert_allclose(f["range"], np.log([11 / 9, 22 / 20, 12 / 10]))
    np.testing.assert_allclose(f["gap"].iloc[1:], np.log([21 * 0.5 / 5, 11 / 11]))
    # split-adjusted volume: 100/0.5 = 200, 300/0.5 = 600, 400
    np.testing.assert_allclose(f["volume"].iloc[1:], np.log([600 / 200, 400 / 600]))
    assert f.iloc[0][["return", "gap", "volume"]].isna().all()


def test_split_is_one_set_of_dates_and_has_no_look_ahead(bars):
    data = prepare_stocks(bars, CFG)
    assert (data.val_start, data.test_start) == split_dates([b.index for b in bars.values()], 0.1, 0.2)
    for t in data.tickers.values():
        d, o = t.dates, t.origins
        for period in ("train", "val", "test"):
            assert o[period].size > 10
        last_train_target = d[o["train"].max() + 5]
        assert last_train_target < data.val_start <= d[o["val"].min() + 1]
        assert d[o["val"].max() + 5] < data.test_start <= d[o["test"].min() + 1]
        # every date a training sample reads or predicts comes before every test target date
        assert last_train_target < d[o["test"].min() + 1]
        # windows never reach before the first valid row (row 0 has no return)
        assert o["train"].min() - CFG.window + 1 >= 1
    # GOOG lists in August 2004: its test period starts on the same date as AAPL's
    assert data.tickers["GOOG"].dates[0] > data.tickers["AAPL"].dates[0]


def test_targets_and_windows(bars):
    data = prepare_stocks(bars, CFG)
    t = data.tickers["AAPL"]
    ds = data.ticker_dataset("AAPL", "test")
    x, y = ds[3]
    origin = int(t.origins["test"][3])
    assert x.shape == (20, 4) and y.shape == (2, 1)
    np.testing.assert_allclose(x.numpy(), t.features[origin - 19 : origin + 1], rtol=1e-6)
    expect = np.log(t.price[[origin + 1, origin + 5]] / t.price[origin])
    np.testing.assert_allclose(y[:, 0].numpy(), expect, rtol=1e-5)
    xs, ys = ds.tensors()
    assert xs.shape == (len(ds), 20, 4) and ys.shape == (len(ds), 2, 1)
    torch.testing.assert_close(xs[3], x)
    assert len(data.dataset("train")) == sum(len(v.origins["train"]) for v in data.tickers.values())


def test_scalers_see_only_training_data(bars):
    data = prepare_stocks(bars, CFG)
    model = Forecaster(4, horizon=2, num_targets=1, hidden_size=8)
    model.fit_scalers(torch.tensor(data.train_rows()), torch.tensor(data.train_targets()))
    # the statistics are those of the training rows, computed independently
    rows = []
    for t in data.tickers.values():
        last = t.origins["train"].max()
        rows.append(t.features[1 : last + 1])
    expect = np.concatenate(rows)
    np.testing.assert_allclose(model.input_scaler.mean.numpy(), expect.mean(0), rtol=1e-5)
    np.testing.assert_allclose(model.input_scaler.std.numpy(), expect.std(0), rtol=1e-5)
    # perturbing every price from the validation period on changes nothing the scalers are fit on
    shocked = {k: v.copy() for k, v in bars.items()}
    for v in shocked.values():
        later = v.index >= data.val_start
        v.loc[later, ["open", "high", "low", "close", "adj_close"]] *= 7.0
        v.loc[later, "volume"] *= 3
    again = prepare_stocks(shocked, CFG)
    np.testing.assert_array_equal(again.train_rows(), data.train_rows())
    np.testing.assert_array_equal(again.train_targets(), data.train_targets())


def test_user_csv(tmp_path, bars):
    frame = bars["AAPL"].reset_index().rename(columns={"date": "Date", "adj_close": "Adj Close"})
    path = tmp_path / "prices.csv"
    frame.to_csv(path, index=False)
    loaded = load_ohlcv_csv(path, date_column="Date")
    pd.testing.assert_frame_equal(
        loaded, bars["AAPL"].astype(np.float64), check_freq=False, check_names=False
    )
    data = prepare_stocks({"MINE": loaded}, CFG)
    assert len(data.dataset("test")) > 0
    frame.drop(columns=["volume"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"must have columns .* missing \['volume'\]"):
        load_ohlcv_csv(path, date_column="Date")
