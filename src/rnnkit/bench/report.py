"""The fused-backend benchmark as one run: the machine (model, CPU family, SIMD features) and the GEMM
each product class uses there, the machine's peak, every (cell, shape, mode) against torch.nn,
generation speed — written as JSON (everything, with the machine and its load) and markdown (the
tables and the targets missed, by how much). The sentences describing a run are shared with the README
section generated from the result files (``readme``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from .._io import atomic_write_text
from . import targets
from .backends import SHAPES, BackendBenchRow, backend_table, bench_backends
from .generation import MODELS, GenerationRow, bench_generation, generation_table
from .peak import Peak, measure_peak, peak_calls
from .targets import GEMM_BOUND
from .timing import machine_info

#: layout of the result file. 2: the CPU family, the GEMM choice, both peak GEMMs per row, µs per token.
#: Files without the field are layout 1, written before the per-machine GEMM choice existed, when every
#: product of the fused kernels ran on rnnkit's own GEMM.
FORMAT = 2

#: the GEMM choice's product classes, as the report names them
GEMM_CLASSES = {
    "step_vec": "per-step matrix–vector products (fewer batch rows per thread than the tile, e.g. B = 1)",
    "step": "per-step products (U·h, the step-by-step input projection, dh·U)",
    "large": "whole-sequence products (the input projection, the weight gradients)",
}


@dataclass
class BenchRun:
    machine: dict[str, object]
    peak: Peak
    rows: list[BackendBenchRow]
    generation: list[GenerationRow] = field(default_factory=list)
    load_after: float | None = None
    gemm: dict[str, object] | None = None  # rnnkit.scan.cpu.gemm.status() when the cpu backend ran
    repeats: int | None = None  # interleaved rounds per measurement (None: not recorded)
    format: int = FORMAT


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
    from ..scan.cpu import gemm, probe

    machine = machine_info()
    gemm_status = gemm.status() if backend == "cpu" and probe() is None else None
    if progress:
        progress(f"peak: {peak_size}^3 float32 GEMM")
    peak = measure_peak(peak_size, repeats=repeats)
    rows = bench_backends(cells, shapes, modes, backend, repeats, peak_calls(peak_size), progress)
    gen = bench_generation(models, tokens, repeats, backend, progress) if generation else []
    load = machine_info()["load_average_1min"]
    return BenchRun(machine, peak, rows, gen, load if isinstance(load, float) else None, gemm_status, repeats)


def _short(value: float, target: float) -> str:
    return f"short by {100 * (1 - value / target):.0f}%"


def missed_targets(run: BenchRun) -> list[str]:
    """One line per target not reached, with the shortfall (and, for a speed-up, how close each side
    runs to the peak measured in the row's rounds)."""
    notes = []
    for r in run.rows:
        where = f"{r.cell} {r.mode} B={r.B} T={r.T} H={r.H}"
        if not r.meets_target:
            bound = ""
            if r.peak_gflops:
                bound = (
                    f"; {r.anchor} runs at {100 * r.torch_gflops / r.peak_gflops:.0f}% of the peak in its "
                    f"rounds, rnnkit at {100 * r.peak_share:.0f}%"
                )
                need = r.torch_gflops * r.target
                if need > r.peak_gflops:
                    bound += (
                        f"; {r.target:.1f}× would need {need:.0f} GFLOP/s, above the {r.peak_gflops:.0f} "
                        "of the peak there"
                    )
            notes.append(
                f"{where}: {r.ratio:.2f}× {r.anchor} (target {r.target:.1f}×, "
                f"{_short(r.ratio, r.target)}{bound})"
            )
        if not r.meets_peak_target:
            want = r.peak_target or 0.0
            notes.append(
                f"{where}: {100 * r.peak_share:.0f}% of peak (target {100 * want:.0f}%, "
                f"{_short(r.peak_share, want)})"
            )
    for g in run.generation:
        if not g.meets_target:
            notes.append(
                f"generation H={g.H}: {g.ratio:.2f}× nn.LSTM stepped from Python "
                f"(target {g.target:.1f}×, {_short(g.ratio, g.target)})"
            )
    return notes


# -- the sentences describing a run (also the README's) ---------------------------------------------------
def _load(value: object) -> str:
    return f"{value:.1f}" if isinstance(value, float | int) and not isinstance(value, bool) else "unknown"


def family(run: BenchRun) -> str:
    """The CPU family the run was measured on (the model name for files that do not record it)."""
    return str(run.machine.get("cpu_family") or run.machine.get("cpu") or "unknown CPU")


def machine_sentence(run: BenchRun) -> str:
    """Model, family (with its numbers when known), SIMD features, cores and threads, torch, load."""
    m = run.machine
    about = [family(run)]
    if m.get("cpu_numbers"):
        about.append(str(m["cpu_numbers"]))
    simd = m.get("simd")
    about.append("SIMD " + " ".join(simd) if isinstance(simd, list) and simd else "SIMD not recorded")
    if m.get("cores"):
        about.append(f"{m['cores']} cores")
    rounds = f", median of {run.repeats} interleaved rounds" if run.repeats else ""
    threads, torch = m.get("torch_threads", "?"), m.get("torch", "?")
    text = (
        f"Measured {m.get('date', 'on an unknown date')} on {m.get('cpu', 'an unknown CPU')} "
        f"({'; '.join(about)}) with {threads} thread{'' if threads == 1 else 's'}{rounds}, torch {torch}; "
        f"load average {_load(m.get('load_average_1min'))} before, {_load(run.load_after)} after."
    )
    note = m.get("family_note")
    if note:
        text += f" {str(note)[:1].upper()}{str(note)[1:]}."
    return text


def peak_sentence(run: BenchRun) -> str:
    """Both GEMMs at the peak product, which is faster on THIS machine, and what % of peak compares."""
    p = run.peak
    text = (
        f"Peak: a {p.n}³ float32 GEMM runs at {p.torch_gflops:.0f} GFLOP/s with torch.mm and "
        f"{p.rnnkit_gflops:.0f} GFLOP/s with rnnkit's GEMM (best round)"
    )
    if p.torch_gflops and p.rnnkit_gflops:
        fast, slow = sorted((p.torch_gflops, p.rnnkit_gflops), reverse=True)
        if fast / slow < 1.02:
            text += ": on this machine the two are within 2% of each other."
        else:
            who = "torch.mm" if p.torch_gflops > p.rnnkit_gflops else "rnnkit's GEMM"
            text += f": on this machine {who} is faster, by {100 * (fast / slow - 1):.0f}%."
    else:
        text += "."
    if any(r.peak_torch_gflops for r in run.rows):
        text += (
            " Both are timed again in the rounds of every row; % of peak = rnnkit's GFLOP/s ÷ the faster "
            "of the two there."
        )
    elif any(r.peak_gflops for r in run.rows):
        text += (
            " This run timed only rnnkit's GEMM in the rounds of every row; % of peak is against it "
            "(and the GRU's higher target is judged against it)."
        )
    return text


def gemm_sentence(run: BenchRun) -> str | None:
    """Which GEMM each product class used (None when the run does not say)."""
    if run.gemm is None:
        if run.format < 2:
            return "GEMM choice: rnnkit's own for every product (before the per-machine choice existed)."
        return None
    choice = run.gemm.get("choice")
    if not isinstance(choice, dict):
        return None
    vendor = str(run.gemm.get("vendor") or "the vendor BLAS")
    tile = run.gemm.get("own_tile")
    own = f"rnnkit's own ({tile})" if tile else "rnnkit's own"
    names = {"own": own, "vendor": vendor}
    used = {m: [GEMM_CLASSES.get(c, c) for c, v in choice.items() if v == m] for m in ("own", "vendor")}
    if not used["vendor"]:
        body = f"{own} for every product class"
    elif not used["own"]:
        body = f"{vendor} for every product class"
    else:
        body = "; ".join(f"{names[m]} for {', '.join(classes)}" for m, classes in used.items())
    source = run.gemm.get("source")
    return f"GEMM choice — {source}: {body}." if source else f"GEMM choice: {body}."


def markdown(run: BenchRun) -> str:
    """The run's report: the machine, the peak, the GEMM choice, the tables and the targets missed."""
    lines = [
        machine_sentence(run) + " Other work on the machine adds noise: the ratios come from interleaved "
        "rounds, min–max over the rounds in brackets. Speed-up = torch.nn time / rnnkit time.",
        "",
        peak_sentence(run) + " Layer GFLOP/s count the GEMMs (training: forward + backward without dx); "
        f"the GRU's higher target applies where nn.GRU runs below {100 * GEMM_BOUND:.0f}% of the peak in "
        "its rounds.",
    ]
    gemm = gemm_sentence(run)
    if gemm:
        lines += ["", gemm]
    lines += ["", backend_table(run.rows)]
    if run.generation:
        lines += ["", generation_table(run.generation)]
    notes = missed_targets(run)
    lines += ["", "Targets missed: none." if not notes else "Targets missed:"]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def payload(run: BenchRun) -> dict[str, object]:
    """The run as the JSON result file holds it."""
    out: dict[str, object] = {
        "format": run.format,
        "machine": run.machine,
        "load_average_1min_after": run.load_after,
        "repeats": run.repeats,
        "targets": targets.as_dict(),
        "peak": asdict(run.peak) | {"gflops": run.peak.gflops},
    }
    if run.gemm is not None:
        out["gemm"] = run.gemm
    out |= {
        "rows": [asdict(r) for r in run.rows],
        "generation": [asdict(g) for g in run.generation],
        "targets_missed": missed_targets(run),
    }
    return out


def write_run(run: BenchRun, json_path: str, md_path: str) -> str:
    """Write the run as JSON and markdown (atomically); return the markdown."""
    atomic_write_text(json_path, json.dumps(payload(run), indent=2) + "\n")
    text = markdown(run)
    atomic_write_text(md_path, text)
    return text
