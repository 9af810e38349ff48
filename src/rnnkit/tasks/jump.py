"""``jump``: video frames → "does the dog jump?" (many-to-one).

Clips come from the procedural generator (:mod:`rnnkit.data.video`: a dog running, walking, sitting
or jumping, with camera shake and bob, a bouncing ball and noise, built so that no single frame
answers the question) or from your own folders (``--data DIR``: one sub-folder per class holding video
files or folders of frame images). The model is a small per-frame CNN → LSTM →
:class:`~rnnkit.models.SequenceClassifier`.

Reported on validation and test: accuracy, next to the majority class and to the *per-frame baseline*
— the same CNN trained on frames alone, its per-frame predictions pooled by mean or max — fit in the
same run; and ``shuffled_accuracy``, the model's accuracy when the frames of every clip are put in a
random order (the order control: it falls to chance when the model relies on motion). After training,
``jump_probability.png`` shows P(jump) after each frame on test clips, ``jump_saliency.png`` where
the model looked.

    rnnkit train --task jump                     # ≈5 minutes on 2 CPU cores
    rnnkit train --task jump --preset tour       # ≈1.5 minutes
    rnnkit train --task jump --data my_clips/    # my_clips/<class>/<video or frame folder>
    rnnkit evaluate --task jump --split test
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._batches import batch_count, batch_indices
from ..train.config import Config, fraction, option
from ..train.outputs import LossOutput
from .base import Task, TaskData, ValSubset

if TYPE_CHECKING:
    from ..data.video import ClipSet


@dataclass
class JumpModelConfig:
    cell: str = option("lstm", "recurrent cell: any registered name (lstm, gru, rnn, urlstm, …)")
    hidden_size: int = option(64, "hidden units per recurrent layer", low=1)
    num_layers: int = option(1, "stacked recurrent layers", low=1)
    cnn_width: int = option(8, "channels of the first conv layer (then 2x, 4x)", low=1)
    frame_features: int = option(64, "features per frame from the CNN", low=1)
    dropout: float = option(0.0, "dropout between recurrent layers and before the output", low=0.0, high=1.0)
    backend: str = option("auto", "scan backend (auto picks the fastest usable)")


@dataclass
class JumpDataConfig:
    data_dir: str | None = option(None, "your own clips: DIR/<class>/<video file or frame folder>")
    frames: int = option(16, "frames per clip (user clips are resampled to this)", low=8)
    size: int = option(32, "frame size in pixels, divisible by 8 (user frames are resized)", low=8)
    channels: int = option(1, "1 = grayscale, 3 = RGB", choices=(1, 3))
    train_clips: int = option(4000, "generated training clips", low=1)
    val_clips: int = option(500, "generated validation clips", low=1)
    test_clips: int = option(1000, "generated test clips", low=1)
    data_seed: int = option(0, "seed of the generated clips (and of the split of user clips)")
    noise: float = option(0.05, "generator: largest per-pixel noise std", low=0.0)
    bob: float = option(0.15, "generator: largest camera bob (fraction of the frame)", low=0.0, high=1.0)
    val_frac: float = fraction(0.15, "user clips held out for validation")
    test_frac: float = fraction(0.15, "user clips held out for testing")
    batch_size: int = option(32, "clips per batch", low=1)
    baseline_steps: int = option(300, "training steps of the per-frame baseline (0 = skip it)", low=0)
    plot_clips: int = option(6, "test clips in the per-frame probability plot", low=0)


class ClipBatches:
    """Batches ``(x float (B, T, C, S, S) in [0, 1], y (B,))`` over a :class:`ClipSet`'s uint8 clips; a
    training source is shuffled by ``(seed, epoch)``. ``clips`` keeps the set (and its metadata)."""

    def __init__(self, clips: ClipSet, batch_size: int, *, shuffle: bool, seed: int = 0) -> None:
        self.clips = clips
        self.frames = torch.from_numpy(np.ascontiguousarray(clips.frames))  # (N, T, C, S, S) uint8
        self.labels = torch.from_numpy(clips.labels.astype(np.int64))
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed

    def __len__(self) -> int:
        return batch_count(len(self.labels), self.batch_size)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Tensor, Tensor]]:
        for idx in batch_indices(
            len(self.labels), self.batch_size, shuffle=self.shuffle, seed=self.seed, epoch=epoch, start=start
        ):
            yield self.frames[idx].float().div_(255.0), self.labels[idx]


def _split_user_clips(labels: np.ndarray, val_frac: float, test_frac: float, seed: int):
    """Stratified (train, val, test) index arrays: each class keeps at least one clip in every split."""
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        if len(idx) < 3:
            raise ValueError(f"every class needs at least 3 clips (train/val/test), class {c} has {len(idx)}")
        n_val = min(max(1, round(val_frac * len(idx))), len(idx) - 2)
        n_test = min(max(1, round(test_frac * len(idx))), len(idx) - 1 - n_val)
        parts[1].append(idx[:n_val])
        parts[2].append(idx[n_val : n_val + n_test])
        parts[0].append(idx[n_val + n_test :])
    return tuple(np.sort(np.concatenate(p)) for p in parts)


class JumpTask(Task):
    name = "jump"
    summary = "video clips → does the dog jump? (per-frame CNN → LSTM; per-frame and shuffled controls)"
    ModelConfig, DataConfig = JumpModelConfig, JumpDataConfig
    monitor, mode, item_name = "accuracy", "max", "clips"
    cli_flags: ClassVar[dict[str, tuple[str, str]]] = {
        "--data": ("data.data_dir", "jump: your own clips, DIR/<class>/<video file or frame folder>")
    }
    defaults: ClassVar[dict[str, Any]] = {
        "optim.lr": 3e-3,
        "optim.max_steps": 1500,
        "optim.max_minutes": 6.0,
        "optim.warmup_steps": 50,
        "optim.clip_norm": 1.0,
        "run.eval_every": 125,
        "run.checkpoint_every": 125,
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tour": {
            "data.train_clips": 2000,
            "data.val_clips": 300,
            "data.test_clips": 600,
            "data.baseline_steps": 150,
            "optim.max_steps": 400,
            "optim.max_minutes": 1.5,
            "run.eval_every": 100,
        },
        "smoke": {
            "data.train_clips": 24,
            "data.val_clips": 8,
            "data.test_clips": 8,
            "data.frames": 8,
            "data.batch_size": 8,
            "data.baseline_steps": 2,
            "data.plot_clips": 2,
            "model.hidden_size": 8,
            "model.cnn_width": 2,
            "model.frame_features": 8,
            "optim.max_steps": 4,
            "optim.max_minutes": None,
            "optim.warmup_steps": 1,
            "run.eval_every": 2,
        },
    }

    def __init__(self) -> None:
        # the per-frame baseline fitted on one training source: (that source, weakly held; the classifier)
        self._frame: tuple[weakref.ref, nn.Module | None] | None = None

    # -- data --------------------------------------------------------------------------------------
    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        from ..data.video import ClipConfig, make_clips

        d = cfg.data
        if d.size % 8:
            raise ValueError(f"data.size must be divisible by 8, got {d.size}")
        if d.data_dir:
            from ..data.videofiles import load_clip_folder

            clips = load_clip_folder(d.data_dir, d.frames, d.size, d.channels, progress=cfg.run.progress)
            if state and list(clips.class_names) != list(state["class_names"]):
                raise ValueError(
                    f"the classes in {d.data_dir!r} {list(clips.class_names)} differ from the trained "
                    f"model's {state['class_names']}"
                )
            tr, va, te = _split_user_clips(clips.labels, d.val_frac, d.test_frac, d.data_seed)
            splits = {"train": clips.subset(tr), "val": clips.subset(va), "test": clips.subset(te)}
            source = f"{d.data_dir} ({len(clips)} clips)"
        else:
            gen = ClipConfig(frames=d.frames, size=d.size, channels=d.channels, noise=d.noise, bob=d.bob)
            counts = {"train": d.train_clips, "val": d.val_clips, "test": d.test_clips}
            splits = {
                k: make_clips(n, gen, seed=3 * d.data_seed + i) for i, (k, n) in enumerate(counts.items())
            }
            source = "procedural clips (rnnkit.data.video)"
        names = list(splits["train"].class_names)
        sources = {
            k: ClipBatches(s, d.batch_size, shuffle=k == "train", seed=cfg.run.seed)
            for k, s in splits.items()
        }
        return TaskData(
            train=sources["train"],
            val=sources["val"],
            test=sources["test"],
            state={"class_names": names, "frames": d.frames, "size": d.size, "channels": d.channels},
            info={
                "source": source,
                "clips": " / ".join(f"{len(s):,}" for s in splits.values()) + " train/val/test",
                "frames": f"{d.frames} x {d.channels}x{d.size}x{d.size}",
                "classes": ", ".join(names),
            },
        )

    # -- model and loss ----------------------------------------------------------------------------
    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        from .jump_model import build_sequence_model

        m = cfg.model
        return build_sequence_model(
            state["channels"],
            state["size"],
            len(state["class_names"]),
            width=m.cnn_width,
            features=m.frame_features,
            hidden_size=m.hidden_size,
            num_layers=m.num_layers,
            cell=m.cell,
            dropout=m.dropout,
            backend=m.backend,
        )

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        x, y = batch  # (B, T, C, S, S), (B,)
        logits = model(x)  # (B, K)
        loss = F.cross_entropy(logits, y)
        acc = float((logits.argmax(-1) == y).float().mean())
        return LossOutput(loss, count=len(y), metrics={"accuracy": acc})

    @torch.no_grad()
    def evaluate(self, model: nn.Module, source: Any, cfg: Config, max_batches: int | None = None) -> dict:
        """Loss and accuracy, and the accuracy on the same clips with their frames shuffled."""
        device = next(model.parameters()).device
        g = torch.Generator().manual_seed(1234)
        loss = correct = shuffled = count = 0.0
        for i, (x, y) in enumerate(source.epoch(0)):
            if max_batches is not None and i >= max_batches:
                break
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += float((logits.argmax(-1) == y).sum())
            perm = torch.argsort(torch.rand(x.shape[:2], generator=g), dim=1).to(device)  # (B, T)
            mixed = x[torch.arange(len(x), device=device)[:, None], perm]
            shuffled += float((model(mixed).argmax(-1) == y).sum())
            count += len(y)
        return {"loss": loss / count, "accuracy": correct / count, "shuffled_accuracy": shuffled / count}

    # -- baselines ---------------------------------------------------------------------------------
    @torch.no_grad()
    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        """The majority class of the training clips, and the per-frame CNN (fitted once per training
        source) with its per-frame predictions pooled by mean and by max, on the clips of ``split``."""
        from .jump_model import FrameClassifier

        source = {"val": data.val, "test": data.test}.get(split)
        if source is None:
            return {}
        majority = int(torch.bincount(data.train.labels).argmax())
        out = {"majority": {"accuracy": float((source.labels == majority).float().mean())}}
        frame = self._frame_baseline(cfg, data)
        if frame is not None:
            logits = torch.cat([frame(x) for x, _ in source.epoch(0)])  # (N, T, K)
            for how in ("mean", "max"):
                pred = FrameClassifier.pool(logits, how).argmax(-1)
                out[f"per-frame {how}"] = {"accuracy": float((pred == source.labels).float().mean())}
        return out

    def _frame_baseline(self, cfg: Config, data: TaskData) -> nn.Module | None:
        """The per-frame CNN trained on ``data.train`` (None with ``data.baseline_steps`` 0)."""
        from .jump_model import FrameClassifier, train_frame_baseline

        if self._frame is not None and self._frame[0]() is data.train:
            return self._frame[1]
        d, m, st = cfg.data, cfg.model, data.state
        frame = None
        if d.baseline_steps > 0:
            torch.manual_seed(cfg.run.seed)
            frame = FrameClassifier(
                st["channels"], st["size"], len(st["class_names"]), m.cnn_width, m.frame_features
            )
            with torch.enable_grad():
                train_frame_baseline(
                    frame, lambda e: data.train.epoch(e), d.baseline_steps, cfg.optim.lr, cfg.run.progress
                )
        self._frame = (weakref.ref(data.train), frame)
        return frame

    def val_subset(self, cfg: Config, data: TaskData, batches: int) -> ValSubset:
        """The first ``batches`` batches' clips (validation runs in a fixed order)."""
        val = data.val
        k = min(len(val.labels), batches * val.batch_size)
        return ValSubset(
            ClipBatches(val.clips.subset(slice(0, k)), val.batch_size, shuffle=False), f"{k:,}-clip"
        )

    # -- outputs -----------------------------------------------------------------------------------
    def after_training(self, model: nn.Module, cfg: Config, data: TaskData, run_dir: Path) -> dict[str, Any]:
        from .jump_report import write_report

        return write_report(model, cfg, data, run_dir)
