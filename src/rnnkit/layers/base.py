"""What every rnnkit layer shares, whatever runs its steps: ``torch.nn.RNNBase``'s constructor checks and
attributes, torch's parameter names per layer and direction, the repr, the dtype rule, input layouts
(batch_first, unbatched, PackedSequence, ``lengths=``), the loop over layers and directions (reversal,
dropout between layers), ``forward()`` and ``trace()``.

Two runners build on it and differ only in how one direction of one layer runs over time
(:meth:`LayerBase._direction`) and in ``step()``:

- :class:`rnnkit.RecurrentLayer` — cells with a recurrent weight: a backend's scan (``scan/``);
- :class:`rnnkit.layers.parallel.ParallelLayer` — cells without one (minGRU, minLSTM): one parallel
  log-space scan.

Shape legend: T = time steps, B = batch, I = input size, H = hidden size, P = output size per direction
(proj_size or H), L = num_layers, D = num_directions (1 or 2).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .._checks import check_layer_args
from .._pickle import PlainPickleMixin
from ..cells.base import CellSpec, State
from ..scan.backends import check_backend_name
from ..scan.inputs import Prepared, finish_output, finish_state, prepare_input, reverse_time, time_mask
from ..scan.reference import ScanResult

#: the Module method that converts a layer to a dtype (what a dtype-mismatch message suggests)
_DTYPE_METHODS = {
    torch.float64: "double",
    torch.float32: "float",
    torch.float16: "half",
    torch.bfloat16: "bfloat16",
}

#: runs one direction of one layer: (layer, direction, input (T, B, ·) in time order, initial state)
DirectionFn = Callable[[int, int, Tensor, State], ScanResult]


@dataclass
class Trace:
    """Everything a layer computed, step by step (``layer.trace(x)``).

    Attributes:
        output, state: exactly what ``layer(x)`` returns.
        hiddens: hidden output of every layer and direction, (L*D, T, B, P), time in input order.
        cells: cell states (L*D, T, B, H) for LSTM-like cells, else None.
        gates: gate name -> (L*D, T, B, H); names as in the cell's ``gate_names``.
        lengths: (B,) lengths used, or None when every sequence is full length.
    Padded steps (t >= lengths[b]) are zero in hiddens, cells and gates. For an unbatched input the B
    dimension is dropped.
    """

    output: Tensor | PackedSequence
    state: Tensor | tuple[Tensor, ...]
    hiddens: Tensor
    cells: Tensor | None
    gates: dict[str, Tensor]
    lengths: Tensor | None


def autocast_on(x: Tensor) -> bool:
    """Whether autocast is on for ``x``'s device (False for devices torch keeps no autocast state for,
    such as ``meta``)."""
    if x.device.type not in ("cpu", "cuda", "xpu", "mps", "hpu"):
        return False
    return torch.is_autocast_enabled(x.device.type)


def autocast_state(hx: object, x: object) -> object:
    """Under autocast for the input's device, an initial state in another autocast-eligible dtype than the
    input (e.g. a bf16 state carried over from the previous chunk) is brought to the input's dtype, as
    torch's layers accept it there; outside autocast, and for float64, dtypes must match exactly."""
    if hx is None or not isinstance(x, Tensor) or not x.is_floating_point() or x.dtype == torch.float64:
        return hx
    if not autocast_on(x):
        return hx

    def fit(t: object) -> object:
        eligible = isinstance(t, Tensor) and t.is_floating_point() and t.dtype != torch.float64
        return t.to(x.dtype) if eligible and t.dtype != x.dtype else t

    if isinstance(hx, tuple | list):
        return type(hx)(fit(t) for t in hx)
    return fit(hx)


def _reversed(res: ScanResult, lengths: Tensor | None) -> ScanResult:
    """A reverse direction's result put back in input time order (each sequence within its length)."""
    return ScanResult(
        output=reverse_time(res.output, lengths),
        state=res.state,
        cells=None if res.cells is None else reverse_time(res.cells, lengths),
        gates=None if res.gates is None else {n: reverse_time(g, lengths) for n, g in res.gates.items()},
    )


class LayerBase(PlainPickleMixin, nn.Module):
    """The shared part of rnnkit's multi-layer networks (see the module docstring); not used directly."""

    #: whether ``backend=`` chooses what runs the scan (then the repr shows a non-default one)
    uses_backend: ClassVar[bool] = True
    spec: CellSpec

    def _setup(
        self,
        make_spec: Callable[[], CellSpec],
        input_size: int,
        hidden_size: int,
        num_layers: int,
        bias: bool,
        batch_first: bool,
        dropout: float,
        bidirectional: bool,
        proj_size: int,
        backend: str,
    ) -> None:
        """Check torch's constructor arguments (its messages), build the spec, set torch's attributes."""
        check_layer_args(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size
        )
        self.spec = make_spec()
        if proj_size and not self.spec.supports_proj:
            raise ValueError(f"proj_size is supported only by LSTM-like cells, not {self.spec.name!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout, self.proj_size = float(dropout), proj_size
        self.backend = check_backend_name(backend)
        self.mode = self.spec.name.upper()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        """P: the hidden output per direction (``proj_size`` or ``hidden_size``)."""
        return self.proj_size or self.hidden_size

    @staticmethod
    def suffix(layer: int, direction: int) -> str:
        """torch's parameter-name suffix: ``_l0``, ``_l1_reverse`` …"""
        return f"_l{layer}{'_reverse' if direction else ''}"

    def slots(self) -> Iterator[tuple[int, int, str, int]]:
        """``(layer, direction, suffix, input size of that layer)`` in torch's parameter order."""
        for layer in range(self.num_layers):
            layer_in = self.input_size if layer == 0 else self.output_size * self.num_directions
            for d in range(self.num_directions):
                yield layer, d, self.suffix(layer, d), layer_in

    def flatten_parameters(self) -> None:
        """No-op, for scripts written for ``torch.nn.LSTM`` (weights are never re-packed here)."""

    def _options(self) -> dict[str, object]:
        """The cell's and the runner's non-default options, for the repr."""
        return {}

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for k, v in self._options().items():
            s += f", {k}={v!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.uses_backend and self.backend != "auto":
            s += f", backend={self.backend!r}"
        return s

    # -- inputs ------------------------------------------------------------------------------------------
    def _check_dtype(self, x: object) -> None:
        """The input must have the layer's dtype, as in ``torch.nn.LSTM`` (nothing is cast silently);
        under autocast for the input's device the matrix products cast both, so float16/bfloat16/float32
        inputs are accepted there (a float64 one still must meet float64 weights)."""
        weight = self.weight_ih_l0
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dtype == weight.dtype:
            return  # prepare_input reports what is not a floating-point tensor
        if autocast_on(x) and torch.float64 not in (x.dtype, weight.dtype):
            return
        raise TypeError(
            f"input dtype {x.dtype} does not match the layer's dtype {weight.dtype}: call "
            f".{_DTYPE_METHODS.get(x.dtype, 'to')}() on the layer or cast the input "
            f"(input.{_DTYPE_METHODS.get(weight.dtype, 'to')}())"
        )

    def _state_sizes(self) -> tuple[int, ...]:
        """The size of each state component: h (P,), then c (H,) for LSTM-like cells."""
        return (self.output_size, self.hidden_size)[: len(self.spec.state_names)]

    def _prepare(self, input, hx, lengths) -> Prepared:
        x = input.data if isinstance(input, PackedSequence) else input
        self._check_dtype(x)
        return prepare_input(
            input,
            autocast_state(hx, x),
            lengths,
            input_size=self.input_size,
            batch_first=self.batch_first,
            state_sizes=self._state_sizes(),
            state_names=self.spec.state_names,
            num_states=self.num_layers * self.num_directions,
        )

    def _step_input(self, input: object) -> object:
        """``step()``'s (B, I) or (I,) input as a one-step sequence in the layer's layout."""
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional network (bidirectional=True reads the future)")
        if isinstance(input, Tensor) and input.dim() in (1, 2):
            input = input.unsqueeze(-2)  # (1, I) or (B, 1, I): one step
            if not self.batch_first and input.dim() == 3:
                input = input.transpose(0, 1)  # (1, B, I)
        return input

    # -- autocast dtypes (torch.nn's rules for its twins; None: the math's own dtypes) ------------------
    def _autocast_dtype(self, x: Tensor, packed: bool) -> tuple[torch.dtype, tuple[torch.dtype, ...]] | None:
        return None

    @staticmethod
    def _cast(
        dtypes: tuple[torch.dtype, tuple[torch.dtype, ...]] | None, out: Tensor, state: State
    ) -> tuple[Tensor, State]:
        if dtypes is None:
            return out, state
        return out.to(dtypes[0]), tuple(s.to(d) for s, d in zip(state, dtypes[1], strict=True))

    # -- running -------------------------------------------------------------------------------------------
    def _direction(self, x: Tensor, mask: Tensor | None, record: bool) -> DirectionFn:
        """How this call runs one direction of one layer (decided once per call)."""
        raise NotImplementedError

    def _run(self, prep: Prepared, record: bool) -> tuple[Tensor, State, list[ScanResult]]:
        x, lengths = prep.x, prep.lengths  # (T, B, I)
        mask = time_mask(lengths, x.size(0), x.device)  # (T, B, 1) or None
        run = self._direction(x, mask, record)
        finals: list[list[Tensor]] = [[] for _ in prep.state]
        results: list[ScanResult] = []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                k = layer * self.num_directions + d
                xin = layer_input if d == 0 else reverse_time(layer_input, lengths)
                res = run(layer, d, xin, tuple(s[k] for s in prep.state))
                if d == 1:
                    res = _reversed(res, lengths)
                outs.append(res.output)  # (T, B, P)
                for store, s in zip(finals, res.state, strict=True):
                    store.append(s)
                results.append(res)
            layer_input = torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0]  # (T, B, D*P)
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        state = tuple(torch.stack(s) for s in finals)  # each (L*D, B, ·)
        return layer_input, state, results

    def forward(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, ...] | None = None,
        *,
        lengths: Tensor | list[int] | None = None,
    ):
        """Run the network. Returns ``(output, h_n)`` or ``(output, (h_n, c_n))`` exactly as torch does.

        ``lengths`` (kw-only, padded input only): the valid length of each sequence; outputs past it are
        zero and the final state is taken at each sequence's own last step.
        """
        prep = self._prepare(input, hx, lengths)
        out, state, _ = self._run(prep, record=False)
        out, state = self._cast(self._autocast_dtype(prep.x, prep.packed is not None), out, state)
        return finish_output(prep, out, self.batch_first), finish_state(prep, state)

    def trace(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, ...] | None = None,
        *,
        lengths: Tensor | list[int] | None = None,
    ) -> Trace:
        """Run the network with the reference math and return every hidden state, cell state and gate at
        every step (see :class:`Trace`). Differentiable, like ``forward``."""
        prep = self._prepare(input, hx, lengths)
        out, state, results = self._run(prep, record=True)
        out, state = self._cast(self._autocast_dtype(prep.x, prep.packed is not None), out, state)
        hiddens = torch.stack([r.output for r in results])  # (L*D, T, B, P)
        cells = torch.stack([r.cells for r in results]) if self.spec.has_cell_state else None
        gates = {n: torch.stack([r.gates[n] for r in results]) for n in self.spec.gate_names}
        if not prep.batched:
            hiddens = hiddens.squeeze(2)
            cells = None if cells is None else cells.squeeze(2)
            gates = {n: g.squeeze(2) for n, g in gates.items()}
        return Trace(
            output=finish_output(prep, out, self.batch_first),
            state=finish_state(prep, state),
            hiddens=hiddens,
            cells=cells,
            gates=gates,
            lengths=prep.lengths,
        )
