"""Training (forward + backward) and inference time of rnnkit layers against torch.nn at fixed shapes.

Ratios are ``torch time / rnnkit time`` measured in the same rounds: > 1 means rnnkit is faster.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass

import torch

from ..layers import create_layer
from .timing import machine_info, time_interleaved

#: (B, T, H) shapes of the foundation issue's benchmark; input size = H
DEFAULT_SHAPES: tuple[tuple[int, int, int], ...] = ((32, 100, 128), (16, 200, 512), (1, 500, 64))


@dataclass
class LayerBenchRow:
    cell: str
    backend: str
    mode: str  # "train" (fwd+bwd) or "infer" (no_grad forward)
    B: int
    T: int
    H: int
    torch_ms: float
    rnnkit_ms: float
    ratio: float  # torch_ms / rnnkit_ms


def _step(layer: torch.nn.Module, x: torch.Tensor, mode: str) -> Callable[[], object]:
    if mode == "infer":

        def run() -> object:
            with torch.no_grad():
                return layer(x)

        return run

    def train() -> object:
        out, state = layer(x)
        states = state if isinstance(state, tuple) else (state,)
        loss = out.sum() + sum(s.sum() for s in states)
        loss.backward()
        return loss

    return train


def bench_layers(
    cells: Iterable[str] = ("lstm", "gru"),
    backend: str = "reference",
    shapes: Iterable[tuple[int, int, int]] = DEFAULT_SHAPES,
    modes: Iterable[str] = ("train",),
    repeats: int = 5,
    progress: Callable[[str], None] | None = None,
) -> list[LayerBenchRow]:
    """Measure every (cell, shape, mode); torch.nn twin and rnnkit layer interleaved."""
    rows = []
    for cell in cells:
        twin = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
        for B, T, H in shapes:
            torch.manual_seed(0)
            theirs = twin(H, H)
            ours = create_layer(cell, H, H, backend=backend)
            ours.load_state_dict(theirs.state_dict())
            x = torch.randn(T, B, H)
            for mode in modes:
                if progress:
                    progress(f"{cell} {mode} B={B} T={T} H={H}")
                m = time_interleaved(
                    {"torch": _step(theirs, x, mode), "rnnkit": _step(ours, x, mode)}, repeats=repeats
                )
                t_ms, r_ms = m["torch"].median * 1e3, m["rnnkit"].median * 1e3
                rows.append(
                    LayerBenchRow(
                        cell, backend, mode, B, T, H, round(t_ms, 3), round(r_ms, 3), round(t_ms / r_ms, 3)
                    )
                )
    return rows


def markdown_table(rows: list[LayerBenchRow]) -> str:
    lines = [
        "| cell | backend | mode | B,T,H | torch.nn ms | rnnkit ms | speed vs torch.nn |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.cell} | {r.backend} | {r.mode} | {r.B},{r.T},{r.H} | {r.torch_ms:.2f} | "
            f"{r.rnnkit_ms:.2f} | {r.ratio:.2f}× |"
        )
    return "\n".join(lines)


def _atomic_write(path: str, text: str) -> None:
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_report(rows: list[LayerBenchRow], json_path: str, md_path: str | None = None) -> str:
    """Write the rows as JSON (with the machine's description) and a markdown table; return the table."""
    table = markdown_table(rows)
    payload = {"machine": machine_info(), "rows": [asdict(r) for r in rows]}
    _atomic_write(json_path, json.dumps(payload, indent=2) + "\n")
    if md_path:
        info = payload["machine"]
        head = (
            f"Measured {info['date']} on {info['cpu']} ({info['torch_threads']} threads, torch "
            f"{info['torch']}). Ratio = torch.nn time / rnnkit time (> 1: rnnkit faster).\n\n"
        )
        _atomic_write(md_path, head + table + "\n")
    return table
