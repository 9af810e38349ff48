"""The command line's rough edges, each pinned down: forecasts beside the naive baselines with a header,
units and a "wrote" line; generate refuses bad sampling options before printing anything; a config key
suggested by meaning as well as by spelling; info's columns as wide as their names; task-flag
placeholders that say what goes there; evaluate's ↓/↑ table with a verdict per metric; the --split
message; music without --out writes to the current folder, never into the run; bench writes to a scratch
folder unless told; the demo count of ``rnnkit --help`` comes from the tour's registry."""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from rnnkit import cli
from rnnkit.commands.evaluate import metric_table, verdict_lines, verdicts
from rnnkit.commands.train import flag_metavar
from rnnkit.data.midi import write_midi
from rnnkit.data.music_vocab import Event
from rnnkit.data.stocks import load_ohlcv
from rnnkit.tasks import get_task
from rnnkit.train.config import suggest_key, valid_keys
from train_helpers import one_thread  # noqa: F401

SMOKE = ["--preset", "smoke", "--no-progress"]
ROOT = Path(__file__).resolve().parent.parent


def run_cli(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


def train(folder: Path, name: str, *argv: object) -> Path:
    """A tiny trained run ``folder/name`` (one torch thread: tiny tensors gain nothing from more)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert run_cli("train", *SMOKE, "--out-dir", folder, "--name", name, *argv) == 0
    finally:
        torch.set_num_threads(threads)
    return folder / name


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("runs")


@pytest.fixture(scope="module")
def text_run(runs) -> Path:
    return train(runs, "text")


@pytest.fixture(scope="module")
def series_csv(runs) -> Path:
    """Hourly readings with a daily cycle (so both seasonal baselines exist) and no unit."""
    t = np.arange(400)
    values = 20 + 3 * np.sin(2 * np.pi * t / 24) + 0.1 * np.random.default_rng(0).normal(size=t.size)
    path = runs / "load.csv"
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=t.size, freq="h"), "load": values})
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def series_run(runs, series_csv) -> Path:
    flags = ["--task", "series", "--csv", series_csv, "--column", "load", "--date-column", "time"]
    return train(runs, "series", *flags, "--set", "data.horizon=6")


@pytest.fixture(scope="module")
def stocks_run(runs) -> Path:
    return train(runs, "stocks", "--task", "stocks")


@pytest.fixture(scope="module")
def music_run(runs) -> Path:
    folder = runs / "midi"
    for i in range(12):  # twelve short tunes: enough for the split, seconds to train
        tonic = 60 + i % 5
        cycle = [Event(tonic, 0.5), Event(tonic + 2 + i % 3, 1.0), Event(tonic, 0.5), Event(tonic - 3, 1.0)]
        write_midi(cycle * 6, folder / f"tune{i:02d}.mid")
    return train(runs, "music", "--task", "music", "--midi", folder)


# -- 1. forecast: the model beside the naive baselines, a header row, units, "wrote" ----------------------
def test_series_forecast_stands_beside_the_naive_baselines(series_run, series_csv, tmp_path, capsys):
    out = tmp_path / "next.csv"
    capsys.readouterr()
    assert run_cli("forecast", series_run, "--task", "series", "--out", out) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    header = ["step", "time", "model", "persistence", "seasonal_1d", "seasonal_12h", "mean"]
    at = next(i for i, line in enumerate(lines) if line.split() == header)
    assert "in the units of csv file" in lines[at - 1]  # a CSV column has no unit of its own: say whose
    rows = [line.split() for line in lines[at + 1 :]]
    assert [r[0] for r in rows] == [f"+{h}" for h in range(1, 7)]
    y = pd.read_csv(series_csv)["load"].to_numpy()
    last = len(y) - 1
    saved = pd.read_csv(out)
    assert list(saved.columns) == ["time", "forecast", "persistence", "seasonal_1d", "seasonal_12h", "mean"]
    steps = np.arange(1, 7)
    np.testing.assert_allclose(saved["persistence"], y[-1])
    np.testing.assert_allclose(saved["seasonal_1d"], y[last + steps - 24])  # same hour, one day back
    np.testing.assert_allclose(saved["seasonal_12h"], y[last + steps - 12])
    np.testing.assert_allclose(saved["mean"], y.mean())
    for r, (_, want) in zip(rows, saved.iterrows(), strict=True):  # the table shows what the CSV holds
        assert r[2] == want["time"].split()[1]
        for shown, column in zip(r[3:], saved.columns[1:], strict=True):
            assert float(shown) == pytest.approx(want[column], abs=0.5 * 10.0 ** -len(shown.split(".")[1]))
    assert f"wrote {out}" in printed.err


def test_stocks_forecast_stands_beside_the_naive_baselines(stocks_run, tmp_path, capsys):
    out = tmp_path / "next.csv"
    capsys.readouterr()
    assert run_cli("forecast", stocks_run, "--out", out) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("ticker"))
    assert lines[at].split() == ["ticker", "last", "day", "ahead", "close", "model", "persistence", "ma5"]
    assert "in $" in lines[at - 1]
    saved = pd.read_csv(out)
    assert saved["ticker"].tolist() == ["AAPL", "AAPL", "MSFT", "MSFT"]
    for ticker, group in saved.groupby("ticker"):
        adj = load_ohlcv(ticker)["adj_close"].to_numpy()
        assert (group["persistence"] == group["close"]).all() and group["close"].iloc[0] == pytest.approx(
            adj[-1]
        )
        assert group["ma5"].to_numpy() == pytest.approx(adj[-5:].mean())
    first = lines[at + 1].split()  # AAPL +1d: close, model (change), persistence, ma5 (change)
    r = saved.iloc[0]
    assert first[:3] == ["AAPL", "2013-03-01", "+1d"]
    assert first[4] == f"{r['forecast']:.2f}" and first[6] == f"{r['persistence']:.2f}"
    assert first[7] == f"{r['ma5']:.2f}" and first[8] == f"({100 * (r['ma5'] / r['close'] - 1):+.2f}%)"
    assert f"wrote {out}" in printed.err


def test_forecast_without_out_writes_nothing_and_says_nothing_of_it(series_run, capsys):
    capsys.readouterr()
    assert run_cli("forecast", series_run, "--task", "series") == 0
    assert "wrote" not in capsys.readouterr().err


# -- 2. generate: every option checked before anything is printed ------------------------------------------
@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--temperature", "-1", "--temperature must be a finite number >= 0"),
        ("--temperature", "nan", "--temperature must be a finite number >= 0"),
        ("--top-p", "1.5", "--top-p must be in (0, 1], got 1.5"),
        ("--top-k", "0", "--top-k must be >= 1, got 0"),
        ("--steps", "-3", "--steps must be >= 0, got -3"),
    ],
)
def test_generate_refuses_bad_sampling_options_before_any_output(text_run, option, value, message, capsys):
    capsys.readouterr()
    assert run_cli("generate", text_run, "--prime", "And", option, value) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and message in printed.err
    # checked before the run is even looked for: a missing run is not what the message is about
    assert run_cli("generate", text_run.parent / "no-such-run", option, value) == 2
    assert message in capsys.readouterr().err


# -- 3. a config key suggested by meaning, not only by spelling --------------------------------------------
@pytest.mark.parametrize(
    "typed, meant",
    [
        ("optim.learning_rate", "optim.lr"),  # the report: string similarity said optim.min_lr_ratio
        ("optim.epochs", "optim.max_epochs"),
        ("optim.steps", "optim.max_steps"),
        ("optim.iterations", "optim.max_steps"),
        ("steps", "optim.max_steps"),  # no section: found where the field lives
        ("model.lr", "optim.lr"),  # the right field in the wrong section
        ("training.learning_rate", "optim.lr"),  # a section alias too
        ("model.hidden", "model.hidden_size"),
        ("data.batch", "data.batch_size"),
        ("optim.lrr", "optim.lr"),  # spelling still works
        ("modle.cell", "model.cell"),
        ("optim.lr_ratio", "optim.min_lr_ratio"),
    ],
)
def test_config_keys_are_suggested_by_meaning_and_by_spelling(typed, meant):
    assert suggest_key(typed, valid_keys(get_task("text").make_config())) == meant


def test_set_with_a_foreign_name_suggests_rnnkits(capsys):
    assert run_cli("train", "--set", "optim.learning_rate=1e-3", "--show-config") == 2
    err = capsys.readouterr().err
    assert "unknown config key 'optim.learning_rate'; did you mean 'optim.lr'?" in err
    assert "min_lr_ratio'?" not in err
    assert suggest_key("zzz.qqq", valid_keys(get_task("text").make_config())) is None
    assert run_cli("train", "--set", "zzz.qqq=1", "--show-config") == 2
    assert "unknown config key 'zzz.qqq'. Valid keys: model." in capsys.readouterr().err


def test_a_config_file_section_alias_is_suggested(tmp_path, capsys):
    cfg = tmp_path / "exp.toml"
    cfg.write_text("[training]\nlr = 0.01\n")
    assert run_cli("train", "--config", cfg, "--show-config") == 2
    assert "unknown config section 'training'; did you mean 'optim'?" in capsys.readouterr().err


# -- 4. info: columns as wide as the longest name ---------------------------------------------------------
def test_info_columns_fit_the_longest_names(capsys):
    from rnnkit.cells.registry import list_cells
    from rnnkit.scan.backends import backend_status

    assert run_cli("info") == 0
    lines = capsys.readouterr().out.splitlines()
    cells = lines[lines.index("cells:") + 1 : lines.index("backends:")]
    assert [line.split()[0] for line in cells] == list_cells()
    assert len({line.index("gates:") for line in cells}) == 1  # one column, whatever the name's length
    start = cells[0].index("gates:")
    assert start >= 2 + max(len(n) for n in list_cells()) + 2  # two spaces after the longest name
    listed = lines[lines.index("backends:") + 1 : lines.index("backends:") + 1 + len(backend_status())]
    assert all(len(line) > start and line[start - 1] == " " != line[start] for line in listed)


# -- 5. task flags: placeholders that say what goes there --------------------------------------------------
def test_task_flag_placeholders_name_what_they_take(capsys):
    assert (flag_metavar("data.column"), flag_metavar("data.date_column")) == ("NAME", "NAME")
    assert (flag_metavar("data.midi_dir"), flag_metavar("data.csv")) == ("DIR", "FILE")
    with pytest.raises(SystemExit):
        run_cli("train", "--help")
    text = " ".join(capsys.readouterr().out.split())
    for shown in (
        "--column NAME",
        "--date-column NAME",
        "--csv FILE",
        "--text FILE",
        "--midi DIR",
        "--data DIR",
    ):
        assert shown in text
    assert "PATH" not in text
    assert "the --csv column to forecast, by header" in text
    with pytest.raises(SystemExit):
        run_cli("forecast", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--column NAME" in text and "--date-column NAME" in text


# -- 6. evaluate: ↓/↑ per metric and a verdict against the best baseline ----------------------------------
def test_evaluate_marks_directions_and_judges_every_metric(text_run, capsys):
    capsys.readouterr()
    assert run_cli("evaluate", text_run) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("metric"))
    table = lines[at : at + 3]
    assert table[0].split() == ["metric", "model", "unigram", "bigram"]
    assert [line.split()[:2] for line in table[1:]] == [["bpc", "↓"], ["loss", "↓"]]  # monitor first
    assert len({len(line) for line in table}) == 1  # right-aligned columns, as wide as their cells
    saved = json.loads((text_run / "eval-val-best.json").read_text())
    assert f"wrote {text_run / 'eval-val-best.json'}" in printed.err
    assert saved["directions"] == {"bpc": "min", "loss": "min"}
    for metric in ("bpc", "loss"):
        best = min(saved["baselines"], key=lambda b: saved["baselines"][b][metric])
        beats = saved["metrics"][metric] < saved["baselines"][best][metric]
        assert saved["verdicts"][metric] == {
            "best_baseline": best,
            "baseline": saved["baselines"][best][metric],
            "model": saved["metrics"][metric],
            "beats": beats,
        }
        line = next(line for line in lines[at + 3 :] if line.split()[:2] == [metric, "↓"])
        assert f"{'beats' if beats else 'does NOT beat'} {best} (" in line


def test_verdicts_pick_the_best_baseline_by_direction():
    metrics = {"accuracy": 0.8, "loss": 0.5, "shuffled": 0.3, "bpc": 1.0, "exact": 0.4}
    baselines = {
        "majority": {"accuracy": 0.6, "loss": 0.7, "exact": 0.4},
        "per-frame": {"accuracy": 0.85, "loss": float("nan")},  # a non-finite value never counts as best
    }
    directions = {"accuracy": "max", "loss": "min", "shuffled": None, "bpc": "min", "exact": "max"}
    judged = verdicts(metrics, baselines, directions)
    assert judged["accuracy"] == {
        "best_baseline": "per-frame",
        "baseline": 0.85,
        "model": 0.8,
        "beats": False,
    }
    assert judged["loss"]["best_baseline"] == "majority" and judged["loss"]["beats"] is True
    assert judged["exact"]["beats"] is False  # a tie does not beat
    assert set(judged) == {"accuracy", "loss", "exact"}
    text = verdict_lines(judged, directions).splitlines()
    assert (
        text[0].split()[:5] == ["accuracy", "↑", "does", "NOT", "beat"]
        and "per-frame (0.8000 vs 0.8500)" in text[0]
    )
    assert "beats majority (0.5000 vs 0.7000)" in text[1]
    assert "not compared (no better side" in text[2] and "not compared (no baseline reports it)" in text[3]
    assert "does NOT beat majority (a tie at 0.4000)" in text[4]
    rows = metric_table(metrics, baselines, directions).splitlines()
    assert rows[0].split() == ["metric", "model", "majority", "per-frame"]
    assert rows[1].split() == ["accuracy", "↑", "0.8000", "0.6000", "0.8500"]
    assert rows[3].split() == ["shuffled", "0.3000", "-", "-"]  # no better side: no arrow


@pytest.mark.parametrize(
    "task, metric, direction",
    [
        ("stocks", "dir_5d", "max"),
        ("stocks", "rmse_1d", "min"),
        ("stocks", "mae_20d", "min"),
        ("series", "mae_avg", "min"),
        ("text", "bpc", "min"),
        ("compose", "top3", "max"),
        ("jump", "accuracy", "max"),
        ("jump", "shuffled_accuracy", None),  # a control: neither side is better
        ("copy", "recall_accuracy", "max"),
    ],
)
def test_tasks_know_which_side_of_each_metric_is_better(task, metric, direction):
    assert get_task(task).direction(metric) == direction


# -- 7. the --split message --------------------------------------------------------------------------------
def test_a_split_the_task_lacks_is_named_with_the_ones_it_has(text_run, series_run, capsys):
    assert run_cli("evaluate", text_run, "--split", "x") == 2
    assert "--split must be one of the splits the task provides (val), got 'x'" in capsys.readouterr().err
    assert run_cli("evaluate", series_run, "--split", "train") == 2
    err = capsys.readouterr().err
    assert "--split must be one of the splits the task provides (val, test), got 'train'" in err


# -- 8. music without --out: the current folder, never the run directory ---------------------------------
def test_music_without_out_writes_to_the_current_folder(music_run, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in music_run.iterdir())
    args = ("generate", music_run, "--prime", "C4", "--steps", 4, "--seed", 1)
    assert run_cli(*args) == 0
    assert "wrote song.mid " in capsys.readouterr().err
    assert run_cli(*args) == 0  # a second song never replaces the first
    assert "wrote song-2.mid " in capsys.readouterr().err
    for name in ("song.mid", "song.wav", "song.png", "song-2.mid", "song-2.wav", "song-2.png"):
        assert (tmp_path / name).is_file(), name
    assert sorted(p.name for p in music_run.iterdir()) == before


# -- 9. bench: a scratch folder unless the committed results are asked for --------------------------------
def test_bench_writes_to_a_scratch_folder_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.build_parser().parse_args(["bench"]).out == os.path.join("runs", "bench")
    threads = torch.get_num_threads()
    tiny = ["--cells", "lstm", "--modes", "infer", "--shapes", "1x2x4", "--repeats", "3", "--no-generation"]
    try:
        assert run_cli("bench", *tiny, "--peak-size", 16, "--threads", 1, "--backend", "reference") == 0
    finally:
        torch.set_num_threads(threads)
    written = sorted(p.name for p in (tmp_path / "runs" / "bench").iterdir())
    assert [Path(n).suffix for n in written] == [".json", ".md"] and not (tmp_path / "benchmarks").exists()
    stem = os.path.join("runs", "bench", Path(written[0]).stem)
    assert f"wrote {stem}.json and {stem}.md" in capsys.readouterr().err


def test_bench_backends_script_asks_for_the_committed_results(monkeypatch):
    """The script meant to update benchmarks/results passes --out benchmarks/results explicitly."""
    calls = []
    monkeypatch.setattr(cli, "main", lambda argv: calls.append(list(argv)) or 0)
    monkeypatch.setattr(sys, "argv", ["bench_backends.py", "--repeats", "3"])
    with pytest.raises(SystemExit) as e:
        runpy.run_path(str(ROOT / "benchmarks" / "bench_backends.py"), run_name="__main__")
    assert e.value.code == 0
    (argv,) = calls
    assert argv[:3] == ["bench", "--out", str(ROOT / "benchmarks" / "results")] and argv[3:] == [
        "--repeats",
        "3",
    ]


# -- 10. rnnkit --help counts the demos from the tour's registry -----------------------------------------
def test_help_counts_the_demos_from_the_registry(monkeypatch, capsys):
    from rnnkit.tour import demos

    with pytest.raises(SystemExit):
        run_cli("--help")
    text = " ".join(capsys.readouterr().out.split())
    assert f"runs all {cli.in_words(len(demos.DEMO_NAMES))} demos ({', '.join(demos.DEMO_NAMES)})" in text
    monkeypatch.setattr(demos, "DEMO_NAMES", ("text", "music"))
    with pytest.raises(SystemExit):
        run_cli("--help")
    assert "runs all two demos (text, music)" in " ".join(capsys.readouterr().out.split())
    assert [cli.in_words(n) for n in (0, 6, 10, 11)] == ["no", "six", "ten", "11"]
