"""The README's Deploy section: its onnxruntime snippet, run as printed against a model exported with its
command, generates what the model itself generates; its latency table is the one generated from
benchmarks/results/deploy-latency.json; the benchmark behind it runs."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import torch

from rnnkit import cli
from rnnkit.export.latency import (
    ANCHOR,
    CANDIDATES,
    latency_markdown,
    measure_deploy_latency,
    readme_block,
)
from rnnkit.tasks import get_task, load_run, resolve_config
from rnnkit.train.checkpoint import save_checkpoint
from rnnkit.train.config import to_dict
from train_helpers import one_thread  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
RESULTS = ROOT / "benchmarks" / "results" / "deploy-latency.json"


def deploy_section() -> str:
    return README.split("## Deploy", 1)[1].split("\n## ", 1)[0]


def test_readme_snippet_generates_what_the_model_generates(tmp_path, monkeypatch):
    section = deploy_section()
    assert "--format onnx --out text.onnx" in section  # the command that makes the snippet's files
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    cfg = resolve_config("text", preset="smoke")
    task = get_task("text")
    state = task.build_data(cfg).state
    torch.manual_seed(0)
    run = tmp_path / "run"
    extra = {"config": to_dict(cfg), "task_state": state}
    save_checkpoint(run / "checkpoints" / "best.safetensors", task.build_model(cfg, state), extra=extra)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["export", str(run), "--format", "onnx", "--out", "text.onnx"]) == 0
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})
    model = load_run(run).model
    itos = state["chars"]
    prime = "And God said"
    want = model.sample([itos.index(ch) for ch in prime], 200, temperature=0.0)
    assert printed.getvalue() == prime + "".join(itos[i] for i in want) + "\n"


def test_readme_latency_table_is_the_one_generated_from_the_results():
    payload = json.loads(RESULTS.read_text())
    assert readme_block(README) == latency_markdown(payload)
    assert (ROOT / "benchmarks" / "results" / "deploy-latency.md").read_text() == latency_markdown(payload)
    m = payload["machine"]
    assert m["date"] and m["cpu"] and m["torch_threads"] >= 1 and isinstance(m["cpu_flags"], list)
    assert payload["model"] == {
        "vocab": 65,
        "embed": 64,
        "hidden": 512,
        "layers": 1,
        "cell": "lstm",
        "batch": 1,
    }
    rows = {r["name"]: r for r in payload["rows"]}
    assert list(rows) == list(CANDIDATES) and rows[ANCHOR]["speedup"] == 1.0
    for r in rows.values():  # ms per token and tokens/s are two views of one median
        assert abs(r["ms_per_token"] * r["tokens_per_s"] - 1000) < 1
        assert r["speedup_min"] <= r["speedup"] <= r["speedup_max"]


def test_latency_benchmark_runs_and_every_candidate_makes_the_same_tokens():
    threads = torch.get_num_threads()
    try:
        payload = measure_deploy_latency(tokens=4, repeats=3, threads=1, model={"vocab": 9, "hidden": 8})
    finally:
        torch.set_num_threads(threads)
    assert [r["name"] for r in payload["rows"]] == list(CANDIDATES)
    assert payload["model"]["hidden"] == 8 and payload["tokens"] == 4
    text = latency_markdown(payload)
    assert "| how | ms per token |" in text and "text task's default" not in text
