"""scikit-learn's handwritten digits (1,797 images of 8×8 pixels, 16 grey levels, ten classes) read as
sequences, one pixel per step: the small, real, offline cousin of pixel-by-pixel MNIST.

``seqdigits``: the 64 pixels in reading order (row by row), each scaled to [0, 1], so T = 64 and one
feature per step; a classifier must remember strokes from the top rows until the end. ``permuted``:
the same pixels in one FIXED random order (seed 0, the same for every run), which scatters
neighbouring pixels across the sequence and makes the dependencies long-range (as permuted MNIST).

The split is stratified by class and fixed (seed 0): 70% train (1,257), 15% validation (270),
15% test (270).

Example::

    splits = load_splits(permuted=True)
    x, y = splits["train"]                       # (1257, 64, 1) float32 in [0, 1], (1257,) int64
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

PIXELS = 64
CLASSES = 10
SPLIT_SEED = 0
PERMUTATION_SEED = 0


def pixel_permutation(seed: int = PERMUTATION_SEED) -> Tensor:
    """The fixed pixel order of the permuted task: a permutation of 0…63, (64,) int64."""
    return torch.from_numpy(np.random.default_rng(seed).permutation(PIXELS))


def load_splits(permuted: bool = False) -> dict[str, tuple[Tensor, Tensor]]:
    """``{"train"|"val"|"test": (x (N, 64, 1) float32 in [0, 1], y (N,) int64)}``."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    images = data.data.astype(np.float32) / 16.0  # (1797, 64), reading order
    labels = data.target.astype(np.int64)
    idx = np.arange(len(labels))
    train, rest = train_test_split(idx, test_size=0.3, stratify=labels, random_state=SPLIT_SEED)
    val, test = train_test_split(rest, test_size=0.5, stratify=labels[rest], random_state=SPLIT_SEED)
    x = torch.from_numpy(images)
    if permuted:
        x = x[:, pixel_permutation()]
    x = x.unsqueeze(-1)  # (N, 64, 1)
    y = torch.from_numpy(labels)
    return {name: (x[part], y[part]) for name, part in (("train", train), ("val", val), ("test", test))}
