"""What ``rnnkit export`` needs from a trained run of each task: an example input where the model reads
something other than feature vectors (frames, one-hot token ids), the natural time length, and the facts
a user of the exported file needs — vocabulary, scalers, feature names, window — for the JSON sidecar.

Tasks not listed here get random feature-vector examples and their saved task state verbatim.

Shape legend: B = batch, T = time steps, F = features, C = channels, S = frame size.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from .part import example_batch

if TYPE_CHECKING:
    from ..tasks.runner import LoadedRun


@dataclass
class TaskExport:
    """Export inputs and sidecar facts of one run.

    Attributes:
        example: a (B, T, ...) input batch for whole-sequence models, or None (random features).
        steps: the time length (window, sequence or source length) of a random example, or None.
        metadata: JSON-able facts written under ``"model"`` in the sidecar.
    """

    example: Tensor | None = None
    steps: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def _text(run: LoadedRun) -> TaskExport:
    chars = list(run.state["chars"])
    return TaskExport(
        metadata={
            "vocab": {"itos": chars},
            "default_prime": run.state.get("default_prime"),
            "usage": "characters -> ids with itos.index(ch); feed the prime one id at a time from zero "
            "state, then each chosen id; logits are next-character scores",
        }
    )


def _music(run: LoadedRun) -> TaskExport:
    from ..data.music_vocab import BOS, SPECIALS, UNK

    return TaskExport(
        metadata={
            "vocab": {
                "specials": list(SPECIALS),
                "bos": BOS,
                "unk": UNK,
                "events": run.state["vocab"],
                "event_ids_start_at": len(SPECIALS),
            },
            "event": "[MIDI pitch or null for a rest, duration in quarter notes]; id = index in events + 2",
            "pitch_range": run.state["pitch_range"],
            "usage": "start from the <s> token (id 0) or a melody's ids; feed one id at a time",
        }
    )


def _compose(run: LoadedRun) -> TaskExport:
    from ..data.compose import BOS, EOS, PAD, UNK

    itos = json.loads(run.state["vocab"])["itos"]
    meta = {
        "vocab": {"itos": itos, "pad": PAD, "bos": BOS, "eos": EOS, "unk": UNK},
        "max_prefix": run.state["max_prefix"],
        "max_continuation": run.cfg.data.max_continuation,
        "usage": "tokenize the typed text, keep its last max_prefix ids as src; decode from token = bos, "
        "feeding each argmax back, until eos or max_continuation tokens",
    }
    return TaskExport(steps=int(run.state["max_prefix"]), metadata=meta)


def _forecast(run: LoadedRun, features: list[str]) -> TaskExport:
    sc = run.state["scalers"]
    W = int(run.state["window"])
    mean, std = torch.tensor(sc["input_mean"]), torch.tensor(sc["input_std"])
    example = mean + std * torch.randn(example_batch(W), W, len(features), generator=_gen())  # raw units
    meta = {
        "window": W,
        "horizon_steps": int(run.state["horizon_steps"]),
        "features": features,
        "scalers": sc,
        "usage": "window = the last `window` rows of the raw features, oldest first; the forecast comes "
        "out in the original units (the scalers are inside the graph, listed here for reference)",
    }
    for key in ("horizons", "tickers", "unit"):
        if key in run.state:
            meta[key] = run.state[key]
    return TaskExport(example=example.to(torch.float32), steps=W, metadata=meta)


def _jump(run: LoadedRun) -> TaskExport:
    st = run.state
    T, C, S = int(st["frames"]), int(st["channels"]), int(st["size"])
    example = torch.rand(example_batch(T), T, C, S, S, generator=_gen())
    meta = {
        "class_names": st["class_names"],
        "frames": T,
        "channels": C,
        "size": S,
        "usage": "x = clips (batch, frames, channels, size, size) with pixel values in [0, 1]",
    }
    return TaskExport(example=example, steps=T, metadata=meta)


def _adding(run: LoadedRun) -> TaskExport:
    T = int(run.state["length"])
    x = torch.rand(example_batch(T), T, 2, generator=_gen())
    x[..., 1] = (x[..., 1] > 0.9).float()  # the marker channel
    return TaskExport(
        example=x,
        steps=T,
        metadata={
            "length": T,
            "usage": "x[..., 0] the numbers, x[..., 1] the two markers; logits[:, 0] the sum",
        },
    )


def _copy(run: LoadedRun) -> TaskExport:
    from ..data.synthetic import COPY_CLASSES, COPY_LENGTH, COPY_VOCAB

    T = int(run.state["lag"]) + 2 * COPY_LENGTH
    x = torch.randint(0, COPY_VOCAB, (example_batch(T), T), generator=_gen())
    meta = {
        "lag": run.state["lag"],
        "input_vocab": COPY_VOCAB,
        "classes": COPY_CLASSES,
        "usage": "x = int64 symbol ids (batch, lag + 20); logits per step over the classes",
    }
    return TaskExport(example=x, steps=T, metadata=meta)


def _seqdigits(run: LoadedRun) -> TaskExport:
    from ..data.digits import CLASSES, PIXELS, pixel_permutation

    x = torch.rand(example_batch(PIXELS), PIXELS, 1, generator=_gen())
    permuted = bool(run.state.get("permuted"))
    meta = {
        "pixels": PIXELS,
        "classes": CLASSES,
        "permuted": permuted,
        "usage": "x = the 8x8 image's grey levels / 16, one pixel per step (batch, 64, 1): row by row, or "
        "for a permuted run x[:, pixel_order]",
    }
    if permuted:
        meta["pixel_order"] = pixel_permutation().tolist()
    return TaskExport(example=x, steps=PIXELS, metadata=meta)


def task_export(run: LoadedRun) -> TaskExport:
    """Example, time length and sidecar facts for a loaded run (see the module docstring)."""
    name = run.task.name
    if name == "text":
        out = _text(run)
    elif name == "music":
        out = _music(run)
    elif name == "compose":
        out = _compose(run)
    elif name == "stocks":
        from ..data.stocks import FEATURES

        out = _forecast(run, list(FEATURES))
    elif name == "series":
        out = _forecast(run, list(run.state["features"]))
    elif name == "jump":
        out = _jump(run)
    elif name == "adding":
        out = _adding(run)
    elif name == "copy":
        out = _copy(run)
    elif name == "seqdigits":
        out = _seqdigits(run)
    else:
        out = TaskExport(metadata={"task_state": run.state})
    p = next(run.model.parameters())
    if out.example is not None:
        out.example = out.example.to(
            p.device, p.dtype if out.example.is_floating_point() else out.example.dtype
        )
    out.metadata = {"task": name, "run": run.run_dir.name, "checkpoint": run.checkpoint.name, **out.metadata}
    return out
