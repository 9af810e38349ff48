"""The diagnostic figures (matplotlib, Agg backend; every PNG written atomically).

- :func:`plot_gradient_distance`: median ‖∂L/∂h_t‖ against the distance T − t, log scale, with the
  25–75% band over sequences — one line per cell / checkpoint.
- :func:`plot_gate_heatmaps`: each gate over time for one input sequence (units × steps), units sorted
  by their mean retain gate.
- :func:`plot_saturation`: histogram of each gate's values with the saturated zones shaded.
- :func:`plot_timescales`: histogram of the implied memory timescales −1/ln f per unit.
- :func:`plot_clipping`: loss and gradient norm of an exploding network with and without clipping.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch
from torch import Tensor

from .gates import HIGH, LOW, gate_range
from .gradients import ClippingRun, GradientProfile


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    _plt().close(fig)
    os.replace(tmp, path)
    return path


def plot_gradient_distance(
    profiles: list[GradientProfile], path: str | Path, which: str = "h", title: str | None = None
) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    colors = plt.get_cmap("tab10")
    cells = list(dict.fromkeys(p.meta.get("cell", p.label) for p in profiles))
    for p in profiles:
        norms = getattr(p, which)
        if norms is None:
            continue
        norms = norms.double().clamp_min(1e-300)
        med = norms.median(dim=1).values
        q = torch.quantile(norms, torch.tensor([0.25, 0.75], dtype=norms.dtype), dim=1)
        color = colors(cells.index(p.meta.get("cell", p.label)) % 10)
        style = "--" if "init" in p.label else "-"
        d = p.distance.numpy()
        ax.plot(d, med.numpy(), style, color=color, label=p.label)
        ax.fill_between(d, q[0].numpy(), q[1].numpy(), color=color, alpha=0.12)
    ax.set_yscale("log")
    ax.set_xlabel("distance from the loss, T − t (steps)")
    symbol = {"h": "h_t", "c": "c_t", "x": "x_t"}[which]
    ax.set_ylabel(f"‖∂L/∂{symbol}‖ (median over sequences)")
    ax.set_title(title or "gradient of a loss at the last step, against distance", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_gate_heatmaps(
    gates: dict[str, Tensor], order: Tensor | None, path: str | Path, title: str, max_units: int = 64
) -> Path:
    """``gates``: name -> (T, H) for one sequence; ``order``: unit order (H,) or None."""
    plt = _plt()
    names = list(gates)
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 1.9 * len(names) + 0.8), squeeze=False)
    for ax, name in zip(axes[:, 0], names, strict=True):
        g = gates[name].detach().float().cpu()  # (T, H)
        if order is not None:
            g = g[:, order]
        g = g[:, :max_units].T.numpy()  # (units, T)
        kind = gate_range(g)
        vmin, vmax, cmap = (
            (0, 1, "viridis")
            if kind == "sigmoid"
            else (-1, 1, "coolwarm")
            if kind == "tanh"
            else (None, None, "magma")
        )
        im = ax.imshow(g, aspect="auto", interpolation="nearest", vmin=vmin, vmax=vmax, cmap=cmap)
        ax.set_ylabel(f"{name}\nunit", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    axes[-1, 0].set_xlabel("time step")
    units = next(iter(gates.values())).size(-1)
    shown = f"{min(units, max_units)} of {units} units" if units > max_units else f"{units} units"
    fig.suptitle(f"{title} ({shown}{', longest memory first' if order is not None else ''})", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_saturation(gates: dict[str, Tensor], path: str | Path, title: str) -> Path:
    """``gates``: name -> values (any shape); one histogram per gate."""
    plt = _plt()
    names = list(gates)
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names, strict=False):
        v = gates[name].detach().float().reshape(-1).cpu()
        kind = gate_range(v)
        lo, hi = (
            (0.0, 1.0)
            if kind == "sigmoid"
            else (-1.0, 1.0)
            if kind == "tanh"
            else (float(v.min()), float(v.max()))
        )
        ax.hist(v.numpy(), bins=50, range=(lo, hi if hi > lo else lo + 1), color="tab:blue", alpha=0.8)
        if kind == "sigmoid":
            ax.axvspan(0, LOW, color="tab:red", alpha=0.15)
            ax.axvspan(HIGH, 1, color="tab:red", alpha=0.15)
            share = float(((v < LOW) | (v > HIGH)).float().mean())
            ax.set_title(f"{name}: {share:.0%} saturated", fontsize=9)
        elif kind == "tanh":
            ax.axvspan(-1, -HIGH, color="tab:red", alpha=0.15)
            ax.axvspan(HIGH, 1, color="tab:red", alpha=0.15)
            ax.set_title(f"{name}: {float((v.abs() > HIGH).float().mean()):.0%} saturated", fontsize=9)
        else:
            ax.set_title(f"{name} (unbounded)", fontsize=9)
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_timescales(taus: dict[str, Tensor], path: str | Path, title: str) -> Path:
    """``taus``: label -> (H,) timescales in steps; a histogram of log10 τ per label."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    finite = [t[torch.isfinite(t)] for t in taus.values()]
    top = max([float(t.max()) for t in finite if t.numel()] + [10.0])
    bins = torch.logspace(-1, math.log10(top) + 0.5, 40).numpy()
    for label, tau in taus.items():
        t = tau[torch.isfinite(tau)].clamp_min(0.1)
        ax.hist(
            t.numpy(), bins=bins, histtype="step", lw=1.5, label=f"{label} (median {float(tau.median()):.1f})"
        )
    ax.set_xscale("log")
    ax.set_xlabel("implied memory timescale τ = −1/ln f (steps)")
    ax.set_ylabel("units")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def plot_clipping(profile: GradientProfile, runs: list[ClippingRun], path: str | Path) -> Path:
    plt = _plt()
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13, 3.8))
    med = profile.h.double().median(dim=1).values
    a.plot(profile.distance.numpy(), med.clamp_min(1e-300).numpy(), color="tab:red")
    a.set_yscale("log")
    a.set_xlabel("distance T − t")
    a.set_ylabel("‖∂L/∂h_t‖")
    a.set_title(profile.label, fontsize=9)
    a.grid(True, which="both", alpha=0.3)
    for run in runs:
        label = "no clipping" if run.clip_norm is None else f"clip norm {run.clip_norm:g}"
        b.plot(range(1, len(run.loss) + 1), run.loss, label=label)
        c.plot(range(1, len(run.grad_norm) + 1), run.grad_norm, label=label)
    for ax, name in ((b, "training loss (MSE)"), (c, "gradient norm before clipping")):
        ax.set_yscale("log")
        ax.set_xlabel("SGD step")
        ax.set_title(name, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        "exploding gradients: tanh RNN, recurrent weight = 2 × orthogonal, adding problem T = 50", fontsize=10
    )
    fig.tight_layout()
    return _save(fig, path)
