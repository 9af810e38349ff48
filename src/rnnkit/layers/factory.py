"""Any registered cell's multi-layer network by name."""

from __future__ import annotations

from ..cells.registry import get_cell
from .base import LayerBase
from .recurrent import RecurrentLayer


def create_layer(cell: str, input_size: int, hidden_size: int, **kwargs: object) -> LayerBase:
    """A multi-layer network of any registered cell by name: ``create_layer("gru", 8, 32, num_layers=2)``."""
    entry = get_cell(cell)
    if kwargs.get("proj_size") and not entry.make_spec().supports_proj:
        raise ValueError(f"proj_size is supported only by LSTM-like cells, not {cell!r}")
    cls = entry.layer_class()
    if cls is RecurrentLayer:
        return RecurrentLayer(cell, input_size, hidden_size, **kwargs)
    # a layer class bound to its cell (rnnkit.LSTM, rnnkit.URLSTM, …): the entry's options as keywords
    opts = {k: v for k, v in entry.options.items() if k not in kwargs}
    return cls(input_size, hidden_size, **opts, **kwargs)
