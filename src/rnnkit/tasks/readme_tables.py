"""The README's figures of the trained demos, rendered from recorded runs (``tasks/records.py``): each
section names the run it comes from (date, machine, steps, minutes) and restates the run's own report
(``forecast.json`` …), so that no figure is typed by hand."""

from __future__ import annotations

from pathlib import Path
from statistics import mean
from typing import Any

from .compose_report import chance
from .records import NoRecordError, RunRecord, newest, seed_set

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


_METRICS = ("top1", "top3", "exact3")

#: the goal a recorded compose configuration is held to, in words (checked by :func:`compose_goal`)
COMPOSE_GOALS = {
    "default": "mean test top-1 ≥ 1.10× the trigram's, mean top-3 and exact 3 ≥ the trigram's",
    "tour": "above the bigram on all three metrics in every seed",
}


def _compose_report(rec: RunRecord) -> dict[str, Any]:
    report = rec.reports.get("compose.json")
    if report is None:
        raise ValueError(f"{str(rec.path)!r} holds no compose.json report")
    return report


def _triple(m: dict[str, float], bold: dict[str, bool] | None = None) -> str:
    return " / ".join(f"**{m[k]:.3f}**" if bold and bold[k] else f"{m[k]:.3f}" for k in _METRICS)


def _span(values: list[float], fmt: str) -> str:
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    return lo if lo == hi else f"{lo}–{hi}"


def _runs(n: int) -> str:
    return "the default run" if n == 1 else f"mean of the {n} default seeds"


def _means(reports: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """The model's and each n-gram model's metrics averaged over the seeds' reports."""
    rows = {"model": [r["metrics"] for r in reports]}
    rows |= {name: [r["baselines"][name] for r in reports] for name in ("trigram", "bigram")}
    return {name: {k: mean(m[k] for m in ms) for k in _METRICS} for name, ms in rows.items()}


def compose_goal(label: str, reports: list[dict[str, Any]]) -> tuple[bool, str]:
    """Whether a seed set of compose reports meets its label's goal (:data:`COMPOSE_GOALS`), and the
    figures that say so."""
    if label == "tour":
        wins = [all(r["metrics"][k] > r["baselines"]["bigram"][k] for k in _METRICS) for r in reports]
        return all(wins), f"{sum(wins)} of {len(wins)} seeds above the bigram on all three"
    avg = _means(reports)
    model, tri = avg["model"], avg["trigram"]
    ratio = model["top1"] / tri["top1"]
    met = ratio >= 1.10 and model["top3"] >= tri["top3"] and model["exact3"] >= tri["exact3"]
    return met, (
        f"mean top-1 {model['top1']:.4f} = {ratio:.3f}× the trigram's {tri['top1']:.4f}; top-3 "
        f"{model['top3']:.4f} vs {tri['top3']:.4f}; exact 3 {model['exact3']:.4f} vs {tri['exact3']:.4f}"
    )


def _compose_table(label: str, recs: list[RunRecord]) -> list[str]:
    reports = [_compose_report(r) for r in recs]
    lines = [
        "| seed | steps | Seq2Seq + attention | trigram | bigram | top-1 ÷ trigram |",
        "|---:|---:|---|---|---|---:|",
    ]
    for rec, rep in zip(recs, reports, strict=True):
        m, tri, bi = rep["metrics"], rep["baselines"]["trigram"], rep["baselines"]["bigram"]
        best = {k: m[k] > max(tri[k], bi[k]) for k in _METRICS}
        lines.append(
            f"| {rec.seed} | {rec.summary['steps']:,} | {_triple(m, best)} | {_triple(tri)} | {_triple(bi)} "
            f"| {m['top1'] / tri['top1']:.3f}× |"
        )
    if len(recs) > 1:
        avg = _means(reports)
        best = {k: avg["model"][k] > max(avg["trigram"][k], avg["bigram"][k]) for k in _METRICS}
        lines.append(
            f"| mean | {round(mean(r.summary['steps'] for r in recs)):,} | {_triple(avg['model'], best)} "
            f"| {_triple(avg['trigram'])} | {_triple(avg['bigram'])} "
            f"| {avg['model']['top1'] / avg['trigram']['top1']:.3f}× |"
        )
    met, figures = compose_goal(label, reports)
    command = "rnnkit train --task compose" + ("" if label == "default" else f" --preset {label}")
    minutes = [r.summary["minutes"] for r in recs]
    loads = [r.machine.get("load_average_1min") for r in recs]
    loads = [x for x in loads if isinstance(x, int | float)]
    head = recs[0]
    dates = sorted({r.recorded for r in recs})
    when = dates[0] if len(dates) == 1 else f"{dates[0]} to {dates[-1]}"
    load_text = f", load average {_span(loads, '.1f')} when recorded" if loads else ""
    lines += [
        "",
        f"`{command} --seed S` for S = {', '.join(str(r.seed) for r in recs)}, measured "
        f"{when} on {head.machine.get('cpu', 'unknown CPU')} "
        f"({head.family}, {head.machine.get('cores', '?')} cores{load_text}): "
        f"{_span(minutes, '.1f')} min of training{' each' if len(recs) > 1 else ''}. Goal: "
        f"{COMPOSE_GOALS[label]} — "
        f"**{'MET' if met else 'NOT MET'}** ({figures}).",
    ]
    return lines


def compose_confidence(folder: Path, label: str = "default") -> dict[str, Any]:
    """The confidence curve of a compose seed set, averaged over its seeds at each coverage, with the
    n-gram models' exact 3 (always suggesting) averaged alike: what the README's table and plot show."""
    return _confidence(seed_set(folder, "compose", label))


def _confidence(recs: list[RunRecord]) -> dict[str, Any]:
    reports = [_compose_report(r) for r in recs]
    curves = [r.get("confidence_curve") or [] for r in reports]
    coverages = sorted(set.intersection(*(set(p["coverage"] for p in c) for c in curves)))
    if not coverages:
        raise ValueError(f"the compose records {[r.path.name for r in recs]} hold no common confidence curve")
    points = [
        {
            key: mean(next(p[key] for p in c if p["coverage"] == cov) for c in curves)
            for key in ("coverage", "threshold", "exact3", "shown")
        }
        for cov in coverages
    ]
    baselines = {
        name: mean(r["baselines"][name]["exact3"] for r in reports) for name in ("bigram", "trigram")
    }
    return {"seeds": [r.seed for r in recs], "points": points, "baselines": baselines}


def render_compose_section(folder: Path, labels: tuple[str, ...] = ("default", "tour")) -> str:
    """Per seed and on average: test next-token top-1 / top-3 / exact 3 of the network and the n-gram
    baselines (a network figure in bold where it beats both), for every recorded configuration (the
    default first, then the presets), each against its goal; the confidence curve of the default runs;
    the completions of the first prompt from the default's first seed."""
    default = seed_set(folder, "compose", labels[0])
    lines: list[str] = []
    for label in labels:
        try:
            recs = default if label == labels[0] else seed_set(folder, "compose", label)
        except NoRecordError:
            continue  # a configuration not recorded (yet)
        what = "Default settings" if label == "default" else f"`--preset {label}`"
        lines += ["", f"{what} — test pairs, top-1 / top-3 / exact 3:", "", *_compose_table(label, recs)]
    lines = lines[1:]  # no blank line before the first table's title
    curve = _confidence(default)
    lines += [
        "",
        "Suggest only when confident (Gmail's design choice): a suggestion is shown only when the model's "
        "probability of its greedy 3-word continuation reaches a threshold; fewer prefixes get one and more "
        f"of those are exactly right (test, {_runs(len(curve['seeds']))}; the n-gram "
        f"models always suggest: bigram {100 * curve['baselines']['bigram']:.1f}%, trigram "
        f"{100 * curve['baselines']['trigram']:.1f}% exactly right):",
        "",
        "| prefixes shown a suggestion | confidence at least | exactly right (3 words) |",
        "|---:|---:|---:|",
        *(
            f"| {100 * p['coverage']:g}% | {chance(p['threshold'])} | {100 * p['exact3']:.1f}% |"
            for p in curve["points"]
        ),
        "",
        f"![coverage against exact-3 accuracy of the suggestions shown]({COMPOSE_CONFIDENCE_FIGURE})",
    ]
    report = _compose_report(default[0])
    if report.get("samples"):
        lines += [
            "",
            f"Completions from seed {default[0].seed}'s run:",
            "",
            "```text",
            report["samples"][0],
            "```",
        ]
    return "\n".join(lines) + "\n"


#: the README's plot of :func:`compose_confidence` (drawn by ``benchmarks/update_readme.py``)
COMPOSE_CONFIDENCE_FIGURE = "docs/images/compose-confidence.png"


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
