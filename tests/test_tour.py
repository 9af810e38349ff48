"""``rnnkit tour``: the smoke tour writes both reports with every demo's section, metric and baseline
rows, embedded and linked images and the MIDI file, and prints the summary; --only/--skip select demos;
a demo that raises is reported, the others still run, and the exit status is non-zero; Ctrl-C keeps the
report of what finished; the time budget is shared sensibly; the report blocks escape what they show."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import re
from pathlib import Path

import mido
import pytest
import torch

from rnnkit import cli
from rnnkit.tasks import get_task
from rnnkit.tour.blocks import (
    Code,
    Document,
    FileLink,
    Image,
    Section,
    Table,
    Text,
    render_html,
    render_markdown,
)
from rnnkit.tour.budget import MAX_SHARE, MIN_SHARE, OVERHEAD_S, SAFETY, Budget, preset_minutes
from rnnkit.tour.demos import DEMO_NAMES, metric_label, select

PNG = b"\x89PNG\r\n\x1a\n"
# per demo: a baseline column its metric table must show, and the headline metric's row label
EXPECTED = {
    "text": ("bigram", "bits per character ↓"),
    "stocks": ("persistence", "RMSE of the 1-day log-return (%) ↓"),
    "series": ("seasonal_1d", "MAE at the last step ↓"),
    "music": ("bigram", "perplexity per event ↓"),
    "jump": ("per-frame max", "accuracy ↑"),
    "compose": ("trigram", "next-word top-1 accuracy ↑"),
}


def run_cli(*argv: object) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def smoke_tour(tmp_path_factory):
    """One smoke tour of every demo (single-threaded: tiny tensors gain nothing from threads)."""
    out = tmp_path_factory.mktemp("tour")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            code = run_cli("tour", "--smoke", "--no-progress", "--out", out)
    finally:
        torch.set_num_threads(threads)
    return code, out, printed.getvalue()


def test_smoke_tour_writes_every_section_with_metrics_and_baselines(smoke_tour):
    code, out, _ = smoke_tour
    assert code == 0
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    report = json.loads((out / "report.json").read_text())
    recorded = {d["demo"]: d for d in report["demos"]}
    for name, (baseline, headline) in EXPECTED.items():
        assert f'<a id="{name}"></a>' in md and f'<h2 id="{name}">' in page
        section = md.split(f'<a id="{name}"></a>')[1].split("<a id=")[0]
        header = next(line for line in section.splitlines() if line.startswith("| metric | model |"))
        assert baseline in header, (name, header)
        columns = [c.strip() for c in header.strip("|").split("|")]
        row = next(line for line in section.splitlines() if line.startswith(f"| {headline} |"))
        cells = [c.strip().strip("*") for c in row.strip("|").split("|")]
        assert len(cells) == len(columns)
        # the headline row shows the numbers the run recorded: the model's in the model column and the
        # best baseline's in that baseline's column (as printed, 4 digits) — not some other number
        want = recorded[name]
        assert float(cells[1]) == pytest.approx(want["model"], rel=5e-4, abs=5e-5), (name, row, want)
        best = cells[columns.index(want["best_baseline"])]
        assert float(best) == pytest.approx(want["baseline"], rel=5e-4, abs=5e-5), (name, row, want)
        assert f"Full-budget run: `rnnkit train --task {name}`" in section
        assert f"<td>{name}</td>" in page  # its summary row
    assert "accuracy, frames shuffled (order control) ↑" in md  # the jump control
    assert "short tour runs" in md and "Smoke mode" in md and "same run, on the same split" in md
    assert [d["demo"] for d in report["demos"]] == list(DEMO_NAMES)
    assert all(d["status"] == "ok" and d["model"] is not None and d["verdict"] for d in report["demos"])


def test_smoke_tour_images_midi_sample_and_completions(smoke_tour):
    _, out, _ = smoke_tour
    md = (out / "report.md").read_text()
    page = (out / "report.html").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    names = {Path(p).name for p in images}
    assert {"curves.png", "forecast-AAPL.png", "forecast.png", "horizon.png", "sample.png"} <= names
    assert {"jump_probability.png", "jump_saliency.png"} <= names
    for rel in images:
        assert (out / rel).read_bytes().startswith(PNG), rel
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(images)
    assert all(base64.b64decode(e).startswith(PNG) for e in embedded)
    assert "<script" not in page and "http://" not in page and "https://" not in page
    midi = re.findall(r"\]\(([^)]+\.mid)\)", md)
    assert len(midi) == 1
    notes = [m for m in mido.MidiFile(out / midi[0]) if m.type == "note_on" and m.velocity > 0]
    assert notes
    data = re.search(r'href="data:audio/midi;base64,([A-Za-z0-9+/=]+)"', page)
    assert data is not None and base64.b64decode(data.group(1)) == (out / midi[0]).read_bytes()
    assert "```text\nAnd God said" in md and "<pre>And God said" in page  # a generated text sample
    assert "And the LORD spake unto …" in md and "And the LORD spake unto …" in page


def test_smoke_tour_prints_the_summary_table(smoke_tour):
    _, out, printed = smoke_tour
    table = printed.split("rnnkit tour:")[1]
    header = next(line for line in table.splitlines() if line.startswith("demo"))
    assert all(h in header for h in ("metric", "model", "best baseline", "verdict"))
    rows = [line.split()[0] for line in table.splitlines()[table.splitlines().index(header) + 2 :] if line]
    assert rows[: len(DEMO_NAMES)] == list(DEMO_NAMES)
    assert f"report: {out / 'report.md'}" in printed


def test_a_failing_demo_is_reported_and_the_others_still_run(tmp_path, monkeypatch, capsys, one_thread):
    def boom(*args, **kwargs):
        raise RuntimeError("text data unavailable (simulated)")

    monkeypatch.setattr(get_task("text"), "build_data", boom)
    code = run_cli("tour", "--smoke", "--no-progress", "--out", tmp_path, "--only", "stocks,text")
    assert code == 1
    captured = capsys.readouterr()
    assert "FAILED: RuntimeError: text data unavailable (simulated)" in captured.out
    assert "1 demo(s) failed: text" in captured.err
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(d["demo"], d["status"]) for d in report["demos"]] == [("text", "failed"), ("stocks", "ok")]
    md = (tmp_path / "report.md").read_text()
    assert "**This demo failed**" in md and "text data unavailable (simulated)" in md
    assert "| RMSE of the 1-day log-return (%) ↓ |" in md  # stocks ran after the failure
    assert '<a id="music"></a>' not in md and "**text** failed" in md


def test_ctrl_c_stops_the_tour_and_keeps_the_report(tmp_path, monkeypatch, capsys, one_thread):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(get_task("stocks"), "build_data", interrupt)
    code = run_cli("tour", "--smoke", "--no-progress", "--out", tmp_path, "--skip", "text,music,jump,compose")
    assert code == 130
    report = json.loads((tmp_path / "report.json").read_text())
    assert [(d["demo"], d["status"]) for d in report["demos"]] == [
        ("stocks", "interrupted"),
        ("series", "pending"),
    ]
    assert "interrupted" in capsys.readouterr().out


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--only", "text,nope"], "--only takes a comma-separated list of text, stocks"),
        (["--skip", "text,stocks,series,music,jump,compose"], "leave no demo to run"),
        (["--minutes", "0"], "--minutes must be > 0, got 0.0"),
    ],
)
def test_bad_options_are_errors_that_say_what_is_expected(argv, message, tmp_path, capsys):
    assert run_cli("tour", "--out", tmp_path, *argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "report.md").exists()


def test_select_keeps_the_tour_order():
    assert [d.name for d in select("compose,text")] == ["text", "compose"]
    assert [d.name for d in select(None, "jump")] == ["text", "stocks", "series", "music", "compose"]
    assert metric_label("dir_5d") == ("directional accuracy, 5 days", False)
    assert metric_label("count") is None


def test_budget_shares_the_time_in_proportion_to_the_presets():
    names = list(DEMO_NAMES)
    presets = {n: preset_minutes(n) for n in names}
    roomy = Budget(total_s=3600.0)
    assert all(roomy.training_minutes(n, names[i:]) == MAX_SHARE * presets[n] for i, n in enumerate(names))
    assert Budget(total_s=None).training_minutes("text", names) == presets["text"]
    total = (60 * sum(presets.values()) * 0.5 + sum(OVERHEAD_S.values())) / SAFETY
    tight = Budget(total_s=total)
    got = {n: tight.training_minutes(n, names) for n in names}  # all still to run, nothing spent yet
    for n in names:
        assert got[n] == pytest.approx(0.5 * presets[n], abs=2e-3)
    late = Budget(total_s=60.0)  # far over budget: every demo still gets its minimum share
    late.started -= 120.0
    assert late.training_minutes("jump", ["jump"]) == pytest.approx(MIN_SHARE * presets["jump"], abs=1e-3)
    slow = Budget(total_s=total)
    train_s = 60.0 * presets["text"]
    slow.finished("text", wall_s=train_s + 3 * OVERHEAD_S["text"], training_s=train_s)
    assert slow.scale() == pytest.approx(3.0)
    fresh = Budget(total_s=total)
    assert slow.training_minutes("stocks", names[1:]) < fresh.training_minutes("stocks", names[1:])


def test_blocks_render_markdown_and_self_contained_html(tmp_path):
    png = tmp_path / "runs" / "a.png"
    png.parent.mkdir()
    png.write_bytes(PNG + b"0" * 16)
    midi = tmp_path / "runs" / "song.mid"
    midi.write_bytes(b"MThd")
    doc = Document(
        "t <1>",
        [Text("**bold** and `code` <b>")],
        [
            Section(
                "s",
                "s",
                [
                    Table(["a|b", "n"], [["x<y", "**1.5**"]], caption="cap"),
                    Image(png, "a plot"),
                    Image(tmp_path / "missing.png", "gone"),
                    Code("if a < b:\n    pass", "code"),
                    FileLink(midi, "the song", "audio/midi"),
                ],
            )
        ],
    )
    md = render_markdown(doc, tmp_path)
    assert "| a\\|b | n |" in md and "![a plot](runs/a.png)" in md and "[the song](runs/song.mid)" in md
    assert "gone: image missing" in md
    page = render_html(doc, tmp_path)
    assert "<strong>bold</strong> and <code>code</code> &lt;b&gt;" in page and "<h1>t &lt;1&gt;</h1>" in page
    assert "<td>x&lt;y</td>" in page and '<td class="num"><strong>1.5</strong></td>' in page
    assert "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode() in page
    assert "<pre>if a &lt; b:\n    pass</pre>" in page
    assert 'download="song.mid"' in page and 'href="runs/song.mid"' in page


def test_one_thread_on_a_busy_machine(monkeypatch):
    from rnnkit.tour import run as tour_run

    monkeypatch.setattr(tour_run.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(tour_run.os, "getloadavg", lambda: (7.5, 7.0, 6.0))
    assert tour_run.choose_threads(None)[0] == 1
    assert "busy: load 7.5 on 2 cores" in tour_run.choose_threads(None)[1]
    assert tour_run.choose_threads(3)[0] == 3
    monkeypatch.setattr(tour_run.os, "getloadavg", lambda: (0.2, 0.1, 0.1))
    assert tour_run.choose_threads(None)[0] is None
