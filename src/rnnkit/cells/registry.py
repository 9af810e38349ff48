"""The cell registry: name -> cell. Tests, the CLI and the models iterate over it, so a cell added here
is covered by every generic test (parity where a torch twin exists, gradcheck, backend equivalence,
padded ≡ alone, trace recomputes the outputs).

Adding a cell (``tests/test_add_a_cell.py`` does exactly this at run time, with a toy cell):

1. A :class:`~rnnkit.cells.base.CellSpec` subclass in its own file, the equations in its docstring:
   ``name``, ``gate_names`` (what ``trace()`` reports), ``num_chunks`` (row blocks G of W and U),
   ``state_names`` (``("h",)`` or ``("h", "c")``), and ``pointwise(xg, hg, state, extras, record)`` —
   the elementwise step from ``W x + b_ih`` and ``U h + b_hh`` (each (B, G*H)) to the new state.
2. A single-step module: a :class:`~rnnkit.cells.base.CellModule` subclass that passes its spec.
3. ``register_cell(CellEntry(name, Spec, Cell, "rnnkit.layers:RecurrentLayer"))`` — or a layer class
   bound to the cell, as ``rnnkit.layers:LSTM`` is. From then on ``rnnkit.create_layer(name, …)``, the
   models' ``cell=`` option, ``rnnkit train --set model.cell=NAME`` and the generic tests take it.
4. Optional, for speed: a fused functor named by ``CellSpec.kernel`` in ``scan/cpu/csrc/cells.h``; without
   one the cell runs on the reference backend (the cpu backend's equivalence tests then cover it too).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

from .._pickle import register_plain
from .base import CellModule, CellSpec
from .gru import GRUCell, GRUSpec
from .lstm import LSTMCell, LSTMSpec
from .min_rnn import MinGRUCell, MinGRUSpec, MinLSTMCell, MinLSTMSpec
from .rnn import RNNCell, RNNSpec
from .ur_gru import URGRUCell, URGRUSpec
from .ur_lstm import URLSTMCell, URLSTMSpec


@dataclass(frozen=True)
class CellEntry:
    """One registered cell.

    Attributes:
        name: registry name (``"lstm"``).
        spec: factory of the cell's :class:`CellSpec` (takes the cell options).
        cell: the single-step module class (``rnnkit.LSTMCell``).
        layer: ``"module:Class"`` of the multi-layer module (``rnnkit.layers:LSTM``).
        options: cell options fixed by this entry (``{"nonlinearity": "relu"}``).
        torch_twin: name of the equivalent ``torch.nn`` layer, or None.
    """

    name: str
    spec: Callable[..., CellSpec]
    cell: type[CellModule]
    layer: str
    options: dict[str, object] = field(default_factory=dict)
    torch_twin: str | None = None

    def make_spec(self, **options: object) -> CellSpec:
        """The cell's spec with this entry's options and ``options``; an option the cell does not have
        is a TypeError naming it and the cell's options."""
        known = [n for n in inspect.signature(self.spec).parameters if n != "self"]
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise TypeError(
                f"cell {self.name!r} has no option {', '.join(map(repr, unknown))}; "
                f"its options: {', '.join(known) or 'none'}"
            )
        return self.spec(**{**self.options, **options})

    def layer_class(self) -> type:
        module, _, cls = self.layer.partition(":")
        return getattr(importlib.import_module(module), cls)


_REGISTRY: dict[str, CellEntry] = {}


def register_cell(entry: CellEntry) -> CellEntry:
    """Add a cell to the registry (``entry.name`` must be new)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"cell name {entry.name!r} is already registered")
    _REGISTRY[entry.name] = entry
    return entry


def unregister_cell(name: str) -> CellEntry:
    """Remove a registered cell (a plugin unloading, a test cleaning up); returns its entry."""
    if name not in _REGISTRY:
        raise ValueError(f"no registered cell {name!r}; registered cells: {', '.join(list_cells())}")
    return _REGISTRY.pop(name)


def get_cell(name: str) -> CellEntry:
    """Look a cell up by name; unknown names raise a ValueError listing the known ones."""
    if not isinstance(name, str):
        raise TypeError(f"cell must be a registered cell name (str), got {type(name).__name__}")
    try:
        return _REGISTRY[name.lower()]
    except KeyError:
        raise ValueError(f"unknown cell {name!r}; registered cells: {', '.join(list_cells())}") from None


def list_cells() -> list[str]:
    """Names of all registered cells, in registration order."""
    return list(_REGISTRY)


register_cell(CellEntry("rnn", RNNSpec, RNNCell, "rnnkit.layers:RNN", {"nonlinearity": "tanh"}, "RNN"))
register_cell(CellEntry("rnn_relu", RNNSpec, RNNCell, "rnnkit.layers:RNN", {"nonlinearity": "relu"}, "RNN"))
register_cell(CellEntry("lstm", LSTMSpec, LSTMCell, "rnnkit.layers:LSTM", {}, "LSTM"))
register_cell(CellEntry("gru", GRUSpec, GRUCell, "rnnkit.layers:GRU", {}, "GRU"))
register_cell(CellEntry("lstm_peephole", LSTMSpec, LSTMCell, "rnnkit.layers:LSTM", {"peephole": True}))
register_cell(CellEntry("layernorm_lstm", LSTMSpec, LSTMCell, "rnnkit.layers:LSTM", {"layer_norm": True}))
register_cell(CellEntry("layernorm_gru", GRUSpec, GRUCell, "rnnkit.layers:GRU", {"layer_norm": True}))
register_cell(CellEntry("urlstm", URLSTMSpec, URLSTMCell, "rnnkit.layers:URLSTM"))
register_cell(CellEntry("urgru", URGRUSpec, URGRUCell, "rnnkit.layers:URGRU"))
register_cell(CellEntry("mingru", MinGRUSpec, MinGRUCell, "rnnkit.layers:MinGRU"))
register_cell(CellEntry("minlstm", MinLSTMSpec, MinLSTMCell, "rnnkit.layers:MinLSTM"))


# -- a registered cell's spec pickles as its name and options (see rnnkit._pickle) -----------------------
def _spec_to_plain(spec: CellSpec) -> tuple[str, dict[str, object]] | None:
    """``(name, options)`` when the registry rebuilds exactly this spec from them, else None (the spec
    then stays pickled as an object: a user's own unregistered ``CellSpec``)."""
    name, options = spec.name, dict(spec.options())
    try:
        rebuilt = get_cell(name).spec(**options)
    except (ValueError, TypeError):
        return None  # not in the registry (or not under this name): keep the object
    if type(rebuilt) is not type(spec) or vars(rebuilt) != vars(spec):
        return None  # options() does not describe this spec fully: keep the object
    return name, options


def _spec_from_plain(data: tuple[str, dict[str, object]]) -> CellSpec:
    name, options = data
    try:
        return get_cell(name).spec(**options)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"cannot rebuild the cell {name!r} with options {options!r} of a pickled rnnkit module "
            f"(is the cell registered, as when it was saved?): {err}"
        ) from err


register_plain("cell_spec", CellSpec, _spec_to_plain, _spec_from_plain)
