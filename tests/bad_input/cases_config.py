"""Bad settings: values out of range (a zero time budget, split shares outside (0, 1) or leaving no
training split, negative or zero sizes, non-finite numbers), unknown names (backend, cell, section, key,
preset), wrong types in TOML, malformed ``--set``, and config files that are binary or not TOML."""

from __future__ import annotations

from . import Case, write

SHOW = ["--preset", "smoke", "--show-config"]
SMOKE = ["--preset", "smoke", "--no-progress", "--out-dir", "runs"]


def show(task: str, *args: str) -> list[str]:
    return ["train", "--task", task, *SHOW, *args]


def toml_case(id: str, content: str | bytes, names: list[str], *extra: str) -> Case:
    return Case(
        id,
        argv=["train", "--config", "exp.toml", *extra, *SHOW],
        setup=write("exp.toml", content),
        names=names,
    )


CASES = [
    # -- values out of range ------------------------------------------------------------------------------
    Case(
        "config-max-minutes-zero",
        argv=["train", "--task", "text", *SMOKE, "--max-minutes", "0"],
        names=["optim.max_minutes", "> 0"],
    ),
    Case(
        "config-max-minutes-negative",
        argv=show("series", "--max-minutes", "-2"),
        names=["optim.max_minutes", "> 0", "-2"],
    ),
    Case(
        "config-text-val-fraction-above-one",
        argv=show("text", "--set", "data.val_fraction=1.5"),
        names=["data.val_fraction", "between 0 and 1", "1.5"],
    ),
    Case(
        "config-series-val-frac-zero",
        argv=show("series", "--set", "data.val_frac=0"),
        names=["data.val_frac", "between 0 and 1"],
    ),
    Case(
        "config-stocks-test-frac-one",
        argv=show("stocks", "--set", "data.test_frac=1"),
        names=["data.test_frac", "between 0 and 1"],
    ),
    Case(
        "config-music-split-leaves-no-training",
        argv=show("music", "--set", "data.val_frac=0.6", "--set", "data.test_frac=0.4"),
        names=["data.val_frac + data.test_frac", "less than 1", "training"],
    ),
    Case(
        "config-jump-val-frac-negative",
        argv=show("jump", "--set", "data.val_frac=-0.1"),
        names=["data.val_frac", "between 0 and 1"],
    ),
    Case(
        "config-compose-val-frac-above-one",
        argv=show("compose", "--set", "data.val_frac=2"),
        names=["data.val_frac", "between 0 and 1"],
    ),
    Case(
        "config-hidden-size-negative",
        argv=show("text", "--set", "model.hidden_size=-4"),
        names=["model.hidden_size", ">= 1", "-4"],
    ),
    Case(
        "config-batch-size-zero",
        argv=show("series", "--set", "data.batch_size=0"),
        names=["data.batch_size", ">= 1"],
    ),
    Case(
        "config-series-window-too-small",
        argv=show("series", "--set", "data.window=1"),
        names=["data.window", ">= 2"],
    ),
    Case(
        "config-dropout-above-one",
        argv=show("music", "--set", "model.dropout=1.5"),
        names=["model.dropout", "<= 1.0", "1.5"],
    ),
    Case(
        "config-momentum-above-one",
        argv=show("text", "--set", "optim.momentum=1.2"),
        names=["optim.momentum", "<= 1.0"],
    ),
    Case(
        "config-stocks-unknown-ticker",
        argv=show("stocks", "--set", "data.tickers=AAPL,FOO"),
        names=["data.tickers", "'FOO'", "MSFT"],
    ),
    Case(
        "config-stocks-horizon-zero",
        argv=show("stocks", "--set", "data.horizons=1,0"),
        names=["data.horizons", ">= 1"],
    ),
    Case(
        "config-lr-nan",
        argv=show("text", "--set", "optim.lr=nan"),
        names=["optim.lr", "finite"],
    ),
    Case(
        "config-betas-out-of-range",
        argv=show("text", "--set", "optim.betas=0.9,1.5"),
        names=["optim.betas", "[0, 1)"],
    ),
    Case(
        "config-series-ar-order-above-window",
        argv=["train", "--task", "series", *SMOKE, "--set", "data.ar_order=40"],
        names=["data.ar_order", "data.window"],
    ),
    # -- unknown names ------------------------------------------------------------------------------------
    Case(
        "config-backend-unknown",
        argv=show("text", "--set", "model.backend=nope"),
        names=["model.backend", "'nope'", "reference", "auto"],
    ),
    Case(
        "config-backend-typo",
        argv=show("series", "--set", "model.backend=refrence"),
        names=["model.backend", "did you mean 'reference'"],
    ),
    Case("config-cell-typo", argv=show("text", "--cell", "lstn"), names=["model.cell", "lstn", "lstm"]),
    Case(
        "config-unknown-preset",
        argv=["train", "--task", "text", "--preset", "fast", "--show-config"],
        names=["preset", "fast", "smoke"],
    ),
    Case(
        "config-set-unknown-key",
        argv=show("text", "--set", "optim.learning_rate=1e-3"),
        names=["optim.learning_rate", "valid keys"],
    ),
    Case(
        "config-set-without-equals",
        argv=show("text", "--set", "optim.lr"),
        names=["--set", "KEY=VALUE", "optim.lr"],
    ),
    Case(
        "config-set-not-a-number",
        argv=show("text", "--set", "optim.lr=fast"),
        names=["optim.lr", "float", "fast"],
    ),
    Case(
        "config-set-bool-not-a-bool",
        argv=show("text", "--set", "run.plot=maybe"),
        names=["run.plot", "bool", "maybe"],
    ),
    # -- TOML files ---------------------------------------------------------------------------------------
    toml_case("config-toml-binary", bytes(range(256)) * 8, ["exp.toml", "not a UTF-8 TOML text"]),
    toml_case("config-toml-syntax", "[model\nhidden_size = \n", ["exp.toml", "not valid TOML"]),
    toml_case(
        "config-toml-wrong-type",
        'task = "text"\n[model]\nhidden_size = "big"\n',
        ["model.hidden_size", "int", "big"],
    ),
    toml_case("config-toml-float-for-int", "[model]\nhidden_size = 1.5\n", ["model.hidden_size", "int"]),
    toml_case("config-toml-unknown-section", "[modle]\nhidden_size = 8\n", ["modle", "model"]),
    toml_case("config-toml-unknown-key", "[optim]\nlearnrate = 0.1\n", ["optim.learnrate"]),
    toml_case("config-toml-section-not-a-table", "model = 5\n", ["[model]", "table"]),
    toml_case("config-toml-task-not-a-string", "task = 3\n", ["task", "string"]),
    toml_case(
        "config-toml-task-disagrees",
        'task = "series"\n',
        ["--task", "'text'", "'series'"],
        "--task",
        "text",
    ),
    toml_case("config-toml-zero-layers", "[model]\nnum_layers = 0\n", ["model.num_layers", ">= 1"]),
    toml_case(
        "config-toml-fraction-out-of-range",
        'task = "series"\n[data]\ntest_frac = 1.2\n',
        ["data.test_frac", "between 0 and 1"],
    ),
    toml_case("config-toml-backend-unknown", '[model]\nbackend = "gpu"\n', ["model.backend", "gpu", "cpu"]),
    toml_case("config-toml-list-for-number", "[optim]\nlr = [1, 2]\n", ["optim.lr", "float"]),
]
