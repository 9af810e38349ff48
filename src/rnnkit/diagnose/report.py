"""``rnnkit diagnose``'s work: pick the recurrent layers to look at (fresh cells, or the layer inside a
trained run next to the same model at initialisation), feed them an input, and write the figures and a
short text summary.

Example::

    subjects = fresh_subjects(["rnn", "lstm", "gru", "urlstm"], steps=200)
    report = diagnose(subjects, "diagnose-out")
    print(report.text)                       # also in diagnose-out/summary.txt, figures beside it
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .._io import atomic_write_text
from ..layers import ParallelLayer, RecurrentLayer, create_layer
from .gates import saturation, summarize_timescales, timescales
from .gradients import GradientProfile, clipping_demo, gradient_vs_distance
from .plots import plot_clipping, plot_gate_heatmaps, plot_gradient_distance, plot_saturation, plot_timescales


@dataclass
class Subject:
    """One recurrent layer to diagnose, with its input in the layer's own layout."""

    label: str
    layer: RecurrentLayer | ParallelLayer
    x: Tensor
    stage: str = "fresh"  # fresh | init | trained


@dataclass
class Report:
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    text: str = ""


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", label).strip("-").lower()


def load_input(path: str | Path) -> Tensor:
    """A float tensor from .pt (loaded without executing code), .npy or .csv/.txt (rows = steps);
    returned batch-first (B, T, I)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--input file {str(path)!r} does not exist")
    if path.suffix == ".pt":
        x = torch.load(path, weights_only=True)
        if not isinstance(x, Tensor):
            raise TypeError(f"--input {path} must hold one tensor, got {type(x).__name__}")
    elif path.suffix == ".npy":
        x = torch.from_numpy(np.load(path, allow_pickle=False))
    elif path.suffix in (".csv", ".txt"):
        x = torch.from_numpy(np.loadtxt(path, delimiter="," if path.suffix == ".csv" else None, ndmin=2))
    else:
        raise ValueError(f"--input must be a .pt, .npy, .csv or .txt file, got {path.name!r}")
    x = x.float()
    if x.dim() == 1:
        x = x.view(1, -1, 1)
    elif x.dim() == 2:
        x = x.unsqueeze(0)
    if x.dim() != 3:
        raise ValueError(f"--input must be (T,), (T, I) or (B, T, I), got shape {tuple(x.shape)}")
    return x


def _to_layout(layer: nn.Module, x_bf: Tensor) -> Tensor:
    """Batch-first (B, T, I) -> the layer's layout."""
    if x_bf.size(-1) != layer.input_size:
        raise ValueError(
            f"input must have {layer.input_size} features per step for this layer, got {x_bf.size(-1)}"
        )
    return x_bf if layer.batch_first else x_bf.transpose(0, 1)


def fresh_subjects(
    cells: list[str],
    *,
    input_size: int = 1,
    hidden_size: int = 64,
    steps: int = 200,
    batch: int = 16,
    seed: int = 0,
    x: Tensor | None = None,
) -> list[Subject]:
    """Freshly initialised layers of each cell (torch's init), all fed the same input: ``x`` batch-first
    (B, T, I), or N(0, 1) noise (B = batch, T = steps, I = input_size)."""
    if x is None:
        x = torch.randn(batch, steps, input_size, generator=torch.Generator().manual_seed(seed))
    out = []
    for cell in cells:
        torch.manual_seed(seed)
        layer = create_layer(cell, x.size(-1), hidden_size, batch_first=True)
        out.append(Subject(f"{cell} (init)", layer, x, "init"))
    return out


def find_recurrent(model: nn.Module) -> RecurrentLayer | ParallelLayer:
    """The first rnnkit recurrent layer inside ``model``."""
    for m in model.modules():
        if isinstance(m, RecurrentLayer | ParallelLayer):
            return m
    raise ValueError(f"model {type(model).__name__} holds no rnnkit recurrent layer to diagnose")


def capture_input(model: nn.Module, run_fn) -> Tensor:
    """Run ``run_fn()`` and return what ``model``'s recurrent layer received as its input."""
    layer, seen = find_recurrent(model), []
    handle = layer.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    try:
        with torch.no_grad():
            run_fn()
    finally:
        handle.remove()
    if not seen:
        raise RuntimeError("the model never called its recurrent layer on this batch")
    return seen[0]


def run_subjects(
    run_dir: str | Path, *, which: str = "best", input: str = "val", batch: int = 16
) -> list[Subject]:
    """The recurrent layer of a trained run and of the same model freshly initialised (same seed),
    each fed what the task's first validation batch gives it (``input="val"``), N(0, 1) noise
    (``"random"``), or a file (batch-first, fed to the recurrent layer)."""
    from ..tasks.runner import load_run
    from ..train.checkpoint import seed_everything
    from ..train.sources import as_source

    run = load_run(run_dir, which=which)
    seed_everything(run.cfg.run.seed)
    init_model = run.task.build_model(run.cfg, run.state).eval()
    name = Path(run.run_dir).name
    cell = find_recurrent(run.model).spec.name
    subjects, first = [], None
    if input == "val":
        data = run.task.build_data(run.cfg, state=run.state)
        source = data.val if data.val is not None else data.train
        first = next(iter(as_source(source, run.cfg.run.seed).epoch(0)))
    for model, stage in ((init_model, "init"), (run.model, "trained")):
        layer = find_recurrent(model)
        if first is not None:
            x = capture_input(model, lambda m=model, b=first: run.task.loss(m, b, None))
            x = x[:batch] if layer.batch_first else x[:, :batch]
        else:
            x_bf = load_input(input) if input != "random" else torch.randn(batch, 200, layer.input_size)
            x = _to_layout(layer, x_bf)
        subjects.append(Subject(f"{cell} {stage} ({name})", layer, x, stage))
    return subjects


def _gate_sequence(layer: nn.Module, x: Tensor) -> dict[str, Tensor]:
    """name -> (L*D, T, B, H); a tanh RNN's pre-activation also as its activation tanh(·), which is
    what saturates."""
    with torch.no_grad():
        gates = dict(layer.eval().trace(x).gates)
    if "preactivation" in gates and getattr(layer.spec, "nonlinearity", None) == "tanh":
        gates["tanh(preactivation)"] = torch.tanh(gates["preactivation"])
    return gates


def diagnose(
    subjects: list[Subject],
    out_dir: str | Path,
    *,
    exploding: bool = True,
    layer_index: int = 0,
    seed: int = 0,
) -> Report:
    """Write gradient-vs-distance plots, gate heatmaps, saturation histograms, timescale histograms
    (and the exploding-gradient / clipping demo) for ``subjects`` into ``out_dir``; return the report."""
    if not subjects:
        raise ValueError("subjects must name at least one layer to diagnose")
    out = Path(out_dir)
    rep = Report(out)
    profiles: list[GradientProfile] = []
    taus: dict[str, Tensor] = {}
    for s in subjects:
        prof = gradient_vs_distance(s.layer, s.x, layer_index=layer_index, seed=seed, label=s.label)
        profiles.append(prof)
        gates = _gate_sequence(s.layer, s.x)
        one = {n: g[layer_index * s.layer.num_directions, :, 0] for n, g in gates.items()}  # (T, H)
        ts = timescales(s.layer.spec, gates, index=layer_index * s.layer.num_directions)
        order = None
        if ts is not None:
            taus[s.label] = ts[1]
            order = torch.argsort(ts[1].nan_to_num(posinf=1e30), descending=True)
        slug = _slug(s.label)
        rep.files.append(
            plot_gate_heatmaps(
                one, order, out / f"gates-{slug}.png", f"{s.label}: gates over time, sequence 0"
            )
        )
        rep.files.append(plot_saturation(gates, out / f"saturation-{slug}.png", f"{s.label}: gate values"))
        med = prof.h.double().median(dim=1).values
        T = len(med)
        at = {d: float(med[d]) for d in sorted({0, 10, 50, 100, T - 1}) if d < T}
        entry: dict[str, Any] = {
            "h_norm_at_distance": at,
            "factor_per_step": prof.decay_per_step("h"),
            "x_norm_at_max_distance": float(prof.x.double().median(dim=1).values[-1]),
            "saturation": saturation(gates, s.layer.spec),
            "steps": T,
        }
        if ts is not None:
            entry["timescale"] = {"gate": ts[0], **summarize_timescales(ts[1])}
        rep.summary[s.label] = entry
    rep.files.append(plot_gradient_distance(profiles, out / "gradient-distance.png", "h"))
    rep.files.append(
        plot_gradient_distance(
            profiles,
            out / "gradient-distance-input.png",
            "x",
            "influence of the input T − t steps back on the loss",
        )
    )
    if taus:
        rep.files.append(
            plot_timescales(taus, out / "timescales.png", "memory timescales implied by the retain gate")
        )
    if exploding:
        torch.manual_seed(seed)
        rnn = create_layer("rnn", 1, 64, recurrent_init="orthogonal")
        with torch.no_grad():
            rnn.weight_hh_l0.mul_(2.0)
        x = torch.randn(100, 16, 1, generator=torch.Generator().manual_seed(seed))
        prof = gradient_vs_distance(rnn, x, label="tanh RNN, U = 2 × orthogonal")
        runs = clipping_demo(seed=seed)
        rep.files.append(plot_clipping(prof, runs, out / "exploding.png"))
        rep.summary["exploding"] = {
            "factor_per_step": prof.decay_per_step("h"),
            "runs": [
                {
                    "clip_norm": r.clip_norm,
                    "final_loss": _json_float(r.loss[-1]),
                    "max_finite_loss": max(v for v in r.loss if math.isfinite(v)),
                    "diverged_at_step": next(
                        (k + 1 for k, v in enumerate(r.loss) if not math.isfinite(v)), None
                    ),
                    "steps": len(r.loss),
                }
                for r in runs
            ],
        }
    rep.text = summary_text(rep.summary)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "summary.txt", rep.text + "\n")
    atomic_write_text(out / "summary.json", json.dumps(rep.summary, indent=1, default=str) + "\n")
    rep.files += [out / "summary.txt", out / "summary.json"]
    return rep


def _json_float(v: float) -> float | str:
    """Finite floats as they are; inf/nan as strings (JSON has no such numbers)."""
    return v if math.isfinite(v) else str(v)


def _fmt(v: float | str) -> str:
    return v if isinstance(v, str) else "inf" if math.isinf(v) else f"{v:.2e}"


def summary_text(summary: dict[str, Any]) -> str:
    subjects = {k: v for k, v in summary.items() if k != "exploding"}
    lines = ["gradient of a loss at the last step, ‖∂L/∂h_t‖ (median over sequences), by distance T − t:"]
    for label, e in subjects.items():
        at = "  ".join(f"d={d}: {_fmt(v)}" for d, v in e["h_norm_at_distance"].items())
        f = e["factor_per_step"]
        trend = "vanishing" if f < 0.99 else "exploding" if f > 1.01 else "flat"
        lines.append(f"  {label}: {at}  → ×{f:.3f} per step ({trend})")
    lines.append("gate saturation (σ-gates: share < 0.05 | > 0.95; tanh gates: share |v| > 0.95):")
    for label, e in subjects.items():
        parts = []
        for name, s in e["saturation"].items():
            if s["range"] == "sigmoid":
                parts.append(f"{name} {s['low']:.0%}|{s['high']:.0%}")
            elif s["range"] == "tanh":
                parts.append(f"{name} {s['saturated']:.0%}")
        lines.append(f"  {label}: " + (", ".join(parts) or "no bounded gates"))
    with_tau = {k: v["timescale"] for k, v in subjects.items() if "timescale" in v}
    if with_tau:
        lines.append("memory timescale τ = −1/ln f of the retain gate f, per unit:")
        for label, t in with_tau.items():
            lines.append(
                f"  {label} ({t['gate']}): median {t['median']:.1f} steps, {t['share_over_10']:.0%} of units "
                f"> 10 steps, {t['share_over_100']:.0%} > 100"
            )
    if "exploding" in summary:
        e = summary["exploding"]
        lines.append(
            f"exploding case (tanh RNN, U = 2 × orthogonal): ‖∂L/∂h_t‖ ×{e['factor_per_step']:.2f} per step"
        )
        for r in e["runs"]:
            clip = "no clipping" if r["clip_norm"] is None else f"clip norm {r['clip_norm']:g}"
            end = (
                f"diverged (loss {r['final_loss']}) at step {r['diverged_at_step']}"
                if r["diverged_at_step"]
                else f"final loss {_fmt(r['final_loss'])} after {r['steps']} steps"
            )
            lines.append(
                f"  SGD on adding T=50, {clip}: largest finite loss {_fmt(r['max_finite_loss'])}, {end}"
            )
    return "\n".join(lines)
