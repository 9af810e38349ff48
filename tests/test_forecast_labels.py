"""The stocks and series reports name the network by its cell: a GRU run's rows, table and plots say
"gru", never "lstm" (they used to say "lstm" whatever ``model.cell`` was)."""

from __future__ import annotations

import json

import pytest

from rnnkit.cli import main


@pytest.mark.parametrize("task", ["stocks", "series"])
def test_reports_name_the_network_by_its_cell(task, tmp_path, capsys):
    argv = ["train", "--task", task, "--preset", "smoke", "--set", "model.cell=gru"]
    assert main([*argv, "--out-dir", str(tmp_path)]) == 0
    capsys.readouterr()
    (run,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    report = json.loads((run / "forecast.json").read_text())
    markdown = (run / "forecast.md").read_text()
    if task == "stocks":
        names = {r["forecaster"] for r in report["rows"]}
        assert "gru" in names and "lstm" not in names
        assert "| gru |" in markdown
    else:
        assert "| gru |" in markdown and "lstm" not in markdown
