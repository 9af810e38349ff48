"""Trained runs from the tour's layout (``runs/tour/<task>-<timestamp>/``): the commands find them without
``--out-dir`` and say which run they use; ``rnnkit.load_run`` loads the latest (or a named) run and its
helpers give what the commands give."""

from __future__ import annotations

import json
import os
import shutil

import pandas as pd
import pytest
import torch

import rnnkit
from rnnkit import cli
from rnnkit.data.compose import Vocab
from rnnkit.data.music_vocab import EventVocab
from rnnkit.data.series import load_builtin
from rnnkit.data.text import CharVocab
from rnnkit.tasks import resolve_config, train
from rnnkit.tasks.runner import latest_run
from train_helpers import one_thread  # noqa: F401

TASKS = ("text", "music", "stocks", "series", "compose")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A folder holding ``runs/tour/<task>-<timestamp>/``: one smoke run of each task with a helper, as
    ``rnnkit tour`` lays them out; their last checkpoints dated one minute apart, compose the newest."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("home")
        runs = {}
        for i, task in enumerate(TASKS):
            overrides = {"run.out_dir": str(root / "runs" / "tour"), "run.progress": False, "run.plot": False}
            run_dir = train(
                resolve_config(task, preset="smoke", overrides=overrides), echo=lambda _: None
            ).run_dir
            stamp = 1_800_000_000 + 60 * i
            os.utime(run_dir / "checkpoints" / "last.safetensors", (stamp, stamp))
            runs[task] = run_dir.relative_to(root)
        return root, runs
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def at_home(home, monkeypatch):
    """The tests run in the folder that holds ``runs/``, as a user does after ``rnnkit tour``."""
    root, runs = home
    monkeypatch.chdir(root)
    return runs


def test_the_latest_run_is_found_one_folder_deep_and_the_newest_wins(at_home, tmp_path):
    runs = at_home
    assert latest_run() == runs["compose"]  # the newest of any task
    for task in TASKS:
        assert latest_run("runs", task) == runs[task]
    assert latest_run("runs/tour", "text") == runs["text"]  # an explicit --out-dir still works
    # a run directly under runs/ competes with the tour's: the newer last checkpoint wins
    mine = tmp_path / "runs" / "text-mine"
    shutil.copytree(runs["text"], mine)
    last = mine / "checkpoints" / "last.safetensors"
    os.utime(last, (1_900_000_000, 1_900_000_000))
    assert latest_run(tmp_path / "runs", "text") == mine
    os.utime(last, (1_000_000_000, 1_000_000_000))
    shutil.copytree(runs["text"], tmp_path / "runs" / "tour" / runs["text"].name)
    assert latest_run(tmp_path / "runs", "text") == tmp_path / "runs" / "tour" / runs["text"].name


def test_no_run_says_where_it_looked_and_how_to_get_one(at_home, tmp_path, capsys):
    with pytest.raises(FileNotFoundError) as e:
        latest_run(tmp_path / "nowhere", "compose")
    msg = str(e.value)
    assert "no trained compose run" in msg and "does not exist" in msg
    assert str(tmp_path / "nowhere" / "<run>") in msg and str(tmp_path / "nowhere" / "*" / "<run>") in msg
    assert "`rnnkit train --task compose --preset tour`" in msg and "`rnnkit tour --only compose`" in msg
    assert "--out-dir" in msg
    with pytest.raises(FileNotFoundError, match=r"it holds compose, music, series, stocks, text runs"):
        latest_run("runs", "jump")
    with pytest.raises(FileNotFoundError) as e:  # not a tour demo: the tour is no way out
        latest_run("runs", "adding")
    assert "`rnnkit train --task adding`" in str(e.value) and "rnnkit tour" not in str(e.value)
    (tmp_path / "empty").mkdir()
    assert cli.main(["compose", "--out-dir", str(tmp_path / "empty"), "In the beginning"]) == 2
    err = capsys.readouterr().err
    assert "no trained compose run" in err and "rnnkit tour --only compose" in err


def test_generate_finds_the_tour_run_names_it_and_matches_run_generate(at_home, capsys, tmp_path):
    runs = at_home
    out = tmp_path / "sample.txt"
    assert cli.main(["generate", "--steps", "40", "--seed", "3", "--out", str(out)]) == 0
    got = capsys.readouterr()
    assert f"using run {runs['text']} (the latest text run under runs)" in got.err
    run = rnnkit.load_run(task="text")
    text = run.generate(steps=40, seed=3)
    assert got.out == text + "\n" and out.read_text() == text + "\n"
    assert text.startswith("And God said") and len(text) == len("And God said") + 40
    assert run.generate("In the", 10, 0.0) == run.generate("In the", 10, 0.0, seed=99)  # greedy
    own = tmp_path / "own.txt"
    assert run.generate("In the", 10, seed=1, out=own) == own.read_text()[:-1]
    with pytest.raises(ValueError, match="prime must not be empty"):
        run.generate("")
    with pytest.raises(ValueError, match="prime contains characters the model never saw"):
        run.generate("\u2603")


def test_music_generate_returns_the_events_the_command_streams(at_home, capsys, tmp_path):
    args = ["generate", "--task", "music", "--prime", "C4 E4", "--steps", "12", "--seed", "5"]
    assert cli.main([*args, "--out", str(tmp_path / "cli.mid")]) == 0
    got = capsys.readouterr()
    assert f"using run {at_home['music']}" in got.err
    run = rnnkit.load_run(task="music")
    events = run.generate("C4 E4", steps=12, seed=5, out=tmp_path / "run.mid")
    assert len(events) == 14 and [str(e) for e in events[:2]] == ["C4:1", "E4:1"]
    primed, generated = got.out.strip().split(" | ")
    assert primed.split() + generated.split() == [str(e) for e in events]
    assert (tmp_path / "run.mid").read_bytes() == (tmp_path / "cli.mid").read_bytes()
    assert (tmp_path / "run.png").exists()
    with pytest.raises(ValueError, match=r"out must name a \.mid file"):
        run.generate(out=tmp_path / "song.wav")


def test_trace_gives_the_gates_of_every_character(at_home):
    run = rnnkit.load_run(runs_text := at_home["text"])
    assert run.dir == runs_text and run.task == "text" and isinstance(run.vocab, CharVocab)
    text = "And God saw the light"
    tr = run.trace(text)
    layers, hidden = run.config.model.num_layers, run.config.model.hidden_size
    assert set(tr.gates) == {"input", "forget", "candidate", "output"}
    for gate in tr.gates.values():
        assert gate.shape == (layers, len(text), hidden)
    assert tr.hiddens.shape == tr.cells.shape == (layers, len(text), hidden)
    # the trace is the model's own computation: its output through the head gives the model's logits
    ids = run.vocab.encode(text)
    with torch.no_grad():
        logits, _ = run.model(ids[None])
    torch.testing.assert_close(run.model.head(tr.output), logits[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="text contains characters the model never saw"):
        run.trace("caf\u00e9\u2603")
    with pytest.raises(ValueError, match="at least one character"):
        run.trace("")


def test_forecast_gives_what_the_command_writes(at_home, capsys, tmp_path):
    runs = at_home
    assert cli.main(["forecast", "--out", str(tmp_path / "stocks.csv")]) == 0
    assert f"using run {runs['stocks']}" in capsys.readouterr().err
    stocks = rnnkit.load_run(task="stocks")
    assert stocks.vocab is None and set(stocks.scalers) == {
        "input_mean",
        "input_std",
        "target_mean",
        "target_std",
    }
    frame = stocks.forecast()
    written = pd.read_csv(tmp_path / "stocks.csv")  # the model's columns (the command may add more)
    assert list(frame.columns) == ["ticker", "last_day", "close", "days_ahead", "forecast", "log_return"]
    pd.testing.assert_frame_equal(frame, written[frame.columns], check_dtype=False)
    assert sorted(set(frame["days_ahead"])) == [1, 5] and len(frame) == 2 * len(stocks.state["tickers"])
    assert frame.equals(stocks.forecast(horizon=5))
    assert sorted(set(stocks.forecast(horizon=4)["days_ahead"])) == [1]
    with pytest.raises(ValueError, match=r"horizon must be between 1 and 5 .* got 6"):
        stocks.forecast(horizon=6)
    with pytest.raises(TypeError, match="series must be a CSV file of daily prices"):
        stocks.forecast(pd.Series([1.0, 2.0]))

    assert cli.main(["forecast", "--task", "series", "--out", str(tmp_path / "series.csv")]) == 0
    assert f"using run {runs['series']}" in capsys.readouterr().err
    series = rnnkit.load_run(task="series")
    frame = series.forecast(out=tmp_path / "again.csv")
    written = pd.read_csv(tmp_path / "series.csv")
    assert list(frame.columns) == ["time", "forecast"]
    pd.testing.assert_frame_equal(frame, written[frame.columns], check_dtype=False)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "again.csv"), written[frame.columns])
    assert len(frame) == series.config.data.horizon
    # the run's own series given as a pandas Series forecasts the same
    pd.testing.assert_frame_equal(series.forecast(load_builtin(series.config.data.series)), frame)
    pd.testing.assert_frame_equal(series.forecast(horizon=3), frame.iloc[:3])


def test_compose_gives_the_completions_the_command_prints(at_home, capsys):
    assert cli.main(["compose", "--num", "2", "And the LORD spake unto"]) == 0
    got = capsys.readouterr()
    assert f"using run {at_home['compose']}" in got.err
    numbered = [line.strip() for line in got.out.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
    run = rnnkit.load_run()  # the newest run of any task: compose
    assert run.task == "compose" and isinstance(run.vocab, Vocab)
    found = run.compose("And the LORD spake unto", num=2)
    assert len(found) == len(numbered) == 2  # the same completions, in the same order, as the command's
    for i, (c, line) in enumerate(zip(found, numbered, strict=True), 1):
        assert line.startswith(f"{i}.") and c.text.strip() in line and c.text.strip()
    assert found[0].prob >= found[1].prob
    assert all(len(c.tokens) <= 2 for c in run.compose("And the LORD", words=2))
    with pytest.raises(ValueError, match="num must be a positive int, got 0"):
        run.compose("And", num=0)


def test_evaluate_gives_what_the_command_writes(at_home, capsys):
    runs = at_home
    assert cli.main(["evaluate", "--task", "compose"]) == 0
    assert f"run: {runs['compose']}" in capsys.readouterr().out
    written = json.loads((runs["compose"] / "eval-val-best.json").read_text())
    result = rnnkit.load_run(task="compose").evaluate()
    assert result["split"] == "val" and result["checkpoint"] == written["checkpoint"]
    assert result["metrics"] == pytest.approx(written["metrics"], rel=1e-9)
    for name, metrics in written["baselines"].items():
        assert result["baselines"][name] == pytest.approx(metrics, rel=1e-9)
    with pytest.raises(ValueError, match=r"split must be one .*got 'train'"):
        rnnkit.load_run(task="text").evaluate("train")


@pytest.mark.parametrize(
    ("task", "helper", "needs"),
    [
        ("text", "forecast", "stocks or series"),
        ("text", "compose", "compose"),
        ("stocks", "generate", "text or music"),
        ("stocks", "trace", "text"),
        ("compose", "generate", "text or music"),
        ("music", "trace", "text"),
        ("series", "compose", "compose"),
    ],
)
def test_a_helper_of_another_task_names_the_task(at_home, task, helper, needs):
    run = rnnkit.load_run(task=task)
    call = {"forecast": (), "compose": ("And",), "generate": (), "trace": ("And",)}[helper]
    with pytest.raises(ValueError, match=rf"run\.{helper}\(\) needs a {needs} run; .* is a {task} run"):
        getattr(run, helper)(*call)


def test_load_run_by_path_checkpoint_and_bad_arguments(at_home):
    runs = at_home
    by_dir = rnnkit.load_run(runs["music"], which="last")
    assert by_dir.checkpoint.name == "last.safetensors" and isinstance(by_dir.vocab, EventVocab)
    by_file = rnnkit.load_run(runs["music"] / "checkpoints" / "best.safetensors")
    assert by_file.dir == runs["music"] and by_file.checkpoint.name == "best.safetensors"
    assert "task='music'" in repr(by_file) and "Generator" in repr(by_file)
    assert rnnkit.load_run is rnnkit.run.load_run and isinstance(by_file, rnnkit.Run)
    with pytest.raises(ValueError, match=r"is a 'music' run, not 'text'"):
        rnnkit.load_run(runs["music"], task="text")
    with pytest.raises(ValueError, match="which must be 'best' or 'last', got 'first'"):
        rnnkit.load_run(which="first")
    with pytest.raises(ValueError, match="task must be one of"):
        rnnkit.load_run(task="poetry")
    with pytest.raises(TypeError, match="path must be a run directory or checkpoint file"):
        rnnkit.load_run(3)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rnnkit.load_run("runs/tour/nothing-here")
