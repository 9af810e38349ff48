"""The data-parallel cost model (``rnnkit.bench.scaling``) against hand-computed values, its shape (no
communication on one node, monotone in the node count, accumulation dividing the communication), the
benchmark's result files summarised and rendered (``rnnkit.bench.scaling_report``), and the README's
"Scaling out" section equal to what the committed result file renders."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from pathlib import Path

import pytest

from rnnkit._blocks import block
from rnnkit.bench import scaling as S
from rnnkit.bench import scaling_report as R

ROOT = Path(__file__).resolve().parent.parent
README, RESULTS = ROOT / "README.md", ROOT / "benchmarks" / "results"

#: 8 Gbit/s = 1e9 bytes/s, so that the hand computations stay round
NET = S.Network(link_gbit=8.0, reduce_bytes_per_s=1e9, alpha_s=1e-4)
WORK = S.Workload("m", grad_bytes=1e6, buckets=2, step_s=0.1, items_per_step=1000.0)


# -- the formulas ---------------------------------------------------------------------------------------
def test_allreduce_time_is_the_ring_formula():
    # 2(N−1)/N · G · (1/B_link + 1/B_reduce) + n_b · 2(N−1) · α at N = 4:
    # 1.5 · 1e6 · 2e-9 = 3 ms of bytes, 2 · 2 · 3 · 0.1 ms = 1.2 ms of latency
    assert S.allreduce_seconds(4, 1e6, NET, buckets=2) == pytest.approx(4.2e-3)
    assert S.allreduce_seconds(2, 1e6, NET, buckets=1) == pytest.approx(1e-3 * 2 * 0.5 * 2 + 2e-4)
    assert NET.link_bytes_per_s == 1e9 and S.Network(10, 1, 0).link_bytes_per_s == 1.25e9
    # the bytes term tends to 2 · G · (1/B_link + 1/B_reduce) as N grows
    big = S.allreduce_seconds(10**6, 1e6, S.Network(8.0, 1e9, 0.0))
    assert big == pytest.approx(4e-3, rel=1e-5)


def test_step_throughput_and_efficiency_by_hand():
    t_ar = 4.2e-3
    assert S.step_seconds(4, WORK, NET) == pytest.approx(0.1 + t_ar)
    assert S.throughput(4, WORK, NET) == pytest.approx(4 * 1000 / (0.1 + t_ar))
    assert S.efficiency(4, WORK, NET) == pytest.approx(0.1 / (0.1 + t_ar))
    assert S.communication_share(4, WORK, NET) == pytest.approx(t_ar / (0.1 + t_ar))
    assert S.efficiency(4, WORK, NET) + S.communication_share(4, WORK, NET) == pytest.approx(1.0)


def test_one_node_has_no_communication():
    assert S.allreduce_seconds(1, 1e9, NET, buckets=5) == 0.0
    assert S.step_seconds(1, WORK, NET) == WORK.step_s
    assert S.efficiency(1, WORK, NET) == 1.0
    assert S.throughput(1, WORK, NET) == pytest.approx(WORK.items_per_step / WORK.step_s)
    assert S.communication_share(1, WORK, NET, 4, 4) == 0.0


def test_more_nodes_cost_more_communication_and_efficiency_but_add_throughput():
    times = [S.allreduce_seconds(n, WORK.grad_bytes, NET, WORK.buckets) for n in S.NODES]
    effs = [S.efficiency(n, WORK, NET) for n in S.NODES]
    rates = [S.throughput(n, WORK, NET) for n in S.NODES]
    assert times == sorted(times) and len(set(times)) == len(times)
    assert effs == sorted(effs, reverse=True) and len(set(effs)) == len(effs)
    assert rates == sorted(rates)
    faster = S.Network(80.0, NET.reduce_bytes_per_s, NET.alpha_s)
    slower_hops = S.Network(NET.link_gbit, NET.reduce_bytes_per_s, 10 * NET.alpha_s)
    for n in S.NODES[1:]:
        assert S.efficiency(n, WORK, faster) > S.efficiency(n, WORK, NET) > S.efficiency(n, WORK, slower_hops)


def test_accumulation_divides_the_communication_per_item():
    t_ar = S.allreduce_seconds(16, WORK.grad_bytes, NET, WORK.buckets)
    per_item = {k: t_ar / S.items_per_step(16, WORK, accumulation=k) for k in (1, 2, 4, 8)}
    for k in (2, 4, 8):
        assert per_item[k] == pytest.approx(per_item[1] / k)
        assert S.step_seconds(16, WORK, NET, accumulation=k) == pytest.approx(k * WORK.step_s + t_ar)
        assert S.communication_share(16, WORK, NET, accumulation=k) == pytest.approx(t_ar / (k * 0.1 + t_ar))
        assert S.efficiency(16, WORK, NET, accumulation=k) > S.efficiency(16, WORK, NET, accumulation=k // 2)


def test_a_larger_batch_costs_what_the_batch_cost_says():
    half = S.Workload("m", 1e6, 2, step_s=0.1, items_per_step=1000.0, batch_cost=0.5)
    assert S.compute_seconds(half, 3) == pytest.approx(0.1 * (1 + 0.5 * 2))
    assert S.items_per_step(4, half, batch_factor=3) == 12000
    t_ar = S.allreduce_seconds(4, 1e6, NET, 2)
    assert S.throughput(4, half, NET, batch_factor=3) == pytest.approx(12000 / (0.2 + t_ar))
    # linear (c = 1): a k-times batch and k accumulated micro-steps take the same time
    for k in (2, 4):
        assert S.step_seconds(8, WORK, NET, batch_factor=k) == pytest.approx(
            S.step_seconds(8, WORK, NET, 1, k)
        )
    # c < 1: the larger batch computes faster, so communication weighs more against it
    assert S.efficiency(8, half, NET, 4, 1) < S.efficiency(8, half, NET, 1, 4)
    assert S.throughput(8, half, NET, 4, 1) > S.throughput(8, half, NET, 1, 4)


def test_calibration_recovers_alpha_and_the_reduction_bandwidth():
    alpha, b_reduce, g, nb = 1.5e-4, 7e8, 4.8e6, 2
    small = 2 * alpha  # one float, 2 processes: 2(N−1) = 2 hops
    loop = g / b_reduce + nb * 2 * alpha
    assert S.alpha_from_small(small) == pytest.approx(alpha)
    assert S.alpha_from_small(6 * alpha, processes=4) == pytest.approx(alpha)
    assert S.reduce_bandwidth(g, loop, alpha, nb) == pytest.approx(b_reduce)
    with pytest.raises(ValueError, match=r"loopback_s .* is not above the latency of 2 bucket"):
        S.reduce_bandwidth(g, 3 * alpha, alpha, 2)


def test_where_efficiency_drops_and_what_brings_it_back():
    # t_compute 0.1 s; E(N) < 0.8 once t_ar(N) > 25 ms
    work = S.Workload("m", grad_bytes=1e7, buckets=1, step_s=0.1, items_per_step=1.0)
    net = S.Network(8.0, 1e9, 0.0)  # t_ar(N) = 2(N−1)/N · 1e7 · 2e-9 = 40 ms · (N−1)/N
    assert S.allreduce_seconds(2, 1e7, net) == pytest.approx(0.02)
    assert S.allreduce_seconds(4, 1e7, net) == pytest.approx(0.03)
    assert S.first_below(work, net) == 4
    assert S.first_below(work, net, threshold=0.5) is None
    # at 64 nodes t_ar = 39.4 ms: k · 0.1 / (k · 0.1 + 0.0394) ≥ 0.8 needs k ≥ 1.575 → 2
    assert S.factor_needed(64, work, net, "accumulation") == 2
    assert S.factor_needed(64, work, net, "batch") == 2
    assert S.factor_needed(64, work, net, "batch", threshold=0.999, factors=(1, 2)) is None
    preds = S.predict(work, net, nodes=(1, 2))
    assert [p.nodes for p in preds] == [1, 2] and preds[0].allreduce_s == 0.0
    assert preds[1].efficiency == pytest.approx(0.1 / 0.12) and preds[1].tokens_per_s == pytest.approx(
        2 / 0.12
    )


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: S.Network(0, 1e9, 0), "link_gbit must be a positive number, got 0"),
        (lambda: S.Network(10, float("nan"), 0), "reduce_bytes_per_s must be a positive number"),
        (lambda: S.Network(10, 1e9, -1), "alpha_s must be a number ≥ 0, got -1"),
        (lambda: S.Workload("m", 1e6, 0, 0.1, 1.0), "buckets must be an integer ≥ 1, got 0"),
        (lambda: S.Workload("m", 1e6, 1, 0.1, 1.0, batch_cost=0), "batch_cost must be a positive number"),
        (lambda: S.allreduce_seconds(0, 1e6, NET), "nodes must be an integer ≥ 1, got 0"),
        (lambda: S.allreduce_seconds(2.5, 1e6, NET), "nodes must be an integer ≥ 1, got 2.5"),
        (lambda: S.step_seconds(2, WORK, NET, accumulation=0), "accumulation must be an integer ≥ 1"),
        (lambda: S.compute_seconds(WORK, True), "batch_factor must be an integer ≥ 1, got True"),
        (lambda: S.factor_needed(2, WORK, NET, "more"), "how must be 'batch' or 'accumulation', got 'more'"),
        (lambda: S.alpha_from_small(1e-4, processes=1), "processes must be at least 2"),
    ],
)
def test_bad_arguments_name_themselves(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


# -- result files ---------------------------------------------------------------------------------------
def _rows(step_s: list[float], items: float = 3200.0) -> list[dict]:
    rows = [
        {"split": "train", "step": i + 1, "items": items, "items_per_s": items / t}
        for i, t in enumerate(step_s)
    ]
    return [*rows, {"split": "val", "step": len(step_s), "loss": 1.0}]


def test_step_stats_leave_out_the_warm_up_and_take_medians():
    stats = R.step_stats(_rows([1.0, 1.0, 0.2, 0.1, 0.3]), skip=2)
    assert stats["steps"] == 3 and stats["step_s"] == pytest.approx(0.2)
    assert stats["tokens_per_s"] == pytest.approx(3200 / 0.2) and stats["items_per_step"] == 3200
    with pytest.raises(ValueError, match="no training step after the first 5"):
        R.step_stats(_rows([0.1] * 5), skip=5)
    with pytest.raises(ValueError, match="skip must be an integer ≥ 0"):
        R.step_stats([], skip=-1)


def _run(step_s: float, items: float) -> dict:
    return {"step_s": step_s, "tokens_per_s": items / step_s, "items_per_step": items, "steps": 30}


def _result(date: str = "2026-12-01") -> dict:
    """A result file's content with round numbers: α = 0.1 ms, text loopback = 4.8 MB / 0.8 GB/s + 4α."""
    rounds = []
    for i, wobble in enumerate((1.0, 1.1, 0.9)):
        runs = {
            R.ONE: _run(0.1 * wobble, 3200),
            R.TWO: _run(0.125 * wobble, 3200),
            R.ONE_2B: _run(0.18 * wobble, 6400),
            R.COMPOSE: _run(0.05 * wobble, 300),
            R.COMPOSE_2B: _run(0.09 * wobble, 600),
        }
        ar = {"small": [2e-4, 2e-4 * wobble], "text": [6.4e-3, 6.4e-3], "compose": [8.4e-3, 8.4e-3]}
        rounds.append({"round": i + 1, "order": [*R.RUNS, "allreduce"], "runs": runs, "allreduce_s": ar})
    configs = {
        R.ONE: ("text", 1, 2, 32), R.TWO: ("text", 2, 1, 16), R.ONE_2B: ("text", 1, 2, 64),
        R.COMPOSE: ("compose", 1, 2, 64), R.COMPOSE_2B: ("compose", 1, 2, 128),
    }  # fmt: skip
    return {
        "format": R.FORMAT,
        "machine": {"cpu": "AMD EPYC", "cpu_family": "AMD Zen 4", "cpu_slug": "amd-zen4", "date": date,
                    "simd": ["avx2", "avx512f", "avx512_bf16"], "cores": 2, "torch": "2.13.0+cpu"},
        "load_average_start": [0.4, 0.5, 0.5],
        "load_average_end": [2.1, 1.0, 0.6],
        "notes": [],
        "wall_seconds": 240.0,
        "settings": {"rounds": 3, "steps": 40, "skip": 10, "first_bucket_mib": 1, "bucket_cap_mib": 25},
        "configs": {k: {"task": t, "processes": p, "threads": th, "batch_per_process": b}
                    for k, (t, p, th, b) in configs.items()},
        "gradients": {
            "text": {"parameters": 1_200_000, "bytes": 4_800_000, "buckets_bytes": [4_000_000, 800_000]},
            "compose": {"parameters": 1_800_000, "bytes": 7_200_000, "buckets_bytes": [7_200_000]},
        },
        "rounds": rounds,
    }  # fmt: skip


def test_a_result_is_summarised_over_its_rounds_and_calibrates_the_model():
    data = _result()
    s = R.summarize(data)
    assert s.step_s[R.ONE].median == pytest.approx(0.1) and s.step_s[R.ONE].high == pytest.approx(0.11)
    assert s.ratio.median == pytest.approx(0.8) and s.ratio.low == s.ratio.high  # the same in every round
    assert s.share.median == pytest.approx(6.4e-3 / 0.125)
    assert s.batch_ratio["text"].median == pytest.approx(1.8)
    cal = R.calibrate(data, s)
    text, compose = cal["text"], cal["compose"]
    assert text.alpha_s == pytest.approx(1e-4)  # half the 1-float all-reduce
    assert text.reduce_bytes_per_s == pytest.approx(4.8e6 / (6.4e-3 - 2 * 2 * 1e-4))  # 2 buckets
    assert compose.reduce_bytes_per_s == pytest.approx(7.2e6 / (8.4e-3 - 2e-4))
    assert text.work.buckets == 2 and compose.work.buckets == 1
    assert text.work.batch_cost == pytest.approx(0.8) and compose.work.batch_cost == pytest.approx(0.8)
    assert text.work.step_s == pytest.approx(0.1) and text.work.items_per_step == 3200


def test_a_larger_batch_measured_faster_is_refused_as_noise():
    data = _result()
    for r in data["rounds"]:
        r["runs"][R.COMPOSE_2B]["step_s"] = 0.5 * r["runs"][R.COMPOSE]["step_s"]
    with pytest.raises(ValueError, match=r"compose step at twice the batch .* was not slower .* 0\.50"):
        R.calibrate(data)


def test_the_rendered_part_carries_the_measurements_and_the_model():
    text = R.render_part(_result())
    assert "AMD EPYC (AMD Zen 4; AVX2, AVX-512, bf16 (AVX512_BF16); 2 cores), torch 2.13.0+cpu" in text
    assert "| text | 1 × 2 | 32 | 100 | 32,000 | 32,000 / 29,091 / 35,556 |" in text
    assert "| text | 2 × 1 | 16 (32) | 125 | 25,600 |" in text
    assert "tokens/s: 0.80×** (per round 0.80–0.80)" in text
    assert (
        "| text gradient | 1,200,000 | 4.80 MB | 2 (4.00 MB + 0.80 MB) | 6.4 (6.4–6.4) | 5% of the 2-process"
        in text
    )
    assert "α = half the 1-float all-reduce = 100 µs" in text
    cal = R.calibrate(_result())
    e64 = S.efficiency(64, cal["text"].work, cal["text"].network(10.0))
    assert f"| 64 | {S.throughput(64, cal['text'].work, cal['text'].network(10.0)):,.0f} |" in text
    assert f"{100 * e64:.0f}%" in text
    assert (
        "**On one node**, 2 processes × 1 thread train the text model at 0.80×" in text and "slower" in text
    )
    assert text.count("**Text model:**") == 1 and text.count("**Compose model:**") == 1


def test_result_files_are_read_newest_first_and_bad_ones_are_named(tmp_path):
    (tmp_path / "distributed-amd-zen3.json").write_text(json.dumps(_result("2026-11-01")))
    (tmp_path / "distributed-amd-zen4.json").write_text(json.dumps(_result("2026-12-01")))
    section = R.render_scaling_section(tmp_path)
    assert section.index("measured 2026-12-01") < section.index("measured 2026-11-01")
    broken = copy.deepcopy(_result())
    del broken["rounds"][1]["runs"][R.TWO]
    (tmp_path / "distributed-x.json").write_text(json.dumps(broken))
    with pytest.raises(ValueError, match=r"distributed-x\.json: malformed data-parallel benchmark result"):
        R.render_scaling_section(tmp_path)
    (tmp_path / "distributed-x.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"distributed-x\.json: not a readable"):
        R.load_results(tmp_path)
    with pytest.raises(ValueError, match=r"no distributed-\*\.json result in empty/"):
        R.render_scaling_section(tmp_path / "empty")


# -- the benchmark script's arguments ------------------------------------------------------------------------
def _script():
    spec = importlib.util.spec_from_file_location(
        "bench_distributed", ROOT / "benchmarks" / "bench_distributed.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--steps", "10", "--skip", "10"], "--skip (10) must be below --steps (10)"),
        (["--rounds", "0"], "--rounds must be at least 1, got 0"),
        (["--allreduce-rounds", "0"], "--allreduce-rounds must be at least 1, got 0"),
        (["--readme", "--rounds", "2"], "--readme takes no other option"),
        (["--steps", "x"], "argument --steps: invalid int value: 'x'"),
    ],
)
def test_the_benchmark_refuses_bad_arguments_by_name(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        _script().parse_args(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_the_benchmark_has_help(capsys):
    with pytest.raises(SystemExit) as e:
        _script().parse_args(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--rounds" in out and "--readme" in out and "--worker" not in out


# -- the README -----------------------------------------------------------------------------------------
def test_the_readme_section_is_what_the_committed_result_renders():
    readme = README.read_text(encoding="utf-8")
    assert list(RESULTS.glob(R.PATTERN)), "no committed distributed-*.json result"
    assert block(readme, "scaling") == R.render_scaling_section(RESULTS), (
        "README scaling section out of date: run `python benchmarks/bench_distributed.py --readme`"
    )
    headings = re.findall(r"^## (.+)$", readme, re.M)
    at = headings.index("Reliability: no lost work, no silent garbage, exact reproducibility")
    assert headings[at + 1] == "Scaling out"
    section = readme.split("## Scaling out\n", 1)[1].split("\n## ", 1)[0]
    assert "<!-- scaling -->" in section and "--nproc 2" in section and "--max-restarts 3" in section
