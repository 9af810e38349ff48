"""rnnkit's recurrent layers, all in one place.

- ``base.py``: :class:`LayerBase`, what every layer shares (torch's constructor, checks, layouts, the
  loop over layers and directions, ``forward``, ``trace``), and :class:`Trace`;
- ``recurrent.py``: :class:`RecurrentLayer`, the runner for any cell with a recurrent weight (a
  backend's scan over time, ``step()`` for generation);
- ``parallel.py``: :class:`ParallelLayer`, the runner for cells without one (one log-space scan);
- ``classic.py`` (RNN, LSTM, GRU: drop-ins for torch.nn's), ``ur.py`` (URLSTM, URGRU), ``min.py``
  (MinGRU, MinLSTM): each a runner bound to its cell with torch's constructor;
- ``factory.py``: :func:`create_layer`, any registered cell's network by name.
"""

from .base import LayerBase, Trace
from .classic import GRU, LSTM, RNN
from .factory import create_layer
from .min import MinGRU, MinLSTM
from .parallel import ParallelLayer
from .recurrent import RecurrentLayer
from .ur import URGRU, URLSTM

__all__ = [
    "GRU",
    "LSTM",
    "RNN",
    "URGRU",
    "URLSTM",
    "LayerBase",
    "MinGRU",
    "MinLSTM",
    "ParallelLayer",
    "RecurrentLayer",
    "Trace",
    "create_layer",
]

# pickles (``torch.save`` of a whole model) name these classes by this package, a path that stays put
# however the modules inside it are arranged
for _cls in (GRU, LSTM, RNN, URGRU, URLSTM, LayerBase, MinGRU, MinLSTM, ParallelLayer, RecurrentLayer, Trace):
    _cls.__module__ = __name__
del _cls
