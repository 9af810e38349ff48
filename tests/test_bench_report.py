"""The fused-backend benchmark's reports: the targets (GRU's higher target only where nn.GRU leaves room
for it, the share of peak at large H, generation by H), the README section generated from the result
files per CPU family (and the README holding exactly that), files from before the per-family layout, and
the ``rnnkit bench`` command writing one result file per CPU family with the machine, the GEMM choice,
both peak GEMMs per row and µs per token."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnkit.bench.backends import BackendBenchRow
from rnnkit.bench.generation import GenerationRow
from rnnkit.bench.peak import Peak
from rnnkit.bench.readme import cpu_section, render_cpu_section, with_cpu_section
from rnnkit.bench.report import BenchRun, missed_targets, write_run
from rnnkit.bench.results import load_result
from rnnkit.bench.targets import generation_target, peak_target, speedup_target
from rnnkit.scan import cpu as cpu_mod

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


# -- the targets ------------------------------------------------------------------------------------------
def test_gru_needs_1_5x_only_where_nn_gru_runs_below_80_percent_of_peak():
    assert speedup_target("gru", 159.9, 200.0) == 1.5
    assert speedup_target("gru", 160.0, 200.0) == 1.0  # bound by its GEMMs: no room for 1.5×
    assert speedup_target("gru", 50.0, 0.0) == 1.5  # no peak measured: nothing shows it is bound
    for cell in ("lstm", "rnn", "urlstm"):  # urlstm included: ≥ 1.0× nn.LSTM
        assert speedup_target(cell, 10.0, 200.0) == 1.0


def test_peak_share_and_generation_targets_by_hidden_size():
    assert peak_target(511) is None and peak_target(512) == 0.85 and peak_target(1024) == 0.85
    assert generation_target(256) == 3.0 and generation_target(512) == 4.0
    assert generation_target(64) == 3.0 and generation_target(384) == 3.0 and generation_target(1024) == 4.0


# -- rendering a synthetic result set ---------------------------------------------------------------------
def _row(cell: str, mode: str, H: int, ratio: float, torch_gf: float, rnnkit_gf: float,
         peaks: tuple[float, float], target: float) -> BackendBenchRow:  # fmt: skip
    peak = max(peaks)
    anchor = {"gru": "nn.GRU", "lstm": "nn.LSTM"}[cell]
    return BackendBenchRow(
        cell=cell, anchor=anchor, mode=mode, B=16, T=10, H=H, torch_ms=10.0 * ratio, rnnkit_ms=10.0,
        ratio=ratio, ratio_min=ratio - 0.05, ratio_max=ratio + 0.05, target=target,
        rnnkit_gflops=rnnkit_gf, torch_gflops=torch_gf, peak_gflops=peak,
        peak_share=round(rnnkit_gf / peak, 3), peak_torch_gflops=peaks[0], peak_rnnkit_gflops=peaks[1],
    )  # fmt: skip


def _gen(H: int, ratio: float, target: float) -> GenerationRow:
    return GenerationRow(
        V=65, E=64, H=H, L=2, B=1, tokens=200, torch_tokens_per_s=1000.0, rnnkit_tokens_per_s=1000.0 * ratio,
        torch_us_per_token=1000.0, rnnkit_us_per_token=round(1000.0 / ratio, 2), ratio=ratio,
        ratio_min=ratio, ratio_max=ratio, target=target,
    )  # fmt: skip


def _machine(family: str, slug: str, date: str, simd: list[str]) -> dict[str, object]:
    return {
        "cpu": "Some CPU", "cpu_family": family, "cpu_slug": slug, "cpu_numbers": "family 6 model 207",
        "simd": simd, "cores": 2, "torch_threads": 2, "torch": "2.13.0+cpu", "python": "3.11.7",
        "load_average_1min": 0.5, "date": date,
    }  # fmt: skip


def _gemm(large: str) -> dict[str, object]:
    return {
        "choice": {"step_vec": "own", "step": "own", "large": large},
        "source": "measured 2026-12-05 (2 threads), cached",
        "vendor": "MKL",
        "vendor_available": True,
        "own_tile": "8x32 float32, 512-bit vectors",
        "measured": None,
    }


def _write(folder: Path, run: BenchRun) -> None:
    stem = folder / f"backends-cpu-{run.machine['cpu_slug']}"
    write_run(run, str(stem) + ".json", str(stem) + ".md")


@pytest.fixture
def two_families(tmp_path: Path) -> Path:
    """Two CPU families, the newer one (Intel) written second; another backend's file beside them."""
    zen4 = BenchRun(
        machine=_machine("AMD Zen 4", "amd-zen4", "2026-12-05", ["avx2", "fma", "avx512f"]),
        peak=Peak(torch_gflops=219.0, rnnkit_gflops=461.0, n=2048),
        rows=[
            _row("gru", "train", 256, 1.05, 170.0, 200.0, (190.0, 200.0), 1.0),  # nn.GRU at 85%: 1.0×
            _row("gru", "infer", 256, 1.60, 100.0, 100.0, (190.0, 200.0), 1.5),  # nn.GRU at 50%: 1.5×
        ],
        generation=[_gen(256, 3.1, 3.0), _gen(512, 4.1, 4.0)],
        load_after=0.6,
        gemm=_gemm("own"),
        repeats=5,
    )
    intel = BenchRun(
        machine=_machine("Intel Emerald Rapids", "intel-emerald-rapids", "2026-12-07", ["avx512f"]),
        peak=Peak(torch_gflops=230.0, rnnkit_gflops=200.0, n=2048),
        rows=[
            _row("gru", "train", 1024, 1.30, 100.0, 180.0, (200.0, 190.0), 1.5),  # 1.5× missed
            _row("gru", "infer", 1024, 1.10, 170.0, 187.0, (190.0, 200.0), 1.0),
            _row("lstm", "train", 512, 1.33, 120.0, 160.0, (200.0, 190.0), 1.0),  # 80% of peak: missed
            _row("lstm", "infer", 512, 1.20, 150.0, 180.0, (200.0, 190.0), 1.0),
        ],
        generation=[_gen(256, 2.9, 3.0), _gen(512, 4.2, 4.0)],
        load_after=0.7,
        gemm=_gemm("vendor"),
        repeats=5,
    )
    _write(tmp_path, zen4)
    _write(tmp_path, intel)
    (tmp_path / "backends-native-amd-zen4.json").write_text("not a cpu result")
    return tmp_path


def _parts(section: str) -> dict[str, str]:
    """The section's family parts by heading."""
    return {p.split("\n", 1)[0]: p for p in section.split("\n### ")[1:]}


def _table_row(part: str, start: str) -> list[str]:
    (line,) = [ln for ln in part.splitlines() if ln.startswith(start)]
    return [c.strip() for c in line.strip("|").split("|")]


def test_two_families_render_two_tables_newest_first(two_families):
    section = render_cpu_section(two_families)
    headings = [ln for ln in section.splitlines() if ln.startswith("### ")]
    assert headings == [
        "### Intel Emerald Rapids — measured 2026-12-07",
        "### AMD Zen 4 — measured 2026-12-05",
    ]
    parts = _parts(section)
    for part in parts.values():  # each family has its own per-row and generation table
        assert part.count("| cell | vs | B,T,H |") == 1 and part.count("| char model") == 1
    intel, zen4 = parts.values()
    assert "torch.mm is faster, by 15%" in intel and "rnnkit's GEMM is faster, by 111%" in zen4
    assert "MKL for whole-sequence products" in intel and "rnnkit's own (8x32" in intel
    assert "rnnkit's own (8x32 float32, 512-bit vectors) for every product class" in zen4
    assert "judged against today's targets" not in section  # written under today's targets
    assert "family 6 model 207" in intel and "SIMD avx512f" in intel and "2 threads" in intel


def test_missed_targets_are_marked_where_the_rules_say(two_families):
    intel, zen4 = _parts(render_cpu_section(two_families)).values()
    # columns: cell, vs, B,T,H, train ms ×2, train speed-up, infer ms ×2, infer speed-up, target, % of peak
    gru = _table_row(intel, "| gru | nn.GRU | 16,10,1024 |")
    assert "✗" in gru[5] and "✗" not in gru[8]  # nn.GRU at 50% of peak: 1.5× missed; at 85%: 1.0× met
    assert gru[9] == "≥ 1.5× / ≥ 1.0×" and gru[10] == "90% / 94%"
    lstm = _table_row(intel, "| lstm | nn.LSTM | 16,10,512 |")
    assert "✗" not in lstm[5] + lstm[8] and lstm[10] == "80% ✗ / 90%"  # < 85% of peak at H >= 512
    g256, g512 = _table_row(intel, "| H = 256 |"), _table_row(intel, "| H = 512 |")
    assert "✗" in g256[5] and g256[6] == "≥ 3.0×" and "✗" not in g512[5] and g512[6] == "≥ 4.0×"
    assert intel.endswith(
        "Targets missed:\n"
        "- gru train B=16 T=10 H=1024: 1.30× nn.GRU (target 1.5×, short by 13%; nn.GRU runs at 50% of the "
        "peak in its rounds, rnnkit at 90%)\n"
        "- lstm train B=16 T=10 H=512: 80% of peak (target 85%, short by 6%)\n"
        "- generation H=256: 2.90× nn.LSTM stepped from Python (target 3.0×, short by 3%)\n"
    )
    zen_gru = _table_row(zen4, "| gru | nn.GRU | 16,10,256 |")
    assert zen_gru[9] == "≥ 1.0× / ≥ 1.5×"
    assert "✗" not in zen4 and zen4.endswith("Targets missed: none.\n")


def test_a_result_written_under_other_targets_is_judged_against_todays(two_families):
    path = two_families / "backends-cpu-amd-zen4.json"
    data = json.loads(path.read_text())
    data["targets"]["peak_share"] = 0.7
    data["rows"][0]["target"] = 1.5  # as if measured when GRU always needed 1.5×
    path.write_text(json.dumps(data))
    loaded = load_result(path)
    assert loaded.retargeted and loaded.run.rows[0].target == 1.0 and missed_targets(loaded.run) == []
    part = _parts(render_cpu_section(two_families))["AMD Zen 4 — measured 2026-12-05"]
    assert "Targets missed (judged against today's targets; the run was measured against those of" in part


def test_a_result_from_before_the_family_layout_renders(tmp_path):
    """Layout 1: no format, gemm, per-row torch.mm peak, µs per token or targets record."""
    row = {
        "cell": "urlstm", "anchor": "nn.LSTM", "mode": "train", "B": 16, "T": 200, "H": 512,
        "torch_ms": 90.0, "rnnkit_ms": 100.0, "ratio": 0.9, "ratio_min": 0.85, "ratio_max": 0.95,
        "target": 0.8, "rnnkit_gflops": 150.0, "torch_gflops": 135.0, "peak_gflops": 170.0,
        "peak_share": 0.882,
    }  # fmt: skip
    gen = {
        "V": 65, "E": 64, "H": 256, "L": 2, "B": 1, "tokens": 200, "torch_tokens_per_s": 2000.0,
        "rnnkit_tokens_per_s": 8000.0, "ratio": 4.0, "ratio_min": 3.9, "ratio_max": 4.1, "target": 2.0,
    }  # fmt: skip
    old = {
        "machine": {"cpu": "AMD EPYC", "cores": 2, "torch_threads": 2, "torch": "2.13.0+cpu",
                    "load_average_1min": 1.0, "date": "2026-12-01"},
        "load_average_1min_after": 2.0,
        "peak": {"torch_gflops": 181.0, "rnnkit_gflops": 174.0, "n": 2048, "gflops": 181.0},
        "rows": [row], "generation": [gen], "targets_missed": [],
    }  # fmt: skip
    (tmp_path / "backends-cpu.json").write_text(json.dumps(old))  # the layout-1 name: not a family file
    with pytest.raises(ValueError, match="no backends-cpu-"):
        render_cpu_section(tmp_path)
    (tmp_path / "backends-cpu.json").rename(tmp_path / "backends-cpu-amd-zen3.json")
    section = render_cpu_section(tmp_path)
    assert "### AMD EPYC — measured 2026-12-01" in section and "SIMD not recorded" in section
    assert "GEMM choice: rnnkit's own for every product (before the per-machine choice existed)." in section
    assert "This run timed only rnnkit's GEMM in the rounds of every row" in section
    assert "| H = 256 | 2,000 | 500 | 8,000 | 125 |" in section  # µs per token = 1e6 / tokens/s
    urlstm = _table_row(section, "| urlstm | nn.LSTM | 16,200,512 |")
    assert "✗" in urlstm[5] and urlstm[9] == "≥ 1.0×"  # 0.8× was enough then; 1.0× is the bar now
    assert "- urlstm train B=16 T=200 H=512: 0.90× nn.LSTM (target 1.0×, short by 10%" in section
    (tmp_path / "backends-cpu-broken.json").write_text("{")
    with pytest.raises(ValueError, match=r"backends-cpu-broken\.json"):
        render_cpu_section(tmp_path)


# -- the README -------------------------------------------------------------------------------------------
def test_readme_cpu_section_is_the_one_generated_from_the_results():
    """Fails when the README's section was edited by hand or a result file changed without
    `python benchmarks/bench_backends.py --readme`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert cpu_section(readme) == render_cpu_section(RESULTS)
    assert with_cpu_section(readme, cpu_section(readme)) == readme
    with pytest.raises(ValueError, match="bench:cpu"):
        cpu_section(readme.replace("<!-- /bench:cpu -->", ""))


def test_every_cpu_result_file_names_its_family():
    files = sorted(RESULTS.glob("backends-cpu-*.json"))
    assert files, "the README's section needs at least one result file"
    for path in files:
        machine = json.loads(path.read_text())["machine"]
        assert path.name == f"backends-cpu-{machine['cpu_slug']}.json" and machine["cpu_family"]


# -- the bench command ------------------------------------------------------------------------------------
@pytest.mark.skipif(cpu_mod.probe() is not None, reason="the cpu backend is not available here")
def test_bench_command_writes_one_result_per_cpu_family(tmp_path, capsys):
    from rnnkit.cli import main
    from rnnkit.scan.cpu.gemm import CLASSES
    from rnnkit.scan.cpu.machine import cpu_info

    threads = torch.get_num_threads()
    try:
        args = ["bench", "--cells", "lstm,gru", "--shapes", "2x3x16", "--repeats", "3", "--tokens", "2"]
        assert main([*args, "--peak-size", "128", "--threads", "1", "--out", str(tmp_path)]) == 0
    finally:
        torch.set_num_threads(threads)
    info = cpu_info()
    path = tmp_path / f"backends-cpu-{info.slug}.json"
    payload = json.loads(path.read_text())
    m = payload["machine"]
    assert m["cpu_family"] == info.family_name and m["cpu_slug"] == info.slug
    assert m["simd"] == list(info.simd) and m["torch_threads"] == 1
    assert set(payload["gemm"]["choice"]) == set(CLASSES) and payload["gemm"]["source"]
    assert payload["gemm"]["vendor"] and payload["gemm"]["own_tile"]
    assert payload["format"] == 2 and payload["repeats"] == 3
    rows = payload["rows"]
    assert [(r["cell"], r["mode"]) for r in rows] == [
        ("lstm", "train"), ("lstm", "infer"), ("gru", "train"), ("gru", "infer"),
    ]  # fmt: skip
    for r in rows:
        assert r["peak_torch_gflops"] > 0 and r["peak_rnnkit_gflops"] > 0
        assert r["peak_gflops"] == max(r["peak_torch_gflops"], r["peak_rnnkit_gflops"])
        assert r["target"] == speedup_target(r["cell"], r["torch_gflops"], r["peak_gflops"])
    gen = payload["generation"]
    assert [(g["H"], g["target"]) for g in gen] == [(256, 3.0), (512, 4.0)]
    for g in gen:  # one token per step at batch 1: µs per token and tokens/s are two views of one median
        for side in ("torch", "rnnkit"):
            assert g[f"{side}_us_per_token"] * g[f"{side}_tokens_per_s"] == pytest.approx(1e6, rel=1e-2)
    md = (tmp_path / f"backends-cpu-{info.slug}.md").read_text()
    assert info.family_name in md and "GEMM choice" in md and "µs/token" in md
    assert md in capsys.readouterr().out
    section = render_cpu_section(tmp_path)  # the fresh file renders as a README part
    assert f"### {info.family_name} — measured {m['date']}" in section
