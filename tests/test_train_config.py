"""Configs: dotted keys, typo errors listing the valid keys, TOML files + command-line overrides,
round trip of the saved config."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass

import pytest

from rnnkit.train.config import (
    Config,
    OptimConfig,
    RunConfig,
    apply_overrides,
    flatten_file,
    option,
    parse_assignments,
    read_toml,
    save_config,
    to_dict,
    to_toml,
    valid_keys,
    validate,
)


@dataclass
class ModelCfg:
    cell: str = option("lstm", "cell", choices=("lstm", "gru"))
    hidden_size: int = option(32, "hidden", low=1)


@dataclass
class DataCfg:
    path: str | None = None
    seq_len: int = 50


def make() -> Config:
    return Config("demo", ModelCfg(), DataCfg())


def test_typo_lists_valid_keys_and_suggests():
    cfg = make()
    with pytest.raises(ValueError, match=r"unknown config key 'optim\.lrr'; did you mean 'optim\.lr'\?") as e:
        apply_overrides(cfg, {"optim.lrr": 1e-3})
    msg = str(e.value)
    for key in ("model.hidden_size", "data.seq_len", "optim.clip_norm", "run.seed"):
        assert key in msg
    with pytest.raises(ValueError, match=r"unknown config key 'modle\.cell'"):
        apply_overrides(cfg, {"modle.cell": "gru"})
    with pytest.raises(ValueError, match=r"unknown config key 'lr'"):
        apply_overrides(cfg, {"lr": 1.0})
    with pytest.raises(ValueError, match=r"unknown config section 'optimizer'; did you mean 'optim'"):
        flatten_file({"optimizer": {"lr": 1}})


def test_values_are_converted_and_checked():
    cfg = apply_overrides(
        make(),
        parse_assignments(
            [
                "optim.lr=3e-3",
                "optim.clip_norm=none",
                "run.progress=false",
                "optim.betas=0.8,0.95",
                "model.hidden_size=2_048",
            ]
        ),
    )
    assert cfg.optim.lr == 3e-3 and cfg.optim.clip_norm is None and cfg.run.progress is False
    assert cfg.optim.betas == (0.8, 0.95) and cfg.model.hidden_size == 2048
    apply_overrides(cfg, {"optim.max_minutes": 2})  # an int where a float is expected
    assert cfg.optim.max_minutes == 2.0 and isinstance(cfg.optim.max_minutes, float)
    with pytest.raises(ValueError, match=r"optim\.max_steps expects an int, got 'ten'"):
        apply_overrides(cfg, {"optim.max_steps": "ten"})
    with pytest.raises(TypeError, match=r"model.hidden_size expects an int, got float \(1.5\)"):
        apply_overrides(cfg, {"model.hidden_size": 1.5})
    with pytest.raises(ValueError, match=r"optim\.lr cannot be none"):
        apply_overrides(cfg, {"optim.lr": None})
    with pytest.raises(ValueError, match=r"optim\.betas expects 2 values, got 3"):
        apply_overrides(cfg, {"optim.betas": [0.9, 0.9, 0.9]})
    with pytest.raises(ValueError, match=r"--set expects KEY=VALUE"):
        parse_assignments(["optim.lr"])


def test_validate_choices_and_bounds():
    with pytest.raises(ValueError, match=r"model.cell must be one of \['lstm', 'gru'\], got 'lstn'"):
        validate(apply_overrides(make(), {"model.cell": "lstn"}))
    with pytest.raises(ValueError, match=r"optim\.lr must be >= 0\.0, got -1\.0"):
        validate(apply_overrides(make(), {"optim.lr": -1.0}))
    with pytest.raises(ValueError, match=r"optim\.schedule must be one of"):
        validate(apply_overrides(make(), {"optim.schedule": "step"}))
    validate(make())


def test_toml_file_then_command_line_overrides(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(
        'task = "demo"\n[model]\nhidden_size = 64\ncell = "gru"\n[optim]\nlr = 0.01\nmax_steps = 300\n'
    )
    task, flat = flatten_file(read_toml(path))
    assert task == "demo"
    cfg = apply_overrides(make(), flat)
    apply_overrides(cfg, parse_assignments(["optim.lr=5e-4"]))  # later layers win
    assert (cfg.model.hidden_size, cfg.model.cell, cfg.optim.lr, cfg.optim.max_steps) == (
        64,
        "gru",
        5e-4,
        300,
    )
    bad = tmp_path / "bad.toml"
    bad.write_text("[optim]\nlr = \n")
    with pytest.raises(ValueError, match=r"is not valid TOML"):
        read_toml(bad)
    with pytest.raises(FileNotFoundError, match=r"does not exist"):
        read_toml(tmp_path / "none.toml")


def test_saved_config_round_trips(tmp_path):
    cfg = apply_overrides(make(), {"optim.clip_value": 0.5, "data.path": "my.txt", "optim.max_minutes": 1.5})
    save_config(cfg, tmp_path)
    again = tomllib.loads((tmp_path / "config.toml").read_text())
    _, flat = flatten_file(again)
    reloaded = apply_overrides(make(), flat)
    assert to_dict(reloaded) == to_dict(cfg) == json.loads((tmp_path / "config.json").read_text())
    assert "# data.path" not in to_toml(cfg) and "# optim.max_epochs = none" not in to_toml(cfg)
    assert "# max_epochs = none" in to_toml(cfg)


def test_valid_keys_cover_all_sections():
    keys = valid_keys(make())
    assert keys[:2] == ["model.cell", "model.hidden_size"]
    assert {k.split(".")[0] for k in keys} == {"model", "data", "optim", "run"}
    assert len([k for k in keys if k.startswith("optim.")]) == len(OptimConfig.__dataclass_fields__)
    assert len([k for k in keys if k.startswith("run.")]) == len(RunConfig.__dataclass_fields__)
