"""Recurrent cells written from their equations, and the registry that names them."""

from .base import CellModule, CellSpec
from .gru import GRUCell, GRUSpec
from .lstm import LSTMCell, LSTMSpec
from .min_rnn import MinGRUCell, MinGRUSpec, MinLSTMCell, MinLSTMSpec
from .registry import CellEntry, get_cell, list_cells, register_cell, unregister_cell
from .rnn import RNNCell, RNNSpec
from .ur_gru import URGRUCell, URGRUSpec
from .ur_lstm import URLSTMCell, URLSTMSpec

__all__ = [
    "CellEntry",
    "CellModule",
    "CellSpec",
    "GRUCell",
    "GRUSpec",
    "LSTMCell",
    "LSTMSpec",
    "MinGRUCell",
    "MinGRUSpec",
    "MinLSTMCell",
    "MinLSTMSpec",
    "RNNCell",
    "RNNSpec",
    "URGRUCell",
    "URGRUSpec",
    "URLSTMCell",
    "URLSTMSpec",
    "get_cell",
    "list_cells",
    "register_cell",
    "unregister_cell",
]
