"""From a finished task run to its part of the tour report: the metric table (the model beside every
baseline of the same split, the best value in bold), the headline row of the summary table, an honest
verdict, and the task's own outputs (plots, a text sample, the MIDI file, completions …).

Verdicts follow the tasks' own criteria (``forecast.json``, ``music.json``, ``jump.json``,
``compose.json`` and the artefacts ``after_training`` returns); the tour only restates them. Every figure
gets a caption that says how to read it: its axes, its lines and what to look for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..data.synth import SAMPLE_RATE, midi_to_wav
from .blocks import Audio, Block, Bullets, Code, FileLink, Image, Table, Text
from .demos import Demo, metric_label

TEXT_FLOOR = 2.0  # bits per character of the full 15-minute run

# -- figure captions (what each task's plot shows and how to read it) --------------------------------------
CURVES_CAPTION = (
    "Against the optimiser step: the training loss (blue, smoothed) and the validation loss (orange dots) "
    "top left; the validation metric top right, with one dashed line per baseline at its validation "
    "score: the model has learned something once its orange line passes them. Bottom: the gradient norm "
    "before clipping (log scale; dashed: the clipping threshold) and the learning-rate schedule."
)
STOCKS_CAPTION = (
    "Top: the actual adjusted close (black) over the last test days and each forecaster's price for that "
    "day made {h} day(s) before: the network solid blue, the baselines dashed (persistence, the price "
    "of the day before, in grey), each with its MAE in the legend; bottom: every forecast's absolute "
    "error in dollars. Prices are close to a random walk, so every forecast hugs the day before; look for "
    "the blue error staying below the grey one."
)
SERIES_FORECAST_CAPTION = (
    "Top: the actual value at the last step of the horizon (black) over the last test origins and each "
    "forecaster's prediction of it: the network solid blue, the baselines dashed (persistence in grey; "
    "seasonal naive, the training mean, the linear AR), each with its MAE in the legend; bottom: every "
    "forecast's absolute error. The network should follow the series' rises and falls that persistence "
    "only repeats late."
)
HORIZON_CAPTION = (
    "Test MAE (up) against how many steps ahead the forecast is (across, 1 … H), one line per forecaster: "
    "the network solid blue with dots, the baselines dashed. Persistence is nearly exact one step ahead "
    "and worsens with distance; the floor is judged at the last step, where the blue line should lie "
    "clearly below every dashed one."
)
PIANOROLL_CAPTION = (
    "Time in beats across (seconds on the top axis), pitch up with note names at every C and at every "
    "pitch used; the primer in orange, the generated notes in blue, the rows of the primer's key shaded "
    "green. Notes off the shaded rows are outside the key: a trained model keeps most notes on them and "
    "moves mostly in small steps, as the chorales do."
)
AUDIO_CAPTION = (
    f"The MIDI file rendered to a {SAMPLE_RATE:,} Hz mono WAV by rnnkit's own additive synthesiser "
    "(harmonic sine partials with an attack-decay-sustain-release envelope), so it plays here with nothing "
    "else installed; the primer comes first, then the generated notes."
)
PROBABILITY_CAPTION = (
    "For a few test clips: the frames across, and under them the probability the model gives after "
    "reading frames 0 … t (blue dots), the 0.5 decision line dashed, the frames with the dog in the air "
    "shaded orange. On a jump clip the probability should rise with or after the shaded frames; on other "
    "clips it should stay low. Only the answer after the last frame is trained, so the answers after the "
    "first frames (before any motion shows) are untrained guesses; the plot's header gives their average."
)
SALIENCY_CAPTION = (
    "One clip's frames (top), the saliency |∂ logit / ∂ pixel| of the model's answer on each of them on "
    "one logarithmic scale shared by all frames (middle; brighter: the pixel moved the answer more; the "
    "colour bar gives the units), and each frame's share of it (bottom). The bright spots should sit on "
    "the dog, above all in the frames of the jump, not on the background or the distractors."
)


@dataclass
class Outcome:
    """What one finished demo contributes to the report and to the summary table.

    Attributes:
        metric: the headline metric's label (with its split).
        model, baseline: the headline values of the model and of the best baseline (by the metric).
        baseline_name: which baseline that is.
        verdict: a few words for the terminal table.
        ok: whether the model beats its baselines (and meets the task's floor, where it has one).
        statement: one sentence for the report's overview (said plainly when ``ok`` is False).
        blocks: the section's content.
    """

    metric: str
    model: float | None
    baseline_name: str | None
    baseline: float | None
    verdict: str
    ok: bool | None
    statement: str
    blocks: list[Block] = field(default_factory=list)


def fmt(value: float | None) -> str:
    """4 decimals below 1 (accuracies, shares line up), 4 significant digits above."""
    if value is None:
        return "—"
    if abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def best_baseline(
    key: str, baselines: Mapping[str, Mapping[str, float]], lower: bool
) -> tuple[str | None, float | None]:
    """(name, value) of the baseline with the best ``key`` (lowest or highest), or (None, None)."""
    have = {n: m[key] for n, m in baselines.items() if key in m}
    if not have:
        return None, None
    name = (min if lower else max)(have, key=have.__getitem__)
    return name, have[name]


def metric_table(demo: Demo, metrics: Mapping[str, float], baselines: Mapping[str, Mapping[str, float]]):
    """Rows = the shown metrics; columns = the model, then every baseline; the best of a row in bold."""
    keys = [k for k in metrics if metric_label(k) is not None]
    names = list(baselines)
    rows = []
    for k in keys:
        label, lower = metric_label(k)  # type: ignore[misc]
        values = [metrics[k], *(baselines[n].get(k) for n in names)]
        if k == "shuffled_accuracy":
            best = None  # a control, not a competitor
        else:
            present = [v for v in values if v is not None]
            best = (min if lower else max)(present)
        cells = [f"**{fmt(v)}**" if v is not None and v == best else fmt(v) for v in values]
        rows.append([f"{label} {'↓' if lower else '↑'}", *cells])
    return Table(
        ["metric", "model", *names], rows, caption=f"{demo.split} split (↓ lower is better, ↑ higher)"
    )


# -- the demos' own verdicts and outputs -------------------------------------------------------------------
def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _text(s: Any, m: dict, b: dict) -> tuple[str, bool, str, list[Block]]:
    bpc, bigram = m["bpc"], b["bigram"]["bpc"]
    beats, floor = bpc < bigram, bpc <= TEXT_FLOOR
    verdict = (
        f"{'beats' if beats else 'does NOT beat'} bigram; ≤ {TEXT_FLOOR} bpc {'met' if floor else 'not yet'}"
    )
    statement = (
        f"validation {bpc:.3f} bits/char vs the bigram's {bigram:.3f} "
        f"({'better' if beats else 'NOT better'}); the ≤ {TEXT_FLOOR} bpc floor belongs to the full "
        f"15-minute run and is {'already met' if floor else 'not reached'} in this short run"
    )
    sample = s.artifacts.get("sample") or _file(s.run_dir / "sample.txt")
    blocks: list[Block] = [Code(sample, "Generated text (temperature 0.8, primed with the first words):")]
    return verdict, beats, statement, blocks


def _stocks(s: Any, m: dict, b: dict) -> tuple[str, bool, str, list[Block]]:
    ratio = float(s.artifacts["rmse_vs_persistence"])
    beats = ratio < 0.99  # the task's own threshold (stocks_report)
    verdict = f"RMSE {ratio:.3f}× persistence: {'beats it' if beats else 'does NOT beat it'}"
    statement = s.artifacts.get("verdict", verdict)
    report = _read_json(s.run_dir / "forecast.json")
    rows = [r for r in report.get("rows", []) if r["h"] == min(r["h"] for r in report["rows"])]
    blocks: list[Block] = [Text(f"**Verdict:** {statement}.")]
    if rows:
        tickers = list(dict.fromkeys(r["ticker"] for r in rows))
        names = list(dict.fromkeys(r["forecaster"] for r in rows))
        cell = {(r["forecaster"], r["ticker"]): r for r in rows}
        table = [
            [n, *(fmt(cell[n, t]["rmse"]) for t in tickers), *(fmt(cell[n, t]["direction"]) for t in tickers)]
            for n in names
        ]
        up = [fmt(cell[names[0], t]["up_share"]) for t in tickers]
        table.append(["always up", *("" for _ in tickers), *up])
        h = rows[0]["h"]
        blocks.append(
            Table(
                ["forecaster", *(f"{t} RMSE $" for t in tickers), *(f"{t} direction" for t in tickers)],
                table,
                caption=f"Per ticker, {h} day ahead, in dollars (test period):",
            )
        )
    h = rows[0]["h"] if rows else 1
    blocks += [
        Image(
            s.run_dir / p,
            f"{Path(p).stem.removeprefix('forecast-')}: {h}-day-ahead forecasts vs the price, test period",
            STOCKS_CAPTION.format(h=h),
        )
        for p in s.artifacts["plots"]
    ]
    blocks.append(
        FileLink(s.run_dir / "forecast.md", "the full table (both horizons): forecast.md", "text/markdown")
    )
    return verdict, beats, statement, blocks


def _series(s: Any, m: dict, b: dict) -> tuple[str, bool, str, list[Block]]:
    ratio, met = float(s.artifacts["mae_vs_best_naive"]), bool(s.artifacts["floor_met"])
    verdict = f"MAE {ratio:.3f}× best naive: floor ≤ 0.9 {'met' if met else 'NOT met'}"
    statement = s.artifacts.get("verdict", verdict)
    series = s.info.get("series", "")
    blocks: list[Block] = [Text(f"Series: **{series}**. **Verdict:** {statement}.")]
    captions = {
        "forecast.png": ("Forecasts vs the actual series, last test origins", SERIES_FORECAST_CAPTION),
        "horizon.png": ("Test MAE by steps ahead", HORIZON_CAPTION),
    }
    blocks += [Image(s.run_dir / p, *captions.get(p, (p, ""))) for p in s.artifacts["plots"]]
    return verdict, met, statement, blocks


def _music(s: Any, m: dict, b: dict) -> tuple[str, bool, str, list[Block]]:
    lower = bool(s.artifacts["lower_than_bigram"])
    shares: dict[str, float] = s.artifacts.get("key_share", {})
    verdict = f"perplexity {'below' if lower else 'NOT below'} the bigram"
    if "network" in shares:
        verdict += f"; key share {shares['network']:.2f}"
    statement = s.artifacts.get("verdict", verdict)
    blocks: list[Block] = [Text(f"**Verdict:** {statement}.")]
    if shares:
        blocks.append(
            Table(
                ["melodies", "share of notes in the primer's key"],
                [[k, fmt(v)] for k, v in shares.items()],
                caption="Key share (major or harmonic-minor scale on the primer, whichever fits better):",
            )
        )
    midi = s.run_dir / s.artifacts.get("midi", "sample.mid")
    wav = s.run_dir / s.artifacts.get("audio", "sample.wav")
    if not wav.is_file() and midi.is_file():  # a run from before the task wrote its audio
        midi_to_wav(midi, wav)
    blocks.append(Audio(wav, "Listen: the melody generated from C4", AUDIO_CAPTION))
    blocks.append(FileLink(midi, f"♫ the generated melody as MIDI ({midi.name})", "audio/midi"))
    blocks.append(
        Image(
            s.run_dir / s.artifacts.get("pianoroll", "sample.png"),
            "Piano roll of the melody from C4",
            PIANOROLL_CAPTION,
        )
    )
    return verdict, lower, statement, blocks


def _jump(s: Any, m: dict, b: dict) -> tuple[str, bool, str, list[Block]]:
    a = s.artifacts
    met, order = bool(a["floor_met"]), bool(a["order_matters"])
    frame_ok = a.get("no_single_frame") is not False
    verdict = (
        f"≥ 0.95 {'met' if met else 'NOT met'}; shuffled {a['shuffled_accuracy']:.2f} "
        f"({'order matters' if order else 'NOT clearly lower'})"
    )
    statement = a.get("verdict", verdict)
    blocks: list[Block] = [Bullets([x.strip() for x in statement.split(";")])]
    if a.get("probability_plot"):
        blocks.append(
            Image(
                s.run_dir / a["probability_plot"],
                "P(jump) after every frame on test clips",
                PROBABILITY_CAPTION,
            )
        )
    if a.get("saliency_plot"):
        blocks.append(
            Image(s.run_dir / a["saliency_plot"], "Saliency: where the model looked", SALIENCY_CAPTION)
        )
    return verdict, met and order and frame_ok, statement, blocks


def _compose(s: Any, m: dict, b: dict) -> tuple[str, bool, str, list[Block]]:
    met = bool(s.artifacts["floor_met"])
    tri = b.get("trigram", {}).get("top1")
    verdict = f"top-1 {'above' if met else 'NOT above'} bigram"
    if tri is not None:
        verdict += f", {'above' if m['top1'] > tri else 'NOT above'} trigram"
    statement = s.artifacts.get("verdict", verdict)
    blocks: list[Block] = [Text(f"**Verdict:** {statement}.")]
    if s.artifacts.get("example"):
        blocks.append(Code(s.artifacts["example"], "Top completions (beam search) of a fixed prompt:"))
    more = _file(s.run_dir / "compose_samples.txt")
    if more:
        blocks.append(Code(more, "All prompts (the last ones are held-out verse starts):"))
    ok = met and (tri is None or m["top1"] > tri)
    return verdict, ok, statement, blocks


def _shown(path: Path, base: Path) -> str:
    """``path`` relative to the report folder when it lies inside it."""
    path, base = Path(path).resolve(), Path(base).resolve()
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else path.name


def _file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


_DESCRIBE: dict[str, Callable[[Any, dict, dict], tuple[str, bool, str, list[Block]]]] = {
    "text": _text,
    "stocks": _stocks,
    "series": _series,
    "music": _music,
    "jump": _jump,
    "compose": _compose,
}


def describe(demo: Demo, summary: Any, wall_seconds: float, report_dir: Path) -> Outcome:
    """The report section and summary row of a finished run (a :class:`~rnnkit.tasks.RunSummary`)."""
    metrics = summary.metrics.get(demo.split, {})
    baselines = summary.baselines.get(demo.split, {})
    label, lower = metric_label(demo.headline)  # type: ignore[misc]
    name, value = best_baseline(demo.headline, baselines, lower)
    verdict, ok, statement, extra = _DESCRIBE[demo.name](summary, metrics, baselines)
    f = summary.fit
    info = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in summary.info.items())
    facts = (
        f"Trained {f.steps:,} steps in {f.elapsed / 60:.1f} min (stopped: {f.stop_reason}); "
        f"{wall_seconds / 60:.1f} min in all with data, baselines, evaluation and outputs. Data: {info}."
    )
    blocks: list[Block] = [
        Text(demo.about),
        Text(facts),
        metric_table(demo, metrics, baselines),
        *extra,
        Image(summary.run_dir / "curves.png", "Training curves", CURVES_CAPTION),
        Text(f"Run directory: `{_shown(summary.run_dir, report_dir)}`. Full-budget run: {demo.full_run}."),
    ]
    return Outcome(
        metric=f"{label} ({demo.split}) {'↓' if lower else '↑'}",
        model=metrics.get(demo.headline),
        baseline_name=name,
        baseline=value,
        verdict=verdict,
        ok=ok,
        statement=statement,
        blocks=blocks,
    )
