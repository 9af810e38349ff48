"""Per-token latency of greedy generation with one character model, batch 1, on every way to run it:
PyTorch eager (``Generator._step`` on the reference backend: plain PyTorch ops — the anchor), rnnkit
(``Generator._step`` → ``layer.step()`` on the fused CPU backend, and the streaming ``Generator.generate``),
the exported ``.pt2`` program (``torch.export.load(...).module()``) and the exported ``.onnx`` step in
onnxruntime. All share the weights, all must produce the same tokens (checked before timing); the
candidates are timed interleaved round by round and every ratio is against the anchor of the same round.

``benchmarks/deploy_latency.py`` runs it and writes the JSON, the markdown and the README's table (from
the JSON, with :func:`latency_markdown`).

Shape legend: V = vocabulary, E = embedding size, H = hidden size, L = layers.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._blocks import block, with_block
from ..bench.backends import ratio_stats
from ..bench.timing import machine_info, time_interleaved
from ..models import Generator
from .exporter import export_onnx, export_pt2
from .runtime import onnx_session, zero_state

#: the text task's default model: KJV characters, embedding 64, one LSTM layer of 512
TEXT_DEFAULT = {"vocab": 65, "embed": 64, "hidden": 512, "layers": 1, "cell": "lstm"}
ANCHOR = "pytorch-eager"
#: candidate -> what it runs (the README's words)
CANDIDATES = {
    "pytorch-eager": "PyTorch eager: `Generator._step`, reference backend (plain PyTorch ops)",
    "rnnkit-step": "rnnkit: `Generator._step` → `layer.step()`, fused CPU backend",
    "rnnkit-generate": "rnnkit: `Generator.generate(..., temperature=0)`, the streaming API",
    "pt2": "torch.export: the exported `.pt2` step, `torch.export.load(...).module()`",
    "onnxruntime": "onnxruntime: the exported `.onnx` step, numpy in and out",
}
SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "amx_tile")


def cpu_flags() -> list[str]:
    """The SIMD feature flags of this CPU that matter for these kernels (from /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    found = set(line.split(":", 1)[1].split())
                    return [f for f in SIMD_FLAGS if f in found]
    except OSError:
        pass
    return []


def _torch_greedy(step: Callable, state: object, tokens: int) -> Callable[[], list[int]]:
    """A closure generating ``tokens`` greedy tokens from token 0 with ``step(token, state)``."""

    def run() -> list[int]:
        token, s, out = torch.zeros(1, dtype=torch.long), state, []
        with torch.no_grad():
            for _ in range(tokens):
                logits, s = step(token, s)  # (1, V)
                token = logits.argmax(-1)  # (1,)
                out.append(int(token))
        return out

    return run


def _onnx_greedy(session: Any, tokens: int) -> Callable[[], list[int]]:
    state0 = zero_state(session, 1)
    names = list(state0)

    def run() -> list[int]:
        token, state, out = np.zeros(1, np.int64), state0, []
        for _ in range(tokens):
            logits, *new = session.run(None, {"token": token, **state})
            state = dict(zip(names, new, strict=True))
            token = logits.argmax(-1)  # (1,)
            out.append(int(token[0]))
        return out

    return run


def measure_deploy_latency(
    tokens: int = 200,
    repeats: int = 7,
    threads: int = 2,
    model: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Time every candidate (see :data:`CANDIDATES`) generating ``tokens`` tokens; returns the JSON
    payload (machine, model, per-candidate ms per token, speed-up against the anchor with its range)."""
    spec = {**TEXT_DEFAULT, **(model or {})}
    torch.set_num_threads(threads)
    load_before = machine_info()["load_average_1min"]
    torch.manual_seed(0)
    args = (spec["vocab"], spec["embed"], spec["hidden"], spec["layers"], spec["cell"])
    fused = Generator(*args, backend="auto").eval()
    eager = Generator(*args, backend="reference").eval()
    eager.load_state_dict(fused.state_dict())
    with tempfile.TemporaryDirectory() as tmp:
        if progress:
            progress("exporting the step to ONNX and pt2")
        onnx_file = export_onnx(fused, Path(tmp) / "m.onnx", sidecar=False).files[0].path
        pt2_file = export_pt2(fused, Path(tmp) / "m.pt2", sidecar=False).files[0].path
        session = onnx_session(onnx_file, threads=threads)
        program = torch.export.load(str(pt2_file)).module()
    state = fused.init_state(1)
    names = fused.rnn.spec.state_names

    def pt2_step(token: torch.Tensor, s: object) -> tuple[torch.Tensor, object]:
        logits, *new = program(token, *(s if isinstance(s, tuple) else (s,)))
        return logits, (tuple(new) if len(names) > 1 else new[0])

    fns = {
        "pytorch-eager": _torch_greedy(eager._step, state, tokens),
        "rnnkit-step": _torch_greedy(fused._step, state, tokens),
        "rnnkit-generate": lambda: fused.sample([0], tokens, temperature=0.0),
        "pt2": _torch_greedy(pt2_step, state, tokens),
        "onnxruntime": _onnx_greedy(session, tokens),
    }
    want = fns[ANCHOR]()  # every candidate reads token 0, then feeds back its argmax
    for name, fn in fns.items():
        if fn() != want:
            raise RuntimeError(f"{name} generates other tokens than {ANCHOR}: the comparison would be void")
    if progress:
        progress(f"timing {len(fns)} candidates, {repeats} interleaved rounds of {tokens} tokens")
    m = time_interleaved(fns, repeats=repeats, warmup=2, min_seconds=0.2)
    rows = []
    for name in fns:
        ratio, lo, hi = ratio_stats(m[name], m[ANCHOR])
        rows.append(
            {
                "name": name,
                "what": CANDIDATES[name],
                "ms_per_token": round(1e3 * m[name].median / tokens, 4),
                "tokens_per_s": round(tokens / m[name].median, 1),
                "speedup": round(ratio, 3),
                "speedup_min": round(lo, 3),
                "speedup_max": round(hi, 3),
            }
        )
    machine = machine_info() | {"cpu_flags": cpu_flags(), "onnxruntime_threads": threads}
    import onnxruntime

    return {
        "machine": machine | {"load_average_1min_before": load_before},
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "model": spec | {"batch": 1},
        "tokens": tokens,
        "repeats": repeats,
        "anchor": ANCHOR,
        "rows": rows,
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
    }


def latency_markdown(payload: dict[str, Any]) -> str:
    """The README / results table of a :func:`measure_deploy_latency` payload."""
    m, spec = payload["machine"], payload["model"]
    flags = ", ".join(m["cpu_flags"]) or "none reported"
    before, after = m.get("load_average_1min_before"), m.get("load_average_1min")
    load = "unknown" if before is None else f"{before:.1f} before, {after:.1f} after"
    layers = f"{spec['layers']} layer{'s' if spec['layers'] > 1 else ''} of {spec['hidden']}"
    which = " (the text task's default)" if all(spec[k] == v for k, v in TEXT_DEFAULT.items()) else ""
    lines = [
        f"Measured {m['date']} on {m['cpu']} ({flags}; {m['torch_threads']} torch threads, "
        f"{m['onnxruntime_threads']} onnxruntime threads; torch {payload['versions']['torch']}, "
        f"onnxruntime {payload['versions']['onnxruntime']}), load average {load}. Model{which}: "
        f"{spec['cell'].upper()}, vocabulary {spec['vocab']}, embedding {spec['embed']}, {layers}; batch 1, "
        f"{payload['tokens']} greedy tokens per call, median of {payload['repeats']} interleaved rounds; "
        "speed-up = anchor time / time in the same round (min–max over the rounds).",
        "",
        "| how | ms per token | tokens/s | speed-up vs PyTorch eager |",
        "|---|---|---|---|",
    ]
    for r in payload["rows"]:
        lines.append(
            f"| {r['what']} | {r['ms_per_token']:.3f} | {r['tokens_per_s']:,.0f} | "
            f"**{r['speedup']:.2f}×** ({r['speedup_min']:.2f}–{r['speedup_max']:.2f}) |"
        )
    best = max(payload["rows"], key=lambda r: r["speedup"])
    lines += ["", f"Fastest here: {best['what']}, {best['speedup']:.2f}× PyTorch eager."]
    return "\n".join(lines) + "\n"


#: the README's generated block sits between ``<!-- bench:deploy -->`` and ``<!-- /bench:deploy -->``
README_MARKER = "bench:deploy"


def readme_block(readme: str) -> str:
    """The text between the README's deploy-latency markers."""
    return block(readme, README_MARKER)


def with_readme_block(readme: str, markdown: str) -> str:
    """``readme`` with the deploy-latency block replaced by ``markdown``."""
    return with_block(readme, README_MARKER, markdown)
