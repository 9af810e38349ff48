"""The README cannot drift from the results: every generated section (``rnnkit.readme.SECTIONS``) equals
what its renderer makes of the committed result files, every generated-looking block has a renderer;
and the recorded tours (``rnnkit.tour.records``) are written, refused and rendered as documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnkit import readme as readme_mod
from rnnkit.tour.records import read_records, record_tour, render_tour_section

ROOT = Path(__file__).resolve().parent.parent
README, RESULTS = ROOT / "README.md", ROOT / "benchmarks" / "results"


def test_readme_sections_match_the_result_files():
    text = README.read_text(encoding="utf-8")
    stale = readme_mod.stale_sections(text, RESULTS)
    assert stale == [], f"README sections out of date: {stale}; run `python benchmarks/update_readme.py`"
    assert readme_mod.regenerate(text, RESULTS) == text  # and every block has its renderer, and back


def test_readme_figures_show_the_result_files():
    stale = readme_mod.stale_figures(ROOT, RESULTS)
    assert stale == [], f"README figures out of date: {stale}; run `python benchmarks/update_readme.py`"
    text = README.read_text(encoding="utf-8")
    assert all(f"]({name})" in text for name in readme_mod.FIGURES), "a generated figure the README lacks"


def test_a_figure_drawn_from_other_data_is_stale(tmp_path, monkeypatch):
    calls = []

    def draw(data, path, metadata):
        calls.append(data)
        from rnnkit.plots._png import new_figure, save_png

        save_png(new_figure(1, 1), path, metadata=metadata)

    data = {"x": 1}
    monkeypatch.setattr(readme_mod, "FIGURES", {"img/a.png": (lambda results: dict(data), draw)})
    assert readme_mod.stale_figures(tmp_path, RESULTS) == ["img/a.png"]  # missing
    assert readme_mod.draw_figures(tmp_path, RESULTS) == ["img/a.png"] and calls == [{"x": 1}]
    assert (
        readme_mod.stale_figures(tmp_path, RESULTS) == [] and readme_mod.draw_figures(tmp_path, RESULTS) == []
    )
    data["x"] = 2
    assert readme_mod.stale_figures(tmp_path, RESULTS) == ["img/a.png"]


def test_block_helpers():
    text = "a\n<!-- x -->\nold\n<!-- /x -->\nb\n<!-- y:z -->\n<!-- /y:z -->\n"
    assert readme_mod.blocks(text) == {"x": "old\n", "y:z": ""}
    assert readme_mod.with_block(text, "x", "new") == text.replace("old\n", "new\n")
    assert readme_mod.with_block(text, "y:z", "v\n").endswith("<!-- y:z -->\nv\n<!-- /y:z -->\n")
    with pytest.raises(ValueError, match="no block between <!-- w --> and <!-- /w -->"):
        readme_mod.block(text, "w")
    with pytest.raises(ValueError, match="two <!-- x --> blocks"):
        readme_mod.blocks(text + "<!-- x -->\n<!-- /x -->\n")
    with pytest.raises(ValueError, match="blocks without a renderer: x, y:z"):
        readme_mod.regenerate(text, RESULTS)
    with pytest.raises(ValueError, match="no generated README section named 'nope'"):
        readme_mod.render("nope", RESULTS)


def _tour_report(
    folder: Path, date: str, seconds: float, text_bpc: float, compose_ok: bool, smoke=False
) -> Path:
    demos = [
        {"demo": "text", "status": "ok", "seconds": 100.0, "metric": "bits per character (val) ↓",
         "model": text_bpc, "best_baseline": "bigram", "baseline": 3.26, "verdict": "beats bigram",
         "ok": True, "statement": None},
        {"demo": "compose", "status": "ok", "seconds": 200.0, "metric": "next-word top-1 accuracy (test) ↑",
         "model": 0.27, "best_baseline": "trigram", "baseline": 0.28, "verdict": "v", "ok": compose_ok,
         "statement": "not above the trigram"},
    ]  # fmt: skip
    facts = {"date": date, "machine": "m", "software": "torch x", "backend": "cpu", "budget_minutes": 10.0,
             "smoke": smoke, "load_start": "0.5", "seconds": seconds, "load_end": "1.5"}  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps({"facts": facts, "demos": demos}))
    return folder


MACHINE = {
    "cpu": "AMD EPYC",
    "cpu_family": "AMD Zen 4",
    "cpu_slug": "amd-zen4",
    "cores": 2,
    "torch_threads": 2,
}


def test_tours_are_recorded_and_rendered_newest_first_with_ranges(tmp_path):
    records = tmp_path / "tours"
    first = record_tour(_tour_report(tmp_path / "a", "2026-12-02 10:00", 480.0, 1.6, False), records, MACHINE)
    second = record_tour(_tour_report(tmp_path / "b", "2026-12-06 09:00", 420.0, 1.5, True), records, MACHINE)
    assert (first.name, second.name) == ("2026-12-02-amd-zen4.json", "2026-12-06-amd-zen4.json")
    again = record_tour(tmp_path / "b", records, MACHINE)  # the same day twice: a second file, nothing lost
    assert again.name == "2026-12-06-amd-zen4-2.json"
    again.unlink()
    assert [r.date for r in read_records(records)] == ["2026-12-06 09:00", "2026-12-02 10:00"]
    text = render_tour_section(records)
    assert text.startswith("The latest recorded tour ran 2026-12-06 09:00 on AMD EPYC (AMD Zen 4, 2 cores")
    assert "**7.0 minutes** wall-clock of a 10-minute budget" in text
    assert "Every model in that tour beat its best baseline" in text
    where = "(2026-12-06 on AMD Zen 4; 2026-12-02 on AMD Zen 4)"
    assert f"Across the 2 recorded tours {where}: 7.0–8.0 minutes" in text
    assert "| text | bits per character (val) ↓ | 1.5–1.6 | 3.26 (bigram) | 2 of 2 | 1.7 min |" in text
    assert (
        "| compose | next-word top-1 accuracy (test) ↑ | 0.2700 | 0.2800 (trigram) | 1 of 2 | 3.3 min |"
        in text
    )


def test_a_tour_that_missed_says_so(tmp_path):
    records = tmp_path / "tours"
    record_tour(_tour_report(tmp_path / "a", "2026-12-02 10:00", 480.0, 1.6, False), records, MACHINE)
    text = render_tour_section(records)
    assert "- **compose**: not above the trigram." in text
    assert "One tour is recorded (2026-12-02 on AMD Zen 4)" in text


def test_smoke_unfinished_and_foreign_files_are_refused(tmp_path):
    with pytest.raises(ValueError, match="--smoke tour"):
        record_tour(
            _tour_report(tmp_path / "s", "2026-12-02", 60.0, 3.0, True, smoke=True), tmp_path / "t", MACHINE
        )
    report = _tour_report(tmp_path / "p", "2026-12-02", 60.0, 1.6, True)
    payload = json.loads((report / "report.json").read_text())
    payload["demos"][1]["status"] = "pending"
    (report / "report.json").write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="did not finish \\(compose not run\\)"):
        record_tour(report, tmp_path / "t", MACHINE)
    with pytest.raises(FileNotFoundError, match="run `rnnkit tour` first"):
        record_tour(tmp_path / "nowhere", tmp_path / "t", MACHINE)
    (tmp_path / "t").mkdir(exist_ok=True)
    (tmp_path / "t" / "x.json").write_text("{}")
    with pytest.raises(ValueError, match=r"x\.json' is not a tour record"):
        read_records(tmp_path / "t")


def test_gating_table_bolds_the_best_of_each_row_and_needs_every_experiment(tmp_path):
    from rnnkit.bench.research import GATING_CELLS, GATING_ROWS, render_gating_section

    rows = []
    for exp, (_, _, key, lower) in GATING_ROWS.items():
        for i, cell in enumerate(GATING_CELLS):
            value = 0.5 + 0.1 * i  # the first cell lowest, the last highest
            day = "2026-12-0" + str(1 + lower)
            rows.append({"experiment": exp, "cell": cell, "steps": 100, "measured": day,
                         f"{key}_mean": value, f"{key}_std": 0.01})  # fmt: skip
    (tmp_path / "gating.json").write_text(json.dumps({"rows": rows}))
    lines = render_gating_section(tmp_path).splitlines()
    adding = next(line for line in lines if line.startswith("| adding"))
    digits = next(line for line in lines if line.startswith("| digits"))
    assert "| **0.500 ± 0.010** |" in adding and adding.count("**") == 2  # lower is better there
    assert digits.endswith("| **0.900 ± 0.010** |") and digits.count("**") == 2  # higher is better
    (tmp_path / "gating.json").write_text(
        json.dumps({"rows": [r for r in rows if r["experiment"] != "copy100"]})
    )
    with pytest.raises(ValueError, match="no rows for experiment 'copy100'"):
        render_gating_section(tmp_path)
