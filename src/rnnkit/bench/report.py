"""The fused-backend benchmark as one run: the machine's peak, every (cell, shape, mode) against torch.nn,
generation speed — written as JSON (everything, with the machine and its load) and markdown (the
tables and the targets missed, by how much)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from .backends import PEAK_MIN_H, PEAK_TARGET, SHAPES, BackendBenchRow, backend_table, bench_backends
from .generation import MODELS, GenerationRow, bench_generation, generation_table
from .peak import Peak, measure_peak, peak_call
from .timing import machine_info


@dataclass
class BenchRun:
    machine: dict[str, object]
    peak: Peak
    rows: list[BackendBenchRow]
    generation: list[GenerationRow] = field(default_factory=list)
    load_after: float | None = None


def run_benchmark(
    cells: Iterable[str] = ("lstm", "gru", "rnn", "urlstm"),
    shapes: Iterable[tuple[int, int, int]] = SHAPES,
    modes: Iterable[str] = ("train", "infer"),
    repeats: int = 5,
    generation: bool = True,
    models: tuple[tuple[int, int, int, int, int], ...] = MODELS,
    tokens: int = 200,
    backend: str = "cpu",
    progress: Callable[[str], None] | None = None,
    peak_size: int = 2048,
) -> BenchRun:
    """Measure the peak, then every row, then generation; ratios always within one interleaved run."""
    machine = machine_info()
    if progress:
        progress(f"peak: {peak_size}^3 float32 GEMM")
    peak = measure_peak(peak_size, repeats=repeats)
    rows = bench_backends(cells, shapes, modes, backend, repeats, peak_call(peak_size), progress)
    gen = bench_generation(models, tokens, repeats, backend, progress) if generation else []
    load = machine_info()["load_average_1min"]
    return BenchRun(machine, peak, rows, gen, load if isinstance(load, float) else None)


def missed_targets(run: BenchRun) -> list[str]:
    """One line per target not reached, with the shortfall."""
    notes = []
    for r in run.rows:
        if r.ratio < r.target:
            notes.append(
                f"{r.cell} {r.mode} B={r.B} T={r.T} H={r.H}: {r.ratio:.2f}× {r.anchor} "
                f"(target {r.target:.1f}×, short by {100 * (1 - r.ratio / r.target):.0f}%)"
            )
        if r.H >= PEAK_MIN_H and r.peak_share and r.peak_share < PEAK_TARGET:
            notes.append(
                f"{r.cell} {r.mode} B={r.B} T={r.T} H={r.H}: {100 * r.peak_share:.0f}% of peak "
                f"(target {100 * PEAK_TARGET:.0f}%)"
            )
    for g in run.generation:
        if g.ratio < g.target:
            notes.append(f"generation H={g.H}: {g.ratio:.2f}× (target {g.target:.1f}×)")
    return notes


def _load(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float) else "unknown"


def markdown(run: BenchRun) -> str:
    m, p = run.machine, run.peak
    lines = [
        f"Measured {m['date']} on {m['cpu']} ({m['torch_threads']} threads, torch {m['torch']}); load "
        f"average {_load(m['load_average_1min'])} before, {_load(run.load_after)} after (other work on the "
        "machine adds noise: the ratios come from interleaved rounds, min–max over the rounds in brackets). "
        "Speed-up = torch.nn time / rnnkit time.",
        "",
        f"Peak: a {p.n}³ float32 GEMM runs at {p.torch_gflops:.0f} GFLOP/s with torch.mm and "
        f"{p.rnnkit_gflops:.0f} GFLOP/s with rnnkit's GEMM (best round); rnnkit's GEMM is also timed in the "
        "rounds of every row (peak GFLOP/s column), and % of peak compares the two under the same load. "
        "Layer GFLOP/s count the GEMMs (training: forward + backward without dx).",
        "",
        backend_table(run.rows),
    ]
    if run.generation:
        lines += ["", generation_table(run.generation)]
    notes = missed_targets(run)
    lines += ["", "Targets missed: " + ("none." if not notes else "")]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def _atomic_write(path: str, text: str) -> None:
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_run(run: BenchRun, json_path: str, md_path: str) -> str:
    """Write the run as JSON and markdown (atomically); return the markdown."""
    payload = {
        "machine": run.machine,
        "load_average_1min_after": run.load_after,
        "peak": asdict(run.peak) | {"gflops": run.peak.gflops},
        "rows": [asdict(r) for r in run.rows],
        "generation": [asdict(g) for g in run.generation],
        "targets_missed": missed_targets(run),
    }
    _atomic_write(json_path, json.dumps(payload, indent=2) + "\n")
    text = markdown(run)
    _atomic_write(md_path, text)
    return text
