"""The README's "With the rest of PyTorch" example runs as written: torch.compile, torch.export, the ONNX
export, a gradient penalty, torch.save / torch.load(weights_only=True) and deepcopy of an rnnkit layer —
and what it builds is checked against the layer itself."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    section = text[text.index("## With the rest of PyTorch") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_runs_and_agrees(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    lstm, x = scope["lstm"], scope["x"].detach()
    with torch.no_grad():
        want, _ = lstm(x)
        torch.testing.assert_close(scope["fast"](x)[0], want)
        torch.testing.assert_close(scope["ep"].module()(x)[0], want)
        torch.testing.assert_close(scope["again"](x)[0], want)
        torch.testing.assert_close(scope["twin"](x)[0], want)
    session = ort.InferenceSession(str(tmp_path / "lstm.onnx"))
    longer = torch.randn(11, 2, 10)
    got = session.run(None, {session.get_inputs()[0].name: longer.numpy()})[0]
    with torch.no_grad():
        np.testing.assert_allclose(got, lstm(longer)[0].numpy(), atol=1e-5, rtol=1e-5)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in lstm.parameters())
