"""Shared helpers for the test-suite: registry-driven parametrisation and torch twins."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.cells.registry import get_cell, list_cells

ALL_CELLS = list_cells()
TWIN_CELLS = [n for n in ALL_CELLS if get_cell(n).torch_twin is not None]


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def torch_twin(name: str, input_size: int, hidden_size: int, **kw) -> torch.nn.RNNBase:
    """The torch.nn layer equivalent to registry cell ``name``."""
    entry = get_cell(name)
    cls = getattr(torch.nn, entry.torch_twin)
    opts = dict(entry.options)
    return cls(input_size, hidden_size, **opts, **kw)


def make_layer(name: str, input_size: int, hidden_size: int, **kw) -> rnnkit.RecurrentLayer:
    return rnnkit.create_layer(name, input_size, hidden_size, **kw)


def states(state) -> tuple[torch.Tensor, ...]:
    return state if isinstance(state, tuple) else (state,)
