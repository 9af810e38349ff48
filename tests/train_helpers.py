"""Shared pieces of the trainer tests: a tiny LSTM tagger, a language-model loss, batches."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnkit
from rnnkit.train import Callback, LossOutput


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from threads, and on a busy machine OpenMP's spinning threads slow
    every op by orders of magnitude."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class TinyTagger(nn.Module):
    """Embedding → rnnkit LSTM → linear; logits for every step."""

    def __init__(self, vocab: int = 7, hidden: int = 12, layers: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, 6)
        self.rnn = rnnkit.LSTM(6, hidden, layers, batch_first=True, dropout=dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state=None):
        out, state = self.rnn(self.emb(x), state)
        return self.head(out), state


def lm_loss(model, batch, state):
    x, y = batch
    logits, state = model(x, state)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1))
    return LossOutput(loss, count=y.numel(), metrics={"bpc": float(loss.detach()) / math.log(2)}, state=state)


def batches(
    n: int = 4, B: int = 3, T: int = 5, vocab: int = 7, seed: int = 1
) -> list[tuple[torch.Tensor, ...]]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        x = torch.randint(0, vocab, (B, T), generator=g)
        out.append((x, torch.roll(x, -1, dims=1)))
    return out


class Rows(Callback):
    def __init__(self) -> None:
        self.train: list[dict] = []
        self.val: list[dict] = []

    def on_step_end(self, trainer, row):
        self.train.append(row)

    def on_eval_end(self, trainer, row):
        self.val.append(row)
