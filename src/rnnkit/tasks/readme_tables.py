"""The README's figures of the trained demos, rendered from recorded runs (``tasks/records.py``): each
section names the run it comes from (date, machine, steps, minutes) and restates the run's own report
(``forecast.json`` …), so that no figure is typed by hand."""

from __future__ import annotations

from pathlib import Path
from statistics import mean

from .records import NoRecordError, RunRecord, newest

_FORECASTERS = {"persistence": "persistence", "ar5": "AR(5) on log-returns", "ma5": "moving average (5 days)"}


def _model_name(rec: RunRecord) -> str:
    cell = str(rec.config.get("model", {}).get("cell", "lstm"))
    return {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN", "urlstm": "UR-LSTM"}.get(cell, cell)


def render_stocks_section(folder: Path) -> str:
    """Test RMSE 1 day ahead per ticker and the pooled direction, for the network and every baseline."""
    rec = newest(folder, "stocks")
    report = rec.reports.get("forecast.json")
    if report is None:
        raise ValueError(f"{str(rec.path)!r} holds no forecast.json report")
    rows = report["rows"]
    tickers = list(dict.fromkeys(r["ticker"] for r in rows))
    model = next(r["forecaster"] for r in rows if r["forecaster"] not in _FORECASTERS)
    rmse = {(r["ticker"], r["forecaster"]): r["rmse"] for r in rows if r["h"] == 1}
    test = rec.summary["metrics"]["test"]
    base = rec.summary["baselines"]["test"]
    lines = [
        f"Measured {rec.describe()} (`rnnkit train --task stocks`, one seed): {report['verdict']}.",
        "",
        "| test, 1 day ahead (RMSE $) | " + " | ".join(tickers) + " | direction (pooled) |",
        "|---|" + "---|" * (len(tickers) + 1),
    ]
    for name, label in [(model, _model_name(rec)), *_FORECASTERS.items()]:
        direction = test["dir_1d"] if name == model else base.get(name, {}).get("dir_1d")
        cells = [f"{rmse[(t, name)]:.3f}" for t in tickers]
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {'' if direction is None else f'{direction:.3f}'} |"
        )
    if "always up" in base:
        lines.append("| always up | " + " | " * len(tickers) + f"{base['always up']['dir_1d']:.3f} |")
    ratios = {n: [r["ratio"] for r in rows if r["forecaster"] == n] for n in (model, "ar5")}
    lines += [
        "",
        f"Over the tickers and both horizons the network's test RMSE is {min(ratios[model]):.3f}–"
        f"{max(ratios[model]):.3f}× persistence's (mean {mean(ratios[model]):.3f}), the linear AR(5)'s "
        f"{min(ratios['ar5']):.3f}–{max(ratios['ar5']):.3f}×.",
    ]
    return "\n".join(lines) + "\n"


#: series labels of the README's series table -> how the row names the series
_SERIES = {"glucose": "glucose (mg/dL, 2 h)", "sst": "sea-surface temp. (°C, 12 h)"}


def render_series_section(folder: Path, labels: tuple[str, ...] = ("default", "sst")) -> str:
    """Test MAE at the last forecast step (the horizon) for the network, every naive baseline and the
    linear AR reference, one row per recorded series (labels), with the floor's verdict (MAE ≤ 0.9× the
    best naive baseline)."""
    recs = [newest(folder, "series", label) for label in labels]
    horizons = sorted({int(r.config.get("data", {}).get("horizon", 0)) for r in recs})
    ahead = " / ".join(str(h) for h in horizons)
    lines = [
        f"| test MAE {ahead} steps ahead | network | persistence | seasonal 1 day | training mean "
        "| linear AR | network ÷ best naive |",
        "|---|---|---|---|---|---|---|",
    ]
    runs = []
    for rec in recs:
        report = rec.reports.get("forecast.json")
        if report is None:
            raise ValueError(f"{str(rec.path)!r} holds no forecast.json report")
        name = str(rec.config.get("data", {}).get("series", rec.label))
        base = report["baselines"]
        cells = [report["network"]["mae"]] + [
            base[k]["mae"] for k in ("persistence", "seasonal_1d", "mean", "ar24")
        ]
        digits = 3 if max(cells) < 10 else 1
        verdict = (
            f"**{report['ratio']:.3f} — floor met**"
            if report["floor_met"]
            else f"{report['ratio']:.3f} — not met"
        )
        lines.append(
            f"| {_SERIES.get(name, name)} | "
            + " | ".join(f"{v:.{digits}f}" for v in cells)
            + f" | {verdict} |"
        )
        runs.append(f"{name}: {rec.describe()}")
    lines += [
        "",
        f"The network is an {_model_name(recs[0])} (`rnnkit train --task series`, one seed per series); "
        f"measured {'; '.join(runs)}.",
    ]
    return "\n".join(lines) + "\n"


def render_music_section(folder: Path) -> str:
    """Held-out perplexity per event and the key share of generated notes, for the network, the
    baselines and the references (the held-out melodies themselves, random notes)."""
    rec = newest(folder, "music")
    report = rec.reports.get("music.json")
    if report is None:
        raise ValueError(f"{str(rec.path)!r} holds no music.json report")
    base, keys = report["baselines"], report["key_share"]
    best = report["ppl"] < min(b["ppl"] for b in base.values())
    ppl = f"**{report['ppl']:.2f}**" if best else f"{report['ppl']:.2f}"
    lines = [
        "| held-out test melodies | per-event perplexity | notes in the primer's key |",
        "|---|---|---|",
        f"| {_model_name(rec)} | {ppl} | {keys['network']:.2f} |",
        f"| bigram Markov (add-α, α and data chosen on validation) | {base['bigram']['ppl']:.2f} | "
        f"{keys['bigram']:.2f} |",
        f"| unigram | {base['unigram']['ppl']:.2f} | — |",
        f"| the held-out melodies themselves | — | {keys['held-out melodies']:.2f} |",
        f"| random notes | — | {keys['random notes']:.2f} |",
        "",
        f"Measured {rec.describe()} (`rnnkit train --task music`, one seed): {report['verdict']}.",
    ]
    return "\n".join(lines) + "\n"


def render_jump_section(folder: Path, label: str = "tour") -> str:
    """Test accuracy of the clip model beside its controls (frames shuffled, the per-frame CNN alone)
    and the majority class, from a recorded jump run (the tour preset by default)."""
    rec = newest(folder, "jump", label)
    report = rec.reports.get("jump.json")
    if report is None:
        raise ValueError(f"{str(rec.path)!r} holds no jump.json report")
    base, data = report["baselines"], rec.config.get("data", {})
    rivals = [b["accuracy"] for b in base.values()] + [report["shuffled_accuracy"]]
    acc = f"**{report['accuracy']:.3f}**" if report["accuracy"] > max(rivals) else f"{report['accuracy']:.3f}"
    preset = "tour preset" if label == "tour" else f"{label} settings"
    lines = [
        f"| test clips ({preset}: {data.get('train_clips', 0):,} training clips, {rec.summary['steps']:,} "
        "steps) | accuracy |",
        "|---|---|",
        f"| per-frame CNN → {_model_name(rec)} | {acc} |",
        f"| the same model, frames of each clip shuffled | {report['shuffled_accuracy']:.3f} |",
        f"| per-frame CNN alone, mean / max pooling | {base['per-frame mean']['accuracy']:.3f} / "
        f"{base['per-frame max']['accuracy']:.3f} |",
        f"| majority class | {base['majority']['accuracy']:.3f} |",
        "",
        f"Measured {rec.describe()} (`rnnkit train --task jump"
        f"{' --preset tour' if label == 'tour' else ''}`, one seed): {report['verdict']}.",
    ]
    note = report.get("early_answers", {}).get("note")
    if note:
        lines[-1] += f" {note}."
    return "\n".join(lines) + "\n"


def render_compose_section(folder: Path, label: str = "default") -> str:
    """Next-token top-1 / top-3 and 3-token exact match on the test split for the network and the n-gram
    baselines (the best of each column in bold), and the completions of the first prompt."""
    rec = newest(folder, "compose", label)
    report = rec.reports.get("compose.json")
    if report is None:
        raise ValueError(f"{str(rec.path)!r} holds no compose.json report")
    rows = {f"Seq2Seq + attention ({rec.summary['steps']:,} steps)": report["metrics"]}
    rows |= {f"{name} (same run, same pairs)": m for name, m in report["baselines"].items()}
    keys = ("top1", "top3", "exact3")
    best = {k: max(m[k] for m in rows.values()) for k in keys}
    lines = ["| test pairs | top-1 | top-3 | exact 3 |", "|---|---|---|---|"]
    for name, m in rows.items():
        cells = [f"**{m[k]:.3f}**" if m[k] == best[k] else f"{m[k]:.3f}" for k in keys]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    command = "rnnkit train --task compose" + ("" if label == "default" else f" --preset {label}")
    lines += ["", f"Measured {rec.describe()} (`{command}`, one seed): {report['verdict']}."]
    if report.get("samples"):
        lines += ["", "```text", report["samples"][0], "```"]
    return "\n".join(lines) + "\n"


def render_text_section(folder: Path, labels: tuple[str, ...] = ("default", "tour")) -> str:
    """Validation bits per character of the char-rnn beside the unigram and bigram fitted in the same run,
    one model row per recorded configuration (labels that have a record), and the default run's sample."""
    default = newest(folder, "text", labels[0])
    data = default.summary.get("data", {})
    base = default.summary["baselines"]["val"]
    lines = [
        f"| validation bits per character ({data.get('val_chars', 0):,} chars) | bpc |",
        "|---|---|",
        f"| unigram, add-1 (same run) | {base['unigram']['bpc']:.2f} |",
        f"| bigram, add-1 (same run) | {base['bigram']['bpc']:.2f} |",
    ]
    notes = []
    for label in labels:
        try:
            rec = newest(folder, "text", label)
        except NoRecordError:
            continue  # a configuration not recorded (yet)
        s, model = rec.summary, rec.config.get("model", {})
        size = f"{model.get('num_layers', 1)} × {model.get('hidden_size', '?')}"
        what = "default settings" if label == "default" else f"`--preset {label}`"
        row = f"{_model_name(rec)} {size}, {what} ({s['steps']:,} steps, {s['minutes']:.1f} min of training)"
        bpc = s["metrics"]["val"]["bpc"]
        rec_data = s.get("data", {})
        if rec.path != default.path and rec_data.get("val_chars") != data.get("val_chars"):
            rival = s["baselines"]["val"]["bigram"]["bpc"]
            row += f" — on a {rec_data.get('val_chars', 0):,}-char slice, where the bigram scores {rival:.2f}"
        lines.append(
            f"| **{row}** | **{bpc:.2f}** |" if rec.path == default.path else f"| {row} | {bpc:.2f} |"
        )
        notes.append(f"{what[0].upper()}{what[1:]}: measured {rec.describe()}.")
    lines += ["", " ".join(notes)]
    if default.sample:
        lines += [
            "",
            "A sample from the default run (`sample.txt`):",
            "",
            "```",
            default.sample.strip(),
            "```",
        ]
    return "\n".join(lines) + "\n"
