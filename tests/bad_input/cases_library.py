"""Bad calls of the library: inputs of another dtype than the layer's, wrong ranks and sizes, initial
states of the wrong shape, type or dtype, lengths out of range, unknown cells and backends, bad layer
arguments; and the data and config functions called with bad files or values."""

from __future__ import annotations

from pathlib import Path

import torch

import rnnkit
from rnnkit.layers import create_layer

from . import Case, write

T, B, I, H = 5, 3, 4, 8


def x(dtype: torch.dtype = torch.float32, *shape: int) -> torch.Tensor:
    return torch.randn(*(shape or (T, B, I)), dtype=dtype)


def lstm(**kw) -> rnnkit.LSTM:
    return rnnkit.LSTM(I, H, **kw)


def _load_csv(root: Path, column: str = "load", **kw):
    from rnnkit.data.series import load_csv

    return load_csv(root / "s.csv", column, **kw)


def _series(values: list[str]) -> str:
    return "time,load\n" + "".join(
        f"2020-01-01 {k // 60:02d}:{k % 60:02d}:00,{v}\n" for k, v in enumerate(values)
    )


def _validate(task: str, **overrides):
    from rnnkit.tasks.runner import resolve_config

    return resolve_config(task, preset="smoke", overrides=overrides)


def _autocast_float64():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return lstm()(x(torch.float64))


def _prepare_series_inf():
    import numpy as np
    import pandas as pd

    from rnnkit.data.series import prepare_series

    return prepare_series(pd.Series(np.r_[np.arange(200.0), np.inf]))


def _read_toml(root: Path):
    from rnnkit.train.config import read_toml

    return read_toml(root / "exp.toml")


def _forecaster_float64():
    from rnnkit.models import Forecaster

    return Forecaster(3, horizon=2, num_targets=1, hidden_size=H)(x(torch.float64, 2, T, 3))


def _generator_ids():
    from rnnkit.models import Generator

    return Generator(10, hidden_size=H)(torch.tensor([[1, 2, 12]]))


CASES = [
    # -- dtypes -------------------------------------------------------------------------------------------
    Case(
        "lib-lstm-float64-input",
        call=lambda root: lstm()(x(torch.float64)),
        error=TypeError,
        names=[
            "input dtype torch.float64",
            "layer's dtype torch.float32",
            ".double() on the layer",
            "cast the input",
        ],
    ),
    Case(
        "lib-gru-half-input",
        call=lambda root: rnnkit.GRU(I, H)(x(torch.float16)),
        error=TypeError,
        names=["torch.float16", "torch.float32", ".half()"],
    ),
    Case(
        "lib-rnn-float-input-to-double-layer",
        call=lambda root: rnnkit.RNN(I, H).double()(x()),
        error=TypeError,
        names=["torch.float32", "torch.float64", ".float()"],
    ),
    Case(
        "lib-step-bfloat16-input",
        call=lambda root: lstm().step(x(torch.bfloat16, B, I)),
        error=TypeError,
        names=["torch.bfloat16", ".bfloat16()"],
    ),
    Case(
        "lib-float64-input-under-bf16-autocast",
        call=lambda root: _autocast_float64(),
        error=TypeError,
        names=["torch.float64", ".double()"],
    ),
    Case(
        "lib-hx-dtype-differs",
        call=lambda root: rnnkit.GRU(I, H)(x(), torch.zeros(1, B, H, dtype=torch.float64)),
        error=TypeError,
        names=["hx", "torch.float64"],
    ),
    Case(
        "lib-integer-input",
        call=lambda root: lstm()(torch.ones(T, B, I, dtype=torch.long)),
        error=TypeError,
        names=["input", "floating-point", "torch.int64"],
    ),
    Case(
        "lib-forecaster-float64-input",
        call=lambda root: _forecaster_float64(),
        error=TypeError,
        names=["torch.float64", ".double()"],
    ),
    # -- shapes -------------------------------------------------------------------------------------------
    Case(
        "lib-input-rank-4",
        call=lambda root: lstm()(x(torch.float32, 2, T, B, I)),
        error=ValueError,
        names=["3-D", "4-D", "(2, 5, 3, 4)"],
    ),
    Case(
        "lib-input-rank-1",
        call=lambda root: lstm()(x(torch.float32, I)),
        error=ValueError,
        names=["3-D", "1-D"],
    ),
    Case(
        "lib-input-wrong-feature-size",
        call=lambda root: lstm()(x(torch.float32, T, B, I + 1)),
        error=ValueError,
        names=["input_size=4", "got 5"],
    ),
    Case(
        "lib-input-no-time-steps",
        call=lambda root: lstm()(x(torch.float32, 0, B, I)),
        error=ValueError,
        names=["at least one time step"],
    ),
    Case(
        "lib-hx-wrong-shape",
        call=lambda root: lstm()(x(), (torch.zeros(1, B - 1, H), torch.zeros(1, B, H))),
        error=ValueError,
        names=["h_0", "(1, 3, 8)", "(1, 2, 8)"],
    ),
    Case(
        "lib-hx-not-a-tuple-for-lstm",
        call=lambda root: lstm()(x(), torch.zeros(1, B, H)),
        error=TypeError,
        names=["hx", "tuple of 2", "h_0, c_0"],
    ),
    # -- lengths ------------------------------------------------------------------------------------------
    Case(
        "lib-lengths-longer-than-input",
        call=lambda root: lstm()(x(), lengths=[T + 1, 2, 1]),
        error=ValueError,
        names=["lengths", "T=5", "6"],
    ),
    Case(
        "lib-lengths-zero",
        call=lambda root: lstm()(x(), lengths=[0, 2, 1]),
        error=ValueError,
        names=["lengths", ">= 1"],
    ),
    Case(
        "lib-lengths-float",
        call=lambda root: lstm()(x(), lengths=torch.tensor([1.0, 2.0, 3.0])),
        error=TypeError,
        names=["lengths", "integers", "float32"],
    ),
    Case(
        "lib-lengths-wrong-count",
        call=lambda root: lstm()(x(), lengths=[3, 2]),
        error=ValueError,
        names=["lengths", "(3,)", "(2,)"],
    ),
    # -- constructors -------------------------------------------------------------------------------------
    Case(
        "lib-create-layer-unknown-cell",
        call=lambda root: create_layer("lstn", I, H),
        error=ValueError,
        names=["lstn", "lstm", "gru"],
    ),
    Case(
        "lib-create-layer-unknown-backend",
        call=lambda root: create_layer("gru", I, H, backend="nope"),
        error=ValueError,
        names=["backend", "nope", "reference"],
    ),
    Case(
        "lib-hidden-size-zero",
        call=lambda root: rnnkit.GRU(I, 0),
        error=ValueError,
        names=["hidden_size", "positive", "0"],
    ),
    Case(
        "lib-num-layers-float",
        call=lambda root: rnnkit.GRU(I, H, num_layers=1.5),
        error=TypeError,
        names=["num_layers", "int", "1.5"],
    ),
    Case(
        "lib-dropout-above-one",
        call=lambda root: rnnkit.GRU(I, H, num_layers=2, dropout=2.0),
        error=ValueError,
        names=["dropout", "[0, 1]", "2.0"],
    ),
    Case(
        "lib-proj-size-too-large",
        call=lambda root: lstm(proj_size=H),
        error=ValueError,
        names=["proj_size", "hidden_size=8"],
    ),
    Case(
        "lib-proj-size-on-gru",
        call=lambda root: rnnkit.RecurrentLayer("gru", I, H, proj_size=2),
        error=ValueError,
        names=["proj_size", "'gru'"],
    ),
    Case(
        "lib-step-bidirectional",
        call=lambda root: rnnkit.GRU(I, H, bidirectional=True).step(x(torch.float32, B, I)),
        error=ValueError,
        names=["step()", "unidirectional"],
    ),
    Case(
        "lib-generator-token-out-of-range",
        call=lambda root: _generator_ids(),
        error=ValueError,
        names=["tokens", "[0, 10)", "12"],
    ),
    # -- data and config functions ------------------------------------------------------------------------
    Case(
        "lib-load-csv-inf",
        setup=write("s.csv", _series(["1.5"] * 30 + ["inf"] + ["2"] * 30)),
        call=lambda root: _load_csv(root),
        error=ValueError,
        names=["s.csv", "'load'", "line 32", "infinite"],
    ),
    Case(
        "lib-load-csv-mostly-missing",
        setup=write("s.csv", _series(["1.5", "", ""] * 40)),
        call=lambda root: _load_csv(root),
        error=ValueError,
        names=["s.csv", "'load'", "80 missing", "10%"],
    ),
    Case(
        "lib-load-csv-bad-dates",
        setup=write("s.csv", _series(["1"] * 40).replace("2020-01-01 00:05:00", "soon")),
        call=lambda root: _load_csv(root, date_column="time"),
        error=ValueError,
        names=["s.csv", "'time'", "line 7", "soon"],
    ),
    Case(
        "lib-prepare-series-inf",
        call=lambda root: _prepare_series_inf(),
        error=ValueError,
        names=["inf", "finite"],
    ),
    Case(
        "lib-read-toml-binary",
        setup=write("exp.toml", bytes(range(256))),
        call=_read_toml,
        error=ValueError,
        names=["exp.toml", "not a UTF-8 TOML text"],
    ),
    Case(
        "lib-config-unknown-backend",
        call=lambda root: _validate("text", **{"model.backend": "fused"}),
        error=ValueError,
        names=["model.backend", "fused", "reference"],
    ),
    Case(
        "lib-config-split-shares-sum-to-one",
        call=lambda root: _validate("series", **{"data.val_frac": 0.3, "data.test_frac": 0.7}),
        error=ValueError,
        names=["data.val_frac + data.test_frac", "less than 1"],
    ),
]
