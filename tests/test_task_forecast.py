"""The `stocks` and `series` tasks: a few steps on small real/CSV data write every output, baselines
share the model's origins, a structured series is learned beyond the naive baselines, and a saved run
forecasts past the end of its data."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest

from rnnkit.data.stocks import load_ohlcv
from rnnkit.tasks import get_task, load_run, resolve_config, train
from train_helpers import one_thread  # noqa: F401

QUIET = {"run.progress": False, "run.plot": False}


def stock_csv(tmp_path) -> str:
    bars = load_ohlcv("IBM").loc["2005-01-01":"2008-12-31"].reset_index()
    path = tmp_path / "ibm.csv"
    bars.to_csv(path, index=False)
    return str(path)


def test_stocks_task_on_a_user_csv(tmp_path, capsys):
    overrides = {**QUIET, "run.out_dir": str(tmp_path), "data.csv": stock_csv(tmp_path)}
    s = train(resolve_config("stocks", preset="smoke", overrides=overrides), echo=lambda _: None)
    run = s.run_dir
    for name in ("summary.json", "forecast.md", "forecast.json", "forecast-IBM.png"):
        assert (run / name).exists(), name
    assert set(s.baselines["test"]) == {"persistence", "ma5", "ar5", "always up"}
    test = s.metrics["test"]
    assert set(test) >= {"loss", "rmse_1d", "mae_1d", "dir_1d", "rmse_5d", "mae_5d", "dir_5d"}
    # the baselines are scored on exactly the model's windows: persistence's error is the target's size
    data = get_task("stocks").build_data(
        s_cfg := resolve_config("stocks", preset="smoke", overrides=overrides)
    )
    y = data.test.y[:, 0, 0].double().numpy()
    assert s.baselines["test"]["persistence"]["rmse_1d"] == pytest.approx(100 * np.sqrt(np.mean(y**2)))
    assert s_cfg.data.horizons == (1, 5)
    report = json.loads((run / "forecast.json").read_text())
    assert "persistence" in report["verdict"]
    rows = {(r["forecaster"], r["h"]) for r in report["rows"]}
    assert rows == {(f, h) for f in ("lstm", "persistence", "ma5", "ar5") for h in (1, 5)}
    loaded = load_run(run)
    capsys.readouterr()
    out = tmp_path / "next.csv"
    assert loaded.task.forecast(loaded, argparse.Namespace(csv=None, out=str(out))) == 0
    table = capsys.readouterr().out
    lines = table.splitlines()
    assert lines[2].split() == ["ticker", "last", "day", "ahead", "close", "model", "persistence", "ma5"]
    assert [line.split()[:3] for line in lines[3:]] == [
        ["IBM", "2008-12-31", "+1d"],
        ["IBM", "2008-12-31", "+5d"],
    ]
    rows = pd.read_csv(out)
    assert rows["days_ahead"].tolist() == [1, 5] and (rows["close"] == rows["close"].iloc[0]).all()
    np.testing.assert_allclose(rows["forecast"], rows["close"] * np.exp(rows["log_return"]))
    # the same through the command line
    from rnnkit import cli

    out2 = tmp_path / "next-cli.csv"
    assert cli.main(["forecast", str(run), "--out", str(out2)]) == 0
    assert capsys.readouterr().out.strip() == table.strip()
    pd.testing.assert_frame_equal(pd.read_csv(out2), rows)


def series_signal(t: np.ndarray) -> np.ndarray:
    """The noise-free part of :func:`series_csv` at steps ``t``: a daily cycle whose amplitude drifts
    around a mean of 20 (so what comes after the CSV's end is known)."""
    amp = 2 + np.sin(2 * np.pi * t / 700)
    return 20 + amp * np.sin(2 * np.pi * t / 24)


def series_csv(tmp_path, n: int = 3000) -> str:
    """An hourly series with a daily cycle whose amplitude drifts: learnable, not persistent."""
    rng = np.random.default_rng(0)
    t = np.arange(n)
    values = series_signal(t) + 0.05 * rng.normal(size=n)
    frame = pd.DataFrame({"time": pd.date_range("2022-01-01", periods=n, freq="h"), "load": values})
    path = tmp_path / "load.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_series_task_learns_a_structured_csv_series(tmp_path, capsys):
    overrides = {
        **QUIET,
        "run.out_dir": str(tmp_path),
        "data.csv": series_csv(tmp_path),
        "data.column": "load",
        "data.date_column": "time",
        "data.horizon": 12,
        "data.window": 24,
        "data.ar_order": 4,
        "model.hidden_size": 24,
        "optim.max_steps": 250,
        "optim.lr": 1e-2,
        "run.eval_every": 125,
    }
    s = train(resolve_config("series", preset="smoke", overrides=overrides), echo=lambda _: None)
    test, base = s.metrics["test"], s.baselines["test"]
    # seasonal naive with a 12-hour period IS persistence 12 steps ahead, so it is not listed twice
    assert set(base) == {"persistence", "seasonal_1d", "mean", "ar4"}
    best_naive = min(base[n]["mae"] for n in ("persistence", "seasonal_1d", "mean"))
    assert test["mae"] < 0.9 * best_naive  # the floor of the demo, on a series built to be learnable
    summary = json.loads((s.run_dir / "summary.json").read_text())
    assert summary["artifacts"]["floor_met"] is True
    for name in ("forecast.md", "forecast.png", "horizon.png"):
        assert (s.run_dir / name).exists(), name
    loaded = load_run(s.run_dir)
    out = tmp_path / "next.csv"
    capsys.readouterr()
    assert (
        loaded.task.forecast(
            loaded, argparse.Namespace(csv=None, column=None, date_column=None, out=str(out))
        )
        == 0
    )
    frame = pd.read_csv(out)
    assert len(frame) == 12 and frame["time"].iloc[0] == "2022-05-06 00:00:00"
    assert abs(frame["forecast"].iloc[0] - 20) < 4
    # the 12 steps after the end are known (the cycle peaks at ~23 there): the model's forecast must
    # follow them far better than the mean (20, MAE ~1.9) or persistence (MAE ~2.7) does — a forecast
    # of the mean passed the check above
    truth = series_signal(np.arange(3000, 3012))
    mae = float(np.abs(frame["forecast"] - truth).mean())
    assert mae < 0.3 * float(np.abs(frame["mean"] - truth).mean()), (mae, frame)
    assert mae < 0.3 * float(np.abs(frame["persistence"] - truth).mean()), (mae, frame)
    assert float(frame["forecast"].max()) > 22.5  # it forecasts the peak, not a flat line


def test_series_task_needs_a_column_with_a_csv(tmp_path):
    overrides = {**QUIET, "run.out_dir": str(tmp_path), "data.csv": series_csv(tmp_path, 200)}
    with pytest.raises(ValueError, match=r"data.column .* is required with a CSV file"):
        get_task("series").build_data(resolve_config("series", preset="smoke", overrides=overrides))
