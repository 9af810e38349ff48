"""Recorded training runs (``rnnkit.tasks.records``) and the README figures rendered from them
(``rnnkit.tasks.readme_tables``): what a record keeps, what is refused, and that a table restates the
recorded report exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnkit.tasks.readme_tables import render_stocks_section
from rnnkit.tasks.records import newest, read_run_records, record_run

MACHINE = {"cpu": "AMD EPYC", "cpu_family": "AMD Zen 4", "cpu_slug": "amd-zen4", "cores": 2,
           "load_average_1min": 0.4, "date": "2026-12-06"}  # fmt: skip


def fake_stocks_run(folder: Path, rmse_lstm: float = 1.1, stop: str = "time") -> Path:
    folder.mkdir(parents=True)
    rows = []
    for t, scale in (("AAPL", 1.0), ("MSFT", 0.3)):
        for h in (1, 5):
            for name, ratio in (("lstm", rmse_lstm), ("persistence", 1.0), ("ma5", 1.4), ("ar5", 1.002)):
                rows.append(
                    {"ticker": t, "h": h, "forecaster": name, "rmse": scale * ratio * h, "ratio": ratio}
                )
    (folder / "forecast.json").write_text(json.dumps({"verdict": "the network does NOT beat persistence",
                                                      "rows": rows}))  # fmt: skip
    summary = {"task": "stocks", "steps": 3000, "minutes": 6.0, "wall_minutes": 6.8, "stop_reason": stop,
               "metrics": {"test": {"dir_1d": 0.51}},
               "baselines": {"test": {"persistence": {"dir_1d": 0.48}, "ar5": {"dir_1d": 0.52},
                                      "ma5": {"dir_1d": 0.47}, "always up": {"dir_1d": 0.515}}}}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "config.json").write_text(json.dumps({"task": "stocks", "model": {"cell": "lstm"}}))
    return folder


def test_a_recorded_run_renders_its_own_report(tmp_path):
    records = tmp_path / "records"
    path = record_run(fake_stocks_run(tmp_path / "run"), records, "default", MACHINE)
    assert path.name == "stocks-default-2026-12-06-amd-zen4.json"
    data = json.loads(path.read_text())
    assert data["summary"]["steps"] == 3000 and "forecast.json" in data["reports"] and data["run"] == "run"
    text = render_stocks_section(records)
    assert text.startswith("Measured 2026-12-06 on AMD EPYC (AMD Zen 4, 2 cores, load average 0.4 when "
                           "recorded): 3,000 steps, 6.0 min of training, 6.8 min in all")  # fmt: skip
    assert "| LSTM | 1.100 | 0.330 | 0.510 |" in text
    assert "| persistence | 1.000 | 0.300 | 0.480 |" in text
    assert "| always up |  |  | 0.515 |" in text
    assert "test RMSE is 1.100–1.100× persistence's (mean 1.100), the linear AR(5)'s 1.002–1.002×" in text


def test_the_newest_record_of_the_label_wins(tmp_path):
    records = tmp_path / "records"
    record_run(fake_stocks_run(tmp_path / "a", 1.2), records, "default", MACHINE | {"date": "2026-12-01"})
    record_run(fake_stocks_run(tmp_path / "b", 0.9), records, "default", MACHINE | {"date": "2026-12-06"})
    record_run(fake_stocks_run(tmp_path / "c", 0.5), records, "tour", MACHINE | {"date": "2026-12-07"})
    assert [r.recorded for r in read_run_records(records, "stocks")] == [
        "2026-12-07",
        "2026-12-06",
        "2026-12-01",
    ]
    assert newest(records, "stocks").recorded == "2026-12-06"
    assert "| LSTM | 0.900 |" in render_stocks_section(records)


def test_unfinished_interrupted_badly_labelled_and_missing_records_are_refused(tmp_path):
    run = fake_stocks_run(tmp_path / "run", stop="interrupted")
    with pytest.raises(ValueError, match="was interrupted: resume it"):
        record_run(run, tmp_path / "r", "default", MACHINE)
    (run / "summary.json").unlink()
    with pytest.raises(ValueError, match=r"has no summary\.json"):
        record_run(run, tmp_path / "r", "default", MACHINE)
    with pytest.raises(ValueError, match="label must be a non-empty name"):
        record_run(run, tmp_path / "r", "my label", MACHINE)
    with pytest.raises(ValueError, match=r"no recorded .stocks. run labelled .default.*record_run\.py"):
        render_stocks_section(tmp_path / "nothing")


def fake_series_run(folder: Path, series: str, network: float, best: float) -> Path:
    folder.mkdir(parents=True)
    factors = (("persistence", 1.1), ("seasonal_1d", 1.2), ("mean", 1.0), ("ar24", 0.95))
    base = {k: {"mae": best * f} for k, f in factors}
    ratio = network / best
    report = {
        "verdict": "v",
        "ratio": ratio,
        "floor_met": ratio <= 0.9,
        "network": {"mae": network},
        "baselines": base,
    }
    (folder / "forecast.json").write_text(json.dumps(report))
    summary = {"task": "series", "steps": 4000, "minutes": 8.0, "wall_minutes": 9.0, "stop_reason": "time"}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "config.json").write_text(json.dumps({"task": "series", "model": {"cell": "lstm"},
                                                    "data": {"series": series, "horizon": 24}}))  # fmt: skip
    return folder


def test_series_table_has_one_row_per_recorded_series_with_the_floor_verdict(tmp_path):
    from rnnkit.tasks.readme_tables import render_series_section

    records = tmp_path / "records"
    record_run(fake_series_run(tmp_path / "g", "glucose", 38.0, 44.0), records, "default", MACHINE)
    record_run(fake_series_run(tmp_path / "s", "sst", 0.2, 0.187), records, "sst", MACHINE)
    text = render_series_section(records)
    assert text.startswith("| test MAE 24 steps ahead | network | persistence |")
    assert "| glucose (mg/dL, 2 h) | 38.0 | 48.4 | 52.8 | 44.0 | 41.8 | **0.864 — floor met** |" in text
    assert (
        "| sea-surface temp. (°C, 12 h) | 0.200 | 0.206 | 0.224 | 0.187 | 0.178 | 1.070 — not met |" in text
    )
    with pytest.raises(ValueError, match=r"no recorded 'series' run labelled 'sst2'"):
        render_series_section(records, labels=("sst2",))


def test_music_table_restates_the_report_and_bolds_only_a_win(tmp_path):
    from rnnkit.tasks.readme_tables import render_music_section

    def run(folder: Path, ppl: float) -> Path:
        folder.mkdir(parents=True)
        keys = {"network": 0.85, "bigram": 0.63, "held-out melodies": 0.86, "random notes": 0.6}
        baselines = {"unigram": {"ppl": 44.7}, "bigram": {"ppl": 22.7}}
        report = {"verdict": "v", "ppl": ppl, "baselines": baselines, "key_share": keys}
        (folder / "music.json").write_text(json.dumps(report))
        summary = {"task": "music", "steps": 900, "minutes": 8.0, "wall_minutes": 9.5, "stop_reason": "time"}
        (folder / "summary.json").write_text(json.dumps(summary))
        (folder / "config.json").write_text(json.dumps({"task": "music", "model": {"cell": "gru"}}))
        return folder

    record_run(run(tmp_path / "a", 11.35), tmp_path / "r", "default", MACHINE)
    text = render_music_section(tmp_path / "r")
    assert "| GRU | **11.35** | 0.85 |" in text and "| bigram Markov" in text and "| 22.70 | 0.63 |" in text
    assert "| the held-out melodies themselves | — | 0.86 |" in text
    record_run(run(tmp_path / "b", 30.0), tmp_path / "r2", "default", MACHINE)
    assert "| GRU | 30.00 | 0.85 |" in render_music_section(tmp_path / "r2")


def test_jump_table_gives_the_controls_and_the_early_answer_note(tmp_path):
    from rnnkit.tasks.readme_tables import render_jump_section

    folder = tmp_path / "run"
    folder.mkdir()
    base = {
        "majority": {"accuracy": 0.5},
        "per-frame mean": {"accuracy": 0.58},
        "per-frame max": {"accuracy": 0.51},
    }
    report = {"accuracy": 0.95, "shuffled_accuracy": 0.57, "baselines": base, "verdict": "floor met",
              "early_answers": {"note": "after frame 0 it says 0.33"}}  # fmt: skip
    (folder / "jump.json").write_text(json.dumps(report))
    summary = {"task": "jump", "steps": 161, "minutes": 1.0, "wall_minutes": 1.5, "stop_reason": "time"}
    (folder / "summary.json").write_text(json.dumps(summary))
    (folder / "config.json").write_text(json.dumps({"task": "jump", "data": {"train_clips": 2000}}))
    record_run(folder, tmp_path / "r", "tour", MACHINE)
    text = render_jump_section(tmp_path / "r")
    assert text.startswith("| test clips (tour preset: 2,000 training clips, 161 steps) | accuracy |")
    assert "| per-frame CNN → LSTM | **0.950** |" in text and "| 0.580 / 0.510 |" in text
    assert text.rstrip().endswith("floor met. after frame 0 it says 0.33.")


def fake_compose_run(folder: Path, seed: int, model: tuple, bigram: tuple, trigram: tuple, **config) -> Path:
    folder.mkdir(parents=True)
    keys = ("top1", "top3", "exact3")
    curve = [{"coverage": c, "threshold": 0.9 - c, "exact3": model[2] + 0.3 * (1 - c), "shown": int(c * 1e3)}
             for c in (0.01, 0.1, 1.0)]  # fmt: skip
    report = {"metrics": dict(zip(keys, model, strict=True)), "verdict": "v",
              "baselines": {"bigram": dict(zip(keys, bigram, strict=True)),
                            "trigram": dict(zip(keys, trigram, strict=True))},
              "samples": [f"And the LORD spake unto …\n  1. …unto Moses, saying ⏎ (seed {seed})"],
              "confidence_curve": curve}  # fmt: skip
    (folder / "compose.json").write_text(json.dumps(report))
    summary = {"task": "compose", "steps": 2400 + seed, "minutes": 9.0 + seed / 10, "wall_minutes": 12.0,
               "stop_reason": "max_minutes"}  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    run = {"seed": seed, "name": folder.name, "eval_every": 500}
    (folder / "config.json").write_text(json.dumps({"task": "compose", "run": run, "model": config}))
    return folder


def test_compose_table_gives_every_seed_the_mean_and_the_goal(tmp_path):
    from rnnkit.tasks.readme_tables import compose_confidence, render_compose_section

    r = tmp_path / "r"
    tri = (0.28, 0.42, 0.014)
    record_run(fake_compose_run(tmp_path / "a", 0, (0.32, 0.46, 0.034), (0.25, 0.37, 0.006), tri), r,
               "default", MACHINE)  # fmt: skip
    record_run(fake_compose_run(tmp_path / "b", 1, (0.30, 0.40, 0.030), (0.24, 0.36, 0.004), tri), r,
               "default", MACHINE)  # fmt: skip
    text = render_compose_section(r)
    assert text.startswith("Default settings — test pairs, top-1 / top-3 / exact 3:\n")
    row = "| 0 | 2,400 | **0.320** / **0.460** / **0.034** | 0.280 / 0.420 / 0.014 | 0.250 / 0.370 / 0.006 |"
    assert row + " 1.143× |" in text
    assert "| 1 | 2,401 | **0.300** / 0.400 / **0.030** |" in text
    assert "| mean | 2,400 | **0.310** / **0.430** / **0.032** | 0.280 / 0.420 / 0.014 |" in text
    assert "1.107× |" in text and "9.0–9.1 min of training each" in text
    assert (
        "Goal: mean test top-1 ≥ 1.10× the trigram's" in text
        and "**MET** (mean top-1 0.3100 = 1.107×" in text
    )
    assert "`--preset tour`" not in text  # no tour runs recorded: no table
    assert "(seed 0)\n```" in text and "seed 1)" not in text  # the first seed's completions
    curve = compose_confidence(r)
    assert curve["seeds"] == [0, 1] and [p["coverage"] for p in curve["points"]] == [0.01, 0.1, 1.0]
    assert curve["points"][0]["exact3"] == pytest.approx((0.034 + 0.030) / 2 + 0.3 * 0.99)
    assert "| 1% | 89% | 32.9% |" in text and "trigram 1.4% exactly right" in text

    # the tour preset: above the bigram on all three in every seed, or NOT MET naming how many seeds
    record_run(fake_compose_run(tmp_path / "t0", 0, (0.27, 0.40, 0.013), (0.25, 0.37, 0.006), tri), r,
               "tour", MACHINE)  # fmt: skip
    record_run(fake_compose_run(tmp_path / "t1", 1, (0.24, 0.37, 0.007), (0.25, 0.38, 0.006), tri), r,
               "tour", MACHINE)  # fmt: skip
    text = render_compose_section(r)
    assert "`--preset tour` — test pairs" in text and "| 1 | 2,401 | 0.240 / 0.370 / 0.007 |" in text
    assert "**NOT MET** (1 of 2 seeds above the bigram on all three)" in text

    # a record of another configuration starts a new set; the newest record of a seed replaces an older one
    bi = (0.25, 0.37, 0.006)
    record_run(fake_compose_run(tmp_path / "c", 0, (0.2, 0.3, 0.01), bi, tri, hidden_size=64), r, "default",
               MACHINE)  # fmt: skip
    text = render_compose_section(r)
    assert "| 0 | 2,400 | 0.200 / 0.300 / 0.010 |" in text and "| 1 | 2,401 | **0.300**" not in text
    assert "| mean |" not in text.split("`--preset tour`")[0]
    record_run(fake_compose_run(tmp_path / "d", 0, (0.33, 0.47, 0.04), bi, tri, hidden_size=64), r, "default",
               MACHINE)  # fmt: skip
    assert "| 0 | 2,400 | **0.330** / **0.470** / **0.040** |" in render_compose_section(r)


def test_the_last_record_of_a_day_wins_a_tie(tmp_path):
    """Records of one date, machine and label: the one recorded last is the newest (its file is stem-N)."""
    r = tmp_path / "r"
    paths = [record_run(fake_stocks_run(tmp_path / f"{k}", 1.0 + k / 10), r, "default", MACHINE)
             for k in range(3)]  # fmt: skip
    assert [p.name for p in paths] == [
        f"stocks-default-2026-12-06-amd-zen4{s}.json" for s in ("", "-2", "-3")
    ]
    assert newest(r, "stocks").path == paths[2]
    for p in paths:  # records written before the time of recording was kept: the copy number decides
        data = json.loads(p.read_text())
        del data["recorded_at"]
        p.write_text(json.dumps(data))
    assert [x.path for x in read_run_records(r, "stocks")] == paths[::-1]


def test_text_table_has_the_baselines_each_recorded_configuration_and_the_sample(tmp_path):
    from rnnkit.tasks.readme_tables import render_text_section

    def run(folder: Path, steps: int, bpc: float, val_chars: int, bigram: float) -> Path:
        folder.mkdir()
        summary = {"task": "text", "steps": steps, "minutes": steps / 300, "wall_minutes": steps / 280,
                   "stop_reason": "time", "metrics": {"val": {"bpc": bpc}},
                   "baselines": {"val": {"unigram": {"bpc": 4.33}, "bigram": {"bpc": bigram}}},
                   "data": {"val_chars": val_chars}}  # fmt: skip
        (folder / "summary.json").write_text(json.dumps(summary))
        (folder / "config.json").write_text(json.dumps({"task": "text", "model": {"hidden_size": 512}}))
        (folder / "sample.txt").write_text("And God said, Let there be light\n")
        return folder

    records = tmp_path / "r"
    record_run(run(tmp_path / "d", 4067, 1.40, 487126, 3.24), records, "default", MACHINE)
    text = render_text_section(records)
    assert text.startswith("| validation bits per character (487,126 chars) | bpc |")
    assert "| **LSTM 1 × 512, default settings (4,067 steps, 13.6 min of training)** | **1.40** |" in text
    assert "tour" not in text  # not recorded: no row
    record_run(run(tmp_path / "t", 1941, 1.60, 100000, 3.26), records, "tour", MACHINE)
    text = render_text_section(records)
    assert ("| LSTM 1 × 512, `--preset tour` (1,941 steps, 6.5 min of training) — on a 100,000-char slice, "
            "where the bigram scores 3.26 | 1.60 |") in text  # fmt: skip
    assert text.rstrip().endswith("```\nAnd God said, Let there be light\n```")
