"""What the ``jump`` task writes after training: ``jump.md`` / ``jump.json`` with the test accuracy
next to its controls and the floor verdicts, P(class) after every frame on test clips
(``jump_probability.png``), and a saliency strip of one clip (``jump_saliency.png``).

Floors (checked on the test split): accuracy ≥ 0.95; the shuffled-frames control and the best
per-frame baseline each at least 0.2 below the model ("clearly lower")."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write_text
from ..data.video import ACTIVITIES, ClipSet
from ..train.config import Config

ACCURACY_FLOOR = 0.95
CLEAR_MARGIN = 0.2


def pick_clips(clips: ClipSet, k: int) -> np.ndarray:
    """Indices of ``k`` clips to show: alternating positive (jump / class 1…) and other clips."""
    pos = 1 if "jump" not in clips.class_names else clips.class_names.index("jump")
    yes, no = np.flatnonzero(clips.labels == pos), np.flatnonzero(clips.labels != pos)
    order = [a for pair in zip(yes, no, strict=False) for a in pair]
    order += [i for i in np.concatenate([yes, no]) if i not in order]
    return np.array(order[:k], dtype=np.int64)


def _describe(clips: ClipSet, i: int) -> str:
    name = clips.class_names[int(clips.labels[i])]
    if clips.activity is not None:
        name += f" ({ACTIVITIES[int(clips.activity[i])]})"
    if clips.sources is not None:
        name += f" [{clips.sources[i]}]"
    return name


@torch.no_grad()
def frame_probabilities(model: nn.Module, x: torch.Tensor, cls: int) -> np.ndarray:
    """P(class ``cls``) after each frame, (B, T), from the model's per-step logits."""
    return model.per_step_logits(x).softmax(-1)[..., cls].cpu().numpy()


def saliency(model: nn.Module, x: torch.Tensor, cls: int) -> np.ndarray:
    """|∂ logit_cls / ∂ pixel| of one clip x (T, C, S, S), max over channels: (T, S, S)."""
    x = x.clone().unsqueeze(0).requires_grad_(True)
    with torch.enable_grad():
        model(x)[0, cls].backward()
    return x.grad[0].abs().amax(dim=1).cpu().numpy()


@torch.no_grad()
def early_answers(model: nn.Module, clips: ClipSet, cls: int, train_share: float) -> dict[str, Any]:
    """What the model says after the first frame alone, over all of ``clips``, and why it means little.

    The model is trained on its answer after the *last* frame only (many-to-one); its answer after frame
    t < T−1 (what the probability plot shows) is the same output layer read from an earlier state, which
    no loss ever scored. After frame 0 no motion can be seen yet, so that answer is the untrained state's
    bias, whatever it is: compare it with ``train_share``, the share of training clips of class ``cls``."""
    x = torch.from_numpy(clips.frames[:, :1]).float().div_(255.0)  # (N, 1, C, S, S): frame 0 alone
    device = next(model.parameters()).device
    p = model.per_step_logits(x.to(device)).softmax(-1)[:, 0, cls].cpu().numpy()  # (N,)
    is_cls = clips.labels == cls
    name = clips.class_names[cls]
    mean = {
        k: float(p[m].mean()) if m.any() else None for k, m in (("positive", is_cls), ("others", ~is_cls))
    }
    note = (
        f"P({name}) after frame t is the model's answer had the clip ended there; it is trained only on its "
        f"answer after the last frame, so earlier answers are untrained. After frame 0, before any motion "
        f"shows, it says {float(p.mean()):.2f} on average over {len(p):,} test clips "
        f"({_maybe(mean['positive'])} on {name} clips, {_maybe(mean['others'])} on the others), while "
        f"{train_share:.0%} of the training "
        f"clips are {name} clips"
    )
    return {
        "first_frame_mean": float(p.mean()),
        "first_frame_mean_positive": mean["positive"],
        "first_frame_mean_others": mean["others"],
        "train_share": train_share,
        "note": note,
    }


def _maybe(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def verdicts(metrics: dict[str, float], baselines: dict[str, dict[str, float]]) -> dict[str, Any]:
    """The floor checks on one split's metrics and baselines."""
    acc, shuffled = metrics["accuracy"], metrics["shuffled_accuracy"]
    frame = {k: v["accuracy"] for k, v in baselines.items() if k.startswith("per-frame")}
    best_frame = max(frame.values()) if frame else None
    out: dict[str, Any] = {
        "accuracy": acc,
        "floor_met": acc >= ACCURACY_FLOOR,
        "shuffled_accuracy": shuffled,
        "order_matters": acc - shuffled >= CLEAR_MARGIN,
        "best_per_frame": best_frame,
        "no_single_frame": None if best_frame is None else acc - best_frame >= CLEAR_MARGIN,
    }

    def clearly(ok: bool, why: str) -> str:
        return f"clearly lower: {why}" if ok else f"NOT clearly lower than {acc:.3f}"

    lines = [
        f"test accuracy {acc:.3f} (floor {ACCURACY_FLOOR}: {'MET' if out['floor_met'] else 'NOT MET'})",
        f"frames shuffled: {shuffled:.3f} ({clearly(out['order_matters'], 'the model uses their order')})",
    ]
    if best_frame is not None:
        why = "no single frame answers the question"
        lines.append(f"best per-frame baseline: {best_frame:.3f} ({clearly(out['no_single_frame'], why)})")
    out["verdict"] = "; ".join(lines)
    return out


def write_report(model: nn.Module, cfg: Config, data: Any, run_dir: Path) -> dict[str, Any]:
    """The test-split verdicts (``jump.md``, ``jump.json``, printed) and the plots."""
    from .registry import get_task

    task = get_task("jump")
    model.eval()
    metrics = task.evaluate(model, data.test, cfg)
    base = task.baselines(cfg, data, "test")
    v = verdicts(metrics, base)
    rows = [("model", metrics["accuracy"]), ("model, frames shuffled", metrics["shuffled_accuracy"])]
    rows += [(name, b["accuracy"]) for name, b in base.items()]
    table = "\n".join(f"| {name} | {value:.3f} |" for name, value in rows)
    labels = data.train.labels
    shares = {c: float((labels == i).float().mean()) for i, c in enumerate(data.test.clips.class_names)}
    artifacts = write_plots(model, cfg, data.test.clips, run_dir, train_shares=shares)
    plots = "".join(f"\n![{k}]({f})" for k, f in artifacts.items() if str(f).endswith(".png"))
    early = artifacts.get("early_answers")
    text = (
        f"# jump: does the dog jump? (test split, {len(data.test.labels)} clips)\n\n"
        f"| classifier | accuracy |\n|---|---|\n{table}\n\n"
        + "\n".join(f"- {x}" for x in v["verdict"].split("; "))
        + f"\n{plots}\n"
        + (f"\n{early['note']}.\n" if early else "")
    )
    atomic_write_text(run_dir / "jump.md", text)
    payload = {**v, "metrics": metrics, "baselines": base, "early_answers": early}
    atomic_write_text(run_dir / "jump.json", json.dumps(payload, indent=2) + "\n")
    print("\n" + v["verdict"].replace("; ", "\n"))
    return {**artifacts, **v, "report": "jump.md"}


def write_plots(
    model: nn.Module,
    cfg: Config,
    clips: ClipSet | None,
    run_dir: Path,
    *,
    train_shares: dict[str, float] | None = None,
) -> dict[str, Any]:
    """``jump_probability.png`` and ``jump_saliency.png`` in ``run_dir``; returns their names and, with
    a jump class, ``early_answers`` (:func:`early_answers`: why P(jump) after the first frames means
    little; noted on the probability plot). ``train_shares``: class name → share of training clips."""
    from ..plots.video import plot_frame_probabilities, plot_saliency

    k = cfg.data.plot_clips
    if clips is None or k == 0 or len(clips) == 0:
        return {}
    model.eval()
    device = next(model.parameters()).device
    idx = pick_clips(clips, k)
    x = torch.from_numpy(clips.frames[idx]).float().div_(255.0).to(device)  # (k, T, C, S, S)
    names = clips.class_names
    pos = names.index("jump") if "jump" in names else None
    cls = [pos if pos is not None else int(clips.labels[i]) for i in idx]
    probs = np.stack([frame_probabilities(model, x[j : j + 1], c)[0] for j, c in enumerate(cls)])
    with torch.no_grad():
        pred = model(x).argmax(-1).tolist()
    label = f"P({names[pos]})" if pos is not None else "P(true class)"
    titles = [
        f"truth: {_describe(clips, i)}   model: {names[p]}   {label} at the end: {probs[j, -1]:.2f}"
        for j, (i, p) in enumerate(zip(idx, pred, strict=True))
    ]
    early = None
    if pos is not None:
        early = early_answers(model, clips, pos, (train_shares or {}).get(names[pos], float("nan")))
        note = early["note"]
    else:
        note = f"{label} after frame t is the model's answer had the clip ended there: only the answer after "
        note += "the last frame is trained, earlier ones are not"
    titles[0] = textwrap.fill(note + ".", 160) + "\n" + titles[0]
    highlight = None if clips.airborne is None else clips.airborne[idx]
    plot_frame_probabilities(
        clips.frames[idx],
        probs,
        run_dir / "jump_probability.png",
        titles=titles,
        highlight=highlight,
        label=label,
    )
    first = (
        0
        if pos is None
        else int(np.argmax([c == pos and clips.labels[i] == pos for i, c in zip(idx, cls, strict=True)]))
    )
    sal = saliency(model, x[first], cls[first])
    title = titles[first].split("\n")[-1]
    path = run_dir / "jump_saliency.png"
    plot_saliency(clips.frames[idx[first]], sal, path, title=title, target=names[cls[first]])
    out: dict[str, Any] = {
        "probability_plot": "jump_probability.png",
        "saliency_plot": "jump_saliency.png",
        "plotted_clips": [int(i) for i in idx],
    }
    return out | ({"early_answers": early} if early is not None else {})
