"""The data-parallel benchmark's result files (``benchmarks/results/distributed-<cpu family>.json``,
written by ``benchmarks/bench_distributed.py``) read back, summarised and rendered: the measured table,
the all-reduce times, the cost model's predictions (:mod:`rnnkit.bench.scaling`) and the conclusion.

The same text is the result file's markdown and, for every result file (newest first), the README's
section between ``<!-- scaling -->`` and ``<!-- /scaling -->`` (:func:`render_scaling_section`), so that
every number there comes from a result file."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import scaling
from .scaling import LINKS_GBIT, NODES, THRESHOLD, Network, Workload

#: the result files: ``distributed-<cpu slug>.json``
PATTERN = "distributed-*.json"
#: layout of the result file
FORMAT = 1
#: the runs every result file holds: 1 process x 2 threads against 2 x 1 at the same global batch (text),
#: and the larger batches that calibrate how a step's time grows with the batch (text and compose)
ONE, TWO, ONE_2B = "text-1x2", "text-2x1", "text-1x2-2b"
COMPOSE, COMPOSE_2B = "compose-1x2", "compose-1x2-2b"
RUNS = (ONE, TWO, ONE_2B, COMPOSE, COMPOSE_2B)
#: the all-reduce messages timed: the latency probe and each model's full gradient
SMALL = "small"
MODELS = {"text": (ONE, ONE_2B), "compose": (COMPOSE, COMPOSE_2B)}
#: how many warm-up steps of a run are left out of its medians by default
SKIP_STEPS = 10
#: factors of batch / accumulation the README shows
FACTORS = (2, 4, 8)


# -- one run's metrics --------------------------------------------------------------------------------
def step_stats(rows: Iterable[Mapping[str, Any]], skip: int = SKIP_STEPS) -> dict[str, Any]:
    """One training run's speed from its ``metrics.jsonl`` rows: the train rows after the first ``skip``
    steps give the median step time (``items / items_per_s`` of each step), the median tokens/s and the
    mean items per step. ValueError when no step is left to measure."""
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0:
        raise ValueError(f"skip must be an integer ≥ 0, got {skip!r}")
    train = [r for r in rows if r.get("split") == "train"]
    kept = [r for r in train if int(r["step"]) > skip]
    if not kept:
        raise ValueError(f"no training step after the first {skip} to measure (the run logged {len(train)})")
    times = [float(r["items"]) / float(r["items_per_s"]) for r in kept]
    return {
        "steps": len(kept),
        "step_s": statistics.median(times),
        "tokens_per_s": statistics.median(float(r["items_per_s"]) for r in kept),
        "items_per_step": statistics.fmean(float(r["items"]) for r in kept),
        "step_times_s": [round(t, 5) for t in times],
    }


# -- a result file summarised -------------------------------------------------------------------------
@dataclass(frozen=True)
class Spread:
    """A median over the rounds with its min and max."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("no values to summarise")
        return cls(statistics.median(values), min(values), max(values))


@dataclass(frozen=True)
class Summary:
    """What a result file measured, as medians over its rounds."""

    step_s: dict[str, Spread]  # run -> seconds per step
    tokens_per_s: dict[str, Spread]  # run -> tokens per second
    items_per_step: dict[str, float]  # run -> mean tokens per step
    ratio: Spread  # per round: tokens/s of 2 processes x 1 thread / 1 process x 2 threads
    allreduce_s: dict[str, Spread]  # small / text / compose -> seconds per all-reduce (all buckets)
    share: Spread  # per round: text all-reduce / the 2-process text step
    compose_share: Spread  # per round: compose all-reduce / the 1-process compose step
    batch_ratio: dict[str, Spread]  # model -> per round: step at twice the batch / step at the batch


def _rounds(data: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    rounds = data.get("rounds")
    if not isinstance(rounds, list) or not rounds:
        raise ValueError("the result has no rounds")
    return rounds


def summarize(data: Mapping[str, Any]) -> Summary:
    """Medians over the rounds (each round: every run once, then the all-reduces)."""
    rounds = _rounds(data)
    step = {k: Spread.of([r["runs"][k]["step_s"] for r in rounds]) for k in RUNS}
    rate = {k: Spread.of([r["runs"][k]["tokens_per_s"] for r in rounds]) for k in RUNS}
    items = {k: statistics.fmean(r["runs"][k]["items_per_step"] for r in rounds) for k in RUNS}
    ratio = Spread.of([r["runs"][TWO]["tokens_per_s"] / r["runs"][ONE]["tokens_per_s"] for r in rounds])
    ar = {k: Spread.of([statistics.median(r["allreduce_s"][k]) for r in rounds]) for k in (SMALL, *MODELS)}
    share = Spread.of(
        [statistics.median(r["allreduce_s"]["text"]) / r["runs"][TWO]["step_s"] for r in rounds]
    )
    compose_share = Spread.of(
        [statistics.median(r["allreduce_s"]["compose"]) / r["runs"][COMPOSE]["step_s"] for r in rounds]
    )
    batch = {
        m: Spread.of([r["runs"][two_b]["step_s"] / r["runs"][one]["step_s"] for r in rounds])
        for m, (one, two_b) in MODELS.items()
    }
    return Summary(step, rate, items, ratio, ar, share, compose_share, batch)


@dataclass(frozen=True)
class Calibrated:
    """One model's workload and the loopback-calibrated network constants."""

    work: Workload
    alpha_s: float
    reduce_bytes_per_s: float

    def network(self, link_gbit: float) -> Network:
        return Network(link_gbit, self.reduce_bytes_per_s, self.alpha_s)


def calibrate(data: Mapping[str, Any], summary: Summary | None = None) -> dict[str, Calibrated]:
    """The cost model's inputs for each model: the gradient and its buckets, the measured one-node step
    (1 process x 2 threads), its tokens, the batch cost ``c = t(2b)/t(b) − 1`` (the median of the rounds'
    ratios), ``α`` from the 1-float
    all-reduce and ``B_reduce`` from the model's own loopback all-reduce."""
    s = summary or summarize(data)
    alpha = scaling.alpha_from_small(s.allreduce_s[SMALL].median)
    out = {}
    for model, (one, two_b) in MODELS.items():
        ratio = s.batch_ratio[model]
        if ratio.median <= 1:
            raise ValueError(
                f"the {model} step at twice the batch ({two_b}) was not slower than at the batch ({one}): "
                f"t(2b)/t(b) = {ratio.median:.2f} (rounds {ratio.low:.2f}–{ratio.high:.2f}); the machine was "
                "too busy for the measurement to mean anything: run the benchmark again"
            )
        grad = data["gradients"][model]
        buckets = len(grad["buckets_bytes"])
        work = Workload(
            model,
            float(grad["bytes"]),
            buckets,
            s.step_s[one].median,
            s.items_per_step[one],
            s.batch_ratio[model].median - 1,
        )
        reduce = scaling.reduce_bandwidth(work.grad_bytes, s.allreduce_s[model].median, alpha, buckets)
        out[model] = Calibrated(work, alpha, reduce)
    return out


# -- reading result files -----------------------------------------------------------------------------
def load_result(path: str | Path) -> dict[str, Any]:
    """One result file; ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path.name}: not a readable data-parallel benchmark result ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("machine"), dict) or "rounds" not in data:
        raise ValueError(f"{path.name}: not a data-parallel benchmark result (no machine or rounds)")
    try:
        summarize(data)
    except (KeyError, TypeError, ZeroDivisionError) as e:
        raise ValueError(f"{path.name}: malformed data-parallel benchmark result ({e!r})") from None
    return data


def load_results(folder: str | Path) -> list[dict[str, Any]]:
    """Every result file in ``folder``, newest measurement first (then by file name)."""
    runs = [load_result(p) for p in sorted(Path(folder).glob(PATTERN))]
    runs.sort(key=lambda d: str(d["machine"].get("date", "")), reverse=True)
    return runs


# -- rendering ----------------------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    ms = 1e3 * seconds
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 1 else f"{ms:.2f}"


def _spread_ms(s: Spread) -> str:
    return f"{_ms(s.median)} ({_ms(s.low)}–{_ms(s.high)})"


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _eff(x: float) -> str:
    """An efficiency in whole percent, rounded down: 79.98% shows as 79%, below an 80% threshold."""
    return f"{math.floor(100 * x + 1e-9):.0f}%"


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def _rate(x: float) -> str:
    return f"{x:,.0f}"


def _machine(data: Mapping[str, Any]) -> str:
    m = data["machine"]
    simd = m.get("simd") or []
    flags = [
        ("AVX2", "avx2" in simd),
        ("AVX-512", "avx512f" in simd),
        ("bf16 (AVX512_BF16)", "avx512_bf16" in simd or "amx_bf16" in simd),
    ]
    has = ", ".join(name for name, ok in flags if ok) or "none of AVX2, AVX-512, bf16"
    lacks = [name for name, ok in flags if not ok]
    about = f"{m.get('cpu_family', 'unknown family')}"
    if m.get("cpu_numbers"):
        about += f", {m['cpu_numbers']}"
    return (
        f"{m.get('cpu', 'an unknown CPU')} ({about}; {has}" + (f"; no {', '.join(lacks)}" if lacks else "")
        + f"; {m.get('cores', '?')} cores), torch {m.get('torch', '?')}"
    )  # fmt: skip


def _load(values: object) -> str:
    if isinstance(values, list | tuple) and values:
        return f"{float(values[0]):.1f}"
    return "unknown"


def _label(data: Mapping[str, Any], key: str) -> tuple[str, str, str]:
    c = data["configs"][key]
    proc, threads, batch = c["processes"], c["threads"], c["batch_per_process"]
    global_batch = proc * batch
    return c["task"], f"{proc} × {threads}", f"{batch} ({global_batch})" if proc > 1 else str(batch)


def measured_table(data: Mapping[str, Any], s: Summary) -> str:
    rounds = _rounds(data)
    lines = [
        "| model | processes × threads | batch per process (global) | step ms | tokens/s "
        "| tokens/s per round |",
        "|---|---|---|---|---|---|",
    ]
    for key in RUNS:
        task, layout, batch = _label(data, key)
        per = " / ".join(_rate(r["runs"][key]["tokens_per_s"]) for r in rounds)
        lines.append(
            f"| {task} | {layout} | {batch} | {_ms(s.step_s[key].median)} | "
            f"{_rate(s.tokens_per_s[key].median)} | {per} |"
        )
    return "\n".join(lines)


def allreduce_table(data: Mapping[str, Any], s: Summary) -> str:
    grads = data["gradients"]
    lines = [
        "| message | parameters | bytes | DDP buckets | ms per all-reduce | share of a step |",
        "|---|---|---|---|---|---|",
        f"| 1 float (latency) | 1 | 4 | 1 | {_spread_ms(s.allreduce_s[SMALL])} | – |",
    ]
    shares = {
        "text": f"{_pct(s.share.median)} of the 2-process text step "
        f"({_pct(s.share.low)}–{_pct(s.share.high)})",
        "compose": f"{_pct(s.compose_share.median)} of the 1-process compose step",
    }
    for model in MODELS:
        g = grads[model]
        sizes = " + ".join(_mb(b) for b in g["buckets_bytes"])
        lines.append(
            f"| {model} gradient | {g['parameters']:,} | {_mb(g['bytes'])} | {len(g['buckets_bytes'])} "
            f"({sizes}) | {_spread_ms(s.allreduce_s[model])} | {shares[model]} |"
        )
    return "\n".join(lines)


def prediction_table(c: Calibrated, nodes: Sequence[int] = NODES) -> str:
    """One model's predicted throughput, all-reduce time and efficiency per node count and link."""
    head = ["nodes"]
    for link in LINKS_GBIT:
        head += [f"{link:g} Gbit/s: tokens/s", "all-reduce ms", "efficiency"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in nodes:
        cells = [str(n)]
        for link in LINKS_GBIT:
            net = c.network(link)
            t_ar = scaling.allreduce_seconds(n, c.work.grad_bytes, net, c.work.buckets)
            cells += [
                _rate(scaling.throughput(n, c.work, net)),
                _ms(t_ar) if n > 1 else "0",
                _eff(scaling.efficiency(n, c.work, net)),
            ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _below(c: Calibrated, link: float) -> str:
    n = scaling.first_below(c.work, c.network(link), THRESHOLD, NODES)
    if n is not None:
        return f"{n} ({_eff(scaling.efficiency(n, c.work, c.network(link)))})"
    beyond = scaling.first_below(c.work, c.network(link), THRESHOLD, [2**i for i in range(7, 17)])
    return f"not up to {NODES[-1]}" + (f" (from {beyond:,})" if beyond else "")


def _needed(c: Calibrated, link: float, how: str, n: int) -> str:
    k = scaling.factor_needed(n, c.work, c.network(link), how)
    return "–" if k is None else ("none needed" if k == 1 else f"×{k}")


def remedy_table(cal: Mapping[str, Calibrated], n: int = NODES[-1]) -> str:
    lines = [
        f"| model, link | efficiency below {_pct(THRESHOLD)} from (nodes) | at {n} nodes | batch per node "
        + " / ".join(f"×{k}" for k in FACTORS)
        + " | accumulation over "
        + " / ".join(str(k) for k in FACTORS)
        + f" micro-steps | least for ≥ {_pct(THRESHOLD)} at {n} nodes (batch / accumulation) |",
        "|---|---|---|---|---|---|",
    ]
    for model, c in cal.items():
        for link in LINKS_GBIT:
            net = c.network(link)
            batch = " / ".join(_eff(scaling.efficiency(n, c.work, net, k, 1)) for k in FACTORS)
            accum = " / ".join(_eff(scaling.efficiency(n, c.work, net, 1, k)) for k in FACTORS)
            lines.append(
                f"| {model}, {link:g} Gbit/s | {_below(c, link)} | "
                f"{_eff(scaling.efficiency(n, c.work, net))} | {batch} | {accum} | "
                f"{_needed(c, link, 'batch', n)} / {_needed(c, link, 'accumulation', n)} |"
            )
    return "\n".join(lines)


def _model_sentence(data: Mapping[str, Any], cal: Mapping[str, Calibrated]) -> str:
    text, compose = cal["text"], cal["compose"]
    batch = {m: data["configs"][MODELS[m][0]]["batch_per_process"] for m in MODELS}
    return (
        "The cost model (`rnnkit.bench.scaling`, formulas in its docstring) takes from this file: the "
        f"per-hop latency α = half the 1-float all-reduce = {1e6 * text.alpha_s:,.0f} µs (a ring of N nodes "
        "pays 2(N−1) hops per bucket; this is gloo's software latency on this machine — a network adds its "
        "own); the reduction bandwidth B_reduce = G / (t_loop − buckets · 2α) = "
        f"{text.reduce_bytes_per_s / 1e9:.2f} GB/s (text) and {compose.reduce_bytes_per_s / 1e9:.2f} GB/s "
        f"(compose); t_compute = the 1 process × 2 threads step ({_ms(text.work.step_s)} ms for text at "
        f"batch {batch['text']}, {_ms(compose.work.step_s)} ms for compose at batch {batch['compose']}) with "
        f"{_rate(text.work.items_per_step)} and {_rate(compose.work.items_per_step)} tokens per node per "
        f"step; and how a step grows with the batch, c = t(2b)/t(b) − 1 = {text.work.batch_cost:.2f} (text) "
        f"and {compose.work.batch_cost:.2f} (compose) — a k-times batch is modelled as t_compute · "
        "(1 + c(k − 1)), extrapolated beyond k = 2. A node is this machine training one process with 2 "
        "threads; the all-reduce does not overlap the backward pass in the model (DDP overlaps it), so the "
        "predictions are conservative."
    )


def _one_node(s: Summary) -> str:
    ratio, share = s.ratio.median, s.share.median
    if ratio < 1:
        verdict = (
            f"slower, although the all-reduce is only {_pct(share)} of the 2-process step: within one node "
            "of this size, threads are the better use of the cores, and processes pay off across nodes"
        )
    else:
        verdict = (
            f"faster, with the all-reduce {_pct(share)} of the 2-process step: here processes use the cores "
            "better than threads"
        )
    return (
        f"**On one node**, 2 processes × 1 thread train the text model at {ratio:.2f}× the tokens/s of 1 "
        f"process × 2 threads (per round {s.ratio.low:.2f}–{s.ratio.high:.2f}) — {verdict}."
    )


def _model_conclusion(model: str, c: Calibrated, n: int) -> str:
    bits = []
    for link in LINKS_GBIT:
        net = c.network(link)
        first = scaling.first_below(c.work, net, THRESHOLD, NODES)
        e_n = scaling.efficiency(n, c.work, net)
        if first is None:
            bits.append(
                f"on {link:g} Gbit/s it stays at or above {_pct(THRESHOLD)} up to {n} nodes ({_eff(e_n)})"
            )
            continue
        fix = []
        kb = scaling.factor_needed(n, c.work, net, "batch")
        ka = scaling.factor_needed(n, c.work, net, "accumulation")
        if kb:
            fix.append(f"a batch per node {kb}× as large ({_eff(scaling.efficiency(n, c.work, net, kb, 1))})")
        if ka:
            fix.append(
                f"accumulating over {ka} micro-steps ({_eff(scaling.efficiency(n, c.work, net, 1, ka))})"
            )
        at_n = "" if first == n else f"; {_eff(e_n)} at {n}"
        remedy = (
            f"; at {n} nodes " + " or ".join(fix) + f" gives ≥ {_pct(THRESHOLD)}"
            if fix
            else f"; no batch or accumulation factor up to 64 brings {n} nodes to {_pct(THRESHOLD)}"
        )
        bits.append(
            f"on {link:g} Gbit/s it falls below {_pct(THRESHOLD)} at {first} nodes "
            f"({_eff(scaling.efficiency(first, c.work, net))}{at_n}){remedy}"
        )
    slow, fast = (c.network(link) for link in (LINKS_GBIT[0], LINKS_GBIT[-1]))
    e_slow, e_fast = scaling.efficiency(n, c.work, slow), scaling.efficiency(n, c.work, fast)
    e_batch = scaling.efficiency(n, c.work, slow, 2, 1)
    t_ar = scaling.allreduce_seconds(n, c.work.grad_bytes, slow, c.work.buckets)
    latency = c.work.buckets * 2 * (n - 1) * c.alpha_s
    return (
        f"**{model.capitalize()}** ({_mb(c.work.grad_bytes)} of gradient, {_ms(c.work.step_s)} ms steps): "
        + "; ".join(bits)
        + f". At {n} nodes on {LINKS_GBIT[0]:g} Gbit/s the hop latency is {_pct(latency / t_ar)} of the "
        f"{_ms(t_ar)} ms all-reduce: the {LINKS_GBIT[-1]:g} Gbit/s link takes E({n}) from "
        f"{_eff(e_slow)} to {_eff(e_fast)}, a batch per node twice as large on {LINKS_GBIT[0]:g} Gbit/s to "
        f"{_eff(e_batch)}."
    )


def conclusion(data: Mapping[str, Any], s: Summary, cal: Mapping[str, Calibrated]) -> str:
    """Where data parallelism stops paying, and what then helps — every number from the result."""
    n = NODES[-1]
    parts = [_one_node(s), *(_model_conclusion(model, c, n) for model, c in cal.items())]
    parts.append(
        "A larger batch or accumulation raises the global batch (k · N · batch per node), which changes the "
        "optimisation: the learning rate and the number of steps need retuning, so it buys throughput, not "
        "the same run. rnnkit's trainer has no accumulation option today; the rows above show what one "
        "would give."
    )
    return "\n\n".join(parts)


def render_part(data: Mapping[str, Any]) -> str:
    """One result file as markdown: the machine, the measured table, the all-reduces, the predictions and
    the conclusion (the result file's ``.md`` and its part of the README section)."""
    s = summarize(data)
    cal = calibrate(data, s)
    st = data["settings"]
    m = data["machine"]
    notes = data.get("notes") or []
    head = (
        f"Measured {m.get('date', 'on an unknown date')} on {_machine(data)}: {len(_rounds(data))} "
        f"interleaved rounds (every run once per round, then the all-reduces), runs of {st['steps']} steps "
        f"with the first {st['skip']} left out, medians; load average "
        f"{_load(data.get('load_average_start'))} at the start, {_load(data.get('load_average_end'))} at the "
        f"end; {data.get('wall_seconds', 0) / 60:.1f} minutes in all."
    )
    if notes:
        head += " " + " ".join(str(n) for n in notes)
    lines = [
        head,
        "",
        measured_table(data, s),
        "",
        f"**2 processes × 1 thread ÷ 1 process × 2 threads, tokens/s: {s.ratio.median:.2f}×** "
        f"(per round {s.ratio.low:.2f}–{s.ratio.high:.2f}), the same global batch of "
        f"{data['configs'][ONE]['batch_per_process']}.",
        "",
        "All-reduce with gloo, 2 processes on loopback, float32, bucket after bucket in the buckets "
        f"DistributedDataParallel makes (its default caps: {st['first_bucket_mib']} MiB for the first, "
        f"{st['bucket_cap_mib']} MiB for the others; the sizes read from DDP after its bucket rebuild), "
        "median of the rounds (min–max):",
        "",
        allreduce_table(data, s),
        "",
        _model_sentence(data, cal),
        "",
        "Predicted throughput and efficiency E(N) = T(1)/T(N) (efficiencies rounded down):",
        "",
    ]
    for model, c in cal.items():
        lines += [f"**{model.capitalize()} model:**", "", prediction_table(c), ""]
    lines += [
        f"Where E(N) falls below {_pct(THRESHOLD)}, and what a larger batch per node or gradient "
        f"accumulation (one all-reduce per k micro-steps) gives at {NODES[-1]} nodes, by the same model:",
        "",
        remedy_table(cal),
        "",
        conclusion(data, s, cal),
    ]
    return "\n".join(lines) + "\n"


def markdown(data: Mapping[str, Any]) -> str:
    """The result file's markdown report (its part of the README section, without the heading)."""
    return render_part(data)


def render_scaling_section(results_dir: str | Path) -> str:
    """The README's ``scaling`` block: every ``distributed-*.json`` in ``results_dir``, newest first;
    ValueError when there is none."""
    runs = load_results(results_dir)
    if not runs:
        raise ValueError(
            f"no {PATTERN} result in {Path(results_dir).name}/: run `python benchmarks/bench_distributed.py`"
        )
    parts = [f"### {d['machine'].get('cpu_family', 'unknown CPU')} — measured {d['machine'].get('date')}\n\n"
             + render_part(d) for d in runs]  # fmt: skip
    return "\n".join(parts)
