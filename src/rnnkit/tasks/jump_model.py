"""Models of the ``jump`` task: a small per-frame CNN, the sequence model built on it, and the per-frame
baseline (the same CNN judging frames on their own) that shows no single frame answers the question.

Shape legend: B = clips, T = frames per clip, C = channels, S = frame size, F = features per frame,
K = classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models import SequenceClassifier


class FrameCNN(nn.Module):
    """Three stride-2 3×3 convolutions (widths w, 2w, 4w; batch norm, ReLU) → flatten → linear → ReLU.

    The flatten (not a global pooling) keeps *where* things are in the frame — the dog's height
    relative to the horizon is what a jump changes. Input (N, C, S, S) with S divisible by 8.
    """

    def __init__(self, channels: int, size: int, width: int = 8, features: int = 64) -> None:
        super().__init__()
        if size % 8:
            raise ValueError(f"frame size must be divisible by 8 for the frame CNN, got {size}")
        layers: list[nn.Module] = []
        c_in = channels
        for c_out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            c_in = c_out
        self.conv = nn.Sequential(*layers)
        self.proj = nn.Linear(4 * width * (size // 8) ** 2, features)
        self.features = features

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.proj(self.conv(x).flatten(1)))  # (N, C, S, S) → (N, F)


def build_sequence_model(
    channels: int,
    size: int,
    num_classes: int,
    *,
    width: int = 8,
    features: int = 64,
    hidden_size: int = 64,
    num_layers: int = 1,
    cell: str = "lstm",
    dropout: float = 0.0,
    backend: str = "auto",
) -> SequenceClassifier:
    """Per-frame CNN → recurrent layer → last valid state → linear: clip logits (B, K)."""
    return SequenceClassifier(
        features,
        num_classes,
        hidden_size,
        num_layers,
        cell,
        dropout=dropout,
        pooling="last",
        encoder=FrameCNN(channels, size, width, features),
        backend=backend,
    )


class FrameClassifier(nn.Module):
    """The per-frame baseline: the same CNN and a linear layer on every frame on its own, no recurrence.

    ``forward`` gives per-frame logits (B, T, K); a clip's label is read from them by averaging the
    per-frame log-probabilities (``pool="mean"``) or taking each class's largest per-frame probability
    (``pool="max"``, "was there any frame that looked like it?").
    """

    def __init__(
        self, channels: int, size: int, num_classes: int, width: int = 8, features: int = 64
    ) -> None:
        super().__init__()
        self.encoder = FrameCNN(channels, size, width, features)
        self.head = nn.Linear(features, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        B, T = x.shape[:2]
        return self.head(self.encoder(x.flatten(0, 1))).view(B, T, -1)  # (B, T, K)

    @staticmethod
    def pool(frame_logits: Tensor, how: str) -> Tensor:
        """Clip scores (B, K) from per-frame logits (B, T, K)."""
        logp = frame_logits.log_softmax(-1)
        if how == "mean":
            return logp.mean(dim=1)
        if how == "max":
            return logp.amax(dim=1)
        raise ValueError(f"pool must be 'mean' or 'max', got {how!r}")


def train_frame_baseline(
    model: FrameClassifier,
    batches,
    steps: int,
    lr: float = 3e-3,
    progress: bool = False,
) -> FrameClassifier:
    """Fit the per-frame baseline: every frame of a clip is trained to predict the clip's label.

    ``batches`` is an iterator factory ``epoch -> iterable of (x (B, T, C, S, S), y (B,))``.
    """
    from tqdm import tqdm

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=max(steps, 1), pct_start=0.1)
    model.train()
    done, epoch = 0, 0
    with tqdm(total=steps, desc="per-frame baseline", unit="step", disable=not progress, leave=False) as bar:
        while done < steps:
            for x, y in batches(epoch):
                logits = model(x)  # (B, T, K)
                loss = F.cross_entropy(logits.flatten(0, 1), y.repeat_interleave(x.shape[1]))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                sched.step()
                done += 1
                bar.update()
                if done >= steps:
                    break
            epoch += 1
    return model.eval()
