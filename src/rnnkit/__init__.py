"""rnnkit: recurrent neural networks made inspectable and fast.

Cells written from their equations, drop-in ``torch.nn`` layers with per-step gate tracing, and a
generic runner that puts any cell on any backend.
"""

from . import models
from .cells import (
    CellModule,
    CellSpec,
    GRUCell,
    LSTMCell,
    RNNCell,
    URGRUCell,
    URLSTMCell,
    get_cell,
    list_cells,
    register_cell,
    unregister_cell,
)
from .layers import GRU, LSTM, RNN, URGRU, URLSTM, MinGRU, MinLSTM, RecurrentLayer, Trace, create_layer
from .run import Run, load_run
from .scan import LayerWeights, backend_status, backends

__version__ = "0.1.0"

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "URGRU",
    "URLSTM",
    "CellModule",
    "CellSpec",
    "GRUCell",
    "LSTMCell",
    "LayerWeights",
    "MinGRU",
    "MinLSTM",
    "RNNCell",
    "RecurrentLayer",
    "Run",
    "Trace",
    "URGRUCell",
    "URLSTMCell",
    "__version__",
    "backend_status",
    "backends",
    "create_layer",
    "get_cell",
    "list_cells",
    "load_run",
    "models",
    "register_cell",
    "unregister_cell",
]
