"""The README's fused-CPU-backend section, generated from the result files: one part per CPU family
(``benchmarks/results/backends-cpu-<family>.json``), newest measurement first, each with the machine,
its peak (which GEMM is faster there), its GEMM choice, training and inference side by side per
(cell, shape), generation, and the targets it misses.

The section sits between ``<!-- bench:cpu -->`` and ``<!-- /bench:cpu -->``; ``render_cpu_section``
builds it, ``with_cpu_section`` puts it into the README's text (``python benchmarks/bench_backends.py
--readme`` does both)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .._blocks import block, with_block
from . import targets
from .backends import ANCHORS, BackendBenchRow
from .generation import GenerationRow
from .report import family, gemm_sentence, machine_sentence, missed_targets, peak_sentence
from .results import LoadedRun, load_results

MARKER = "bench:cpu"


def intro() -> str:
    """How the numbers are made and judged (the section's first paragraph)."""
    return (
        "`python benchmarks/bench_backends.py` (= `rnnkit bench --out benchmarks/results`) times the fused "
        "backend against torch.nn in one run — training (forward + backward), no_grad inference and "
        "token-by-token generation, candidates interleaved round by round, median of the per-round ratios "
        "over 5 rounds (min–max over the rounds in brackets), 2 threads — and writes "
        "`benchmarks/results/backends-cpu-<family>.{json,md}`; a plain `rnnkit bench` writes the same pair "
        "to `runs/bench/`, leaving the committed results alone. "
        "The same code runs at different speeds on different CPU families (AMD Zen 3 with AVX2, AMD Zen 4 "
        "and Intel Xeon with AVX-512), so results are kept per family; this section is generated from those "
        "files by `python benchmarks/bench_backends.py --readme`, newest first. Speed-up = torch.nn time / "
        "rnnkit time (> 1: rnnkit faster). GFLOP/s count the GEMMs; % of peak = rnnkit's GFLOP/s ÷ the "
        "faster of torch.mm and rnnkit's GEMM on a 2048³ float32 product, timed in the same rounds as the "
        "row. At B = 1 the products are matrix–vector products bound by memory, hence the low shares of "
        "peak there, while the speed-up is largest. "
        f"Targets: {describe_targets()}. ✗ marks a missed target."
    )


def describe_targets() -> str:
    """Today's targets (``targets``) in words."""
    anchors: dict[str, list[str]] = {}
    for cell, (anchor, _) in ANCHORS.items():
        anchors.setdefault(f"nn.{anchor}", []).append(cell)
    every = ", ".join(f"{a} for {' and '.join(cells)}" for a, cells in anchors.items())
    fast = "".join(
        f"; {cell} ≥ {t:.1f}× nn.{ANCHORS[cell][0]} where nn.{ANCHORS[cell][0]} runs below "
        f"{100 * targets.GEMM_BOUND:.0f}% of the peak measured in the row's rounds (closer to the peak it is "
        "bound by its GEMMs, and so is any kernel)"
        for cell, t in targets.FAST_TARGETS.items()
    )
    at = [f"≥ {t:.0f}× at H = {h}" for h, t in sorted(targets.GENERATION_TARGETS.items())]
    at[0] = at[0].replace("× at", "× nn.LSTM stepped from Python at", 1)
    return (
        f"every row ≥ {targets.SPEEDUP_TARGET:.1f}× its torch.nn anchor ({every}){fast}; "
        f"≥ {100 * targets.PEAK_TARGET:.0f}% of peak at H ≥ {targets.PEAK_MIN_H}; generation with "
        f"`step()` {' and '.join(at)}"
    )


def _ms(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def _speedup(r: BackendBenchRow) -> str:
    mark = "" if r.meets_target else " ✗"
    return f"**{r.ratio:.2f}×**{mark} ({r.ratio_min:.2f}–{r.ratio_max:.2f})"


def _share(r: BackendBenchRow) -> str:
    if not r.peak_share:
        return "–"
    return f"{100 * r.peak_share:.0f}%" + ("" if r.meets_peak_target else " ✗")


def _both(values: list[str]) -> str:
    return values[0] if len(set(values)) == 1 else " / ".join(values)


def pair_table(rows: Iterable[BackendBenchRow]) -> str:
    """Training and inference side by side, one line per (cell, shape) in the rows' order."""
    pairs: dict[tuple[str, str, int, int, int], dict[str, BackendBenchRow]] = {}
    for r in rows:
        pairs.setdefault((r.cell, r.anchor, r.B, r.T, r.H), {})[r.mode] = r
    lines = [
        "| cell | vs | B,T,H | train: torch.nn ms | rnnkit ms | speed-up | infer: torch.nn ms | rnnkit ms | "
        "speed-up | target (train / infer) | % of peak (train / infer) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (cell, anchor, B, T, H), modes in pairs.items():
        cells = [cell, anchor, f"{B},{T},{H}"]
        for mode in ("train", "infer"):
            r = modes.get(mode)
            cells += [_ms(r.torch_ms), _ms(r.rnnkit_ms), _speedup(r)] if r else ["–", "–", "–"]
        present = [modes[m] for m in ("train", "infer") if m in modes]
        cells.append(_both([f"≥ {r.target:.1f}×" for r in present]))
        cells.append(" / ".join(_share(modes[m]) if m in modes else "–" for m in ("train", "infer")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _rate(tokens_per_s: float) -> str:
    return f"{tokens_per_s:,.0f}"


def generation_pair_table(rows: list[GenerationRow]) -> str:
    """Tokens/s and µs per token of both sides, one line per model."""
    shared = len({(g.V, g.E, g.L, g.B) for g in rows}) == 1
    g0 = rows[0]
    model = (
        f"char model (vocab {g0.V}, embedding {g0.E}, {g0.L} layers, batch {g0.B})"
        if shared
        else "char model (vocab, embedding, H, layers, batch)"
    )
    lines = [
        f"| {model} | nn.LSTM stepped from Python: tokens/s | µs/token | rnnkit `step()`: tokens/s | "
        "µs/token | speed-up | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for g in rows:
        name = f"H = {g.H}" if shared else f"{g.V}, {g.E}, {g.H}, {g.L}, {g.B}"
        mark = "" if g.meets_target else " ✗"
        lines.append(
            f"| {name} | {_rate(g.torch_tokens_per_s)} | {g.torch_us_per_token:,.0f} | "
            f"{_rate(g.rnnkit_tokens_per_s)} | {g.rnnkit_us_per_token:,.0f} | "
            f"**{g.ratio:.2f}×**{mark} ({g.ratio_min:.2f}–{g.ratio_max:.2f}) | ≥ {g.target:.1f}× |"
        )
    return "\n".join(lines)


def family_part(loaded: LoadedRun) -> str:
    """One CPU family's part of the section."""
    run = loaded.run
    lines = [
        f"### {family(run)} — measured {run.machine.get('date', 'on an unknown date')}",
        "",
        machine_sentence(run),
        "",
        peak_sentence(run),
    ]
    gemm = gemm_sentence(run)
    if gemm:
        lines += ["", gemm]
    if run.rows:
        lines += ["", pair_table(run.rows)]
    if run.generation:
        lines += ["", generation_pair_table(run.generation)]
    notes = missed_targets(run)
    head = "Targets missed"
    if loaded.retargeted:
        head += " (judged against today's targets; the run was measured against those of its day)"
    lines += ["", f"{head}: none." if not notes else f"{head}:"]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines)


def render_cpu_section(results_dir: str | Path) -> str:
    """The text between the README's ``bench:cpu`` markers, from every ``backends-cpu-*.json`` in
    ``results_dir``; raises ValueError when there is none (or one is unreadable)."""
    runs = load_results(results_dir, "cpu")
    if not runs:
        folder = Path(results_dir).name
        raise ValueError(f"no backends-cpu-*.json result in {folder}/: run `rnnkit bench` first")
    parts = [intro(), *(family_part(r) for r in runs)]
    return "\n\n".join(parts) + "\n"


def cpu_section(readme: str) -> str:
    """The text between the README's ``bench:cpu`` markers; raises ValueError without them."""
    return block(readme, MARKER)


def with_cpu_section(readme: str, section: str) -> str:
    """``readme`` with its ``bench:cpu`` block replaced by ``section``."""
    return with_block(readme, MARKER, section)
