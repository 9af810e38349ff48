"""The one multi-layer, bidirectional, variable-length runner for ANY registered cell.

:class:`RecurrentLayer` owns the parameters under torch's names (``weight_ih_l0``,
``weight_hh_l0_reverse``, ``bias_ih_l1``, ``weight_hr_l0`` …) and runs, for each layer and direction,
(a) the input projection for all steps as one GEMM and (b+c) a backend's scan over time. It is the only
place that knows about layers, directions and lengths; cells know one step, backends one direction.

Shape legend: T = time steps, B = batch, I = input size, H = hidden size, P = output size per direction
(proj_size or H), L = num_layers, D = num_directions (1 or 2), G = row blocks of the cell's weights.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .._checks import check_layer_args
from .._pickle import PlainPickleMixin
from ..cells.base import CellSpec, State
from ..cells.init import orthogonal_blocks_
from ..cells.registry import get_cell
from .backends import ScanFn, check_backend_name, select_backend
from .inputs import Prepared, finish_output, finish_state, prepare_input, reverse_time, time_mask
from .native import supports as torch_supports
from .native import torch_layer
from .portable import capture_mode, portable_scan
from .reference import ScanResult, reference_scan, reference_step
from .regularize import Regularization
from .weights import LayerWeights

RECURRENT_INITS = ("uniform", "orthogonal")
#: the Module method that converts a layer to a dtype (what a dtype-mismatch message suggests)
_DTYPE_METHODS = {
    torch.float64: "double",
    torch.float32: "float",
    torch.float16: "half",
    torch.bfloat16: "bfloat16",
}


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


@dataclass(frozen=True)
class _Scans:
    """What runs a call's scans (``RecurrentLayer._scans``): a scan from xg or one from the layer input
    (the other None), and whether the scan takes the regularisers (``h_mask=``, ``zoneout=``)."""

    scan: ScanFn | None
    scan_input: ScanFn | None = None
    regularizes: bool = True


@dataclass
class _HeldPlan:
    """A layer's step plan and what it was made for (``RecurrentLayer._planned_step``)."""

    key: tuple  # (batch, dtype, device, backend, training, torch's threads)
    stamp: tuple[tuple[int, int], ...]  # (data_ptr, version) of each parameter
    params: tuple[int, ...]  # ids of the parameters
    refs: tuple[Tensor, ...]  # the parameters themselves (their ids stay theirs while held)
    plan: object  # the backend's plan, or None when it has none
    out: object = None  # the state the last planned step returned (as returned) ...
    state: tuple[Tensor, ...] = ()  # ... and as the plan takes it


#: each layer's step plan; weak so that it never travels with the layer (pickle, deepcopy, state_dict)
_STEP_PLANS: weakref.WeakKeyDictionary[nn.Module, _HeldPlan] = weakref.WeakKeyDictionary()


def _autocast_on(x: Tensor) -> bool:
    """Whether autocast is on for ``x``'s device (False for devices torch keeps no autocast state for,
    such as ``meta``)."""
    if x.device.type not in ("cpu", "cuda", "xpu", "mps", "hpu"):
        return False
    return torch.is_autocast_enabled(x.device.type)


def _autocast_state(hx: object, x: object) -> object:
    """Under autocast for the input's device, an initial state in another autocast-eligible dtype than the
    input (e.g. a bf16 state carried over from the previous chunk) is brought to the input's dtype, as
    torch's layers accept it there; outside autocast, and for float64, dtypes must match exactly."""
    if hx is None or not isinstance(x, Tensor) or not x.is_floating_point() or x.dtype == torch.float64:
        return hx
    if not _autocast_on(x):
        return hx

    def fit(t: object) -> object:
        eligible = isinstance(t, Tensor) and t.is_floating_point() and t.dtype != torch.float64
        return t.to(x.dtype) if eligible and t.dtype != x.dtype else t

    if isinstance(hx, tuple | list):
        return type(hx)(fit(t) for t in hx)
    return fit(hx)


class RecurrentLayer(PlainPickleMixin, nn.Module):
    """A multi-layer recurrent network over any registered cell, with ``torch.nn.RNNBase``'s interface.

    Args:
        cell: a registered cell name (``"lstm"``, ``"gru"``, ``"rnn"``, …) or a :class:`CellSpec`.
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size:
            as in ``torch.nn.LSTM``.
        backend: ``"auto"`` (fastest usable), ``"reference"``, or another name in ``rnnkit.backends()``.
        zoneout, recurrent_dropout, input_dropout: regularisers inside the recurrence, off by default
            (zoneout per step; variational dropout with one mask per sequence; see ``scan/regularize.py``).
        recurrent_init: ``"uniform"`` (torch's ±1/√H) or ``"orthogonal"`` (each gate block of U
            orthogonal).
        **cell_options: options of the cell (e.g. ``nonlinearity="relu"``, ``forget_bias=1.0``).
    """

    def __init__(
        self,
        cell: str | CellSpec,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        *,
        backend: str = "auto",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        zoneout: float | tuple[float, ...] = 0.0,
        recurrent_dropout: float = 0.0,
        input_dropout: float = 0.0,
        recurrent_init: str = "uniform",
        **cell_options: object,
    ) -> None:
        super().__init__()
        check_layer_args(
            input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, proj_size
        )
        self.spec = cell if isinstance(cell, CellSpec) else get_cell(cell).make_spec(**cell_options)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        if proj_size and not self.spec.supports_proj:
            raise ValueError(f"proj_size is supported only by LSTM-like cells, not {self.spec.name!r}")
        self.bias, self.batch_first, self.bidirectional = bool(bias), bool(batch_first), bool(bidirectional)
        self.dropout, self.proj_size = float(dropout), proj_size
        self.backend = check_backend_name(backend)
        self.mode = self.spec.name.upper()
        self.regularization = Regularization.make(
            zoneout, recurrent_dropout, input_dropout, self.spec.state_names
        )
        if recurrent_init not in RECURRENT_INITS:
            raise ValueError(f"recurrent_init must be one of {RECURRENT_INITS}, got {recurrent_init!r}")
        self.recurrent_init = recurrent_init

        kw = {"device": device, "dtype": dtype}
        D, H, G = self.num_directions, hidden_size, self.spec.num_chunks
        P = proj_size or hidden_size
        self._flat_weights_names: list[str] = []
        self._extra_names: list[tuple[str, str, str]] = []  # (suffix, attribute, spec name)
        for layer in range(num_layers):
            layer_in = input_size if layer == 0 else P * D
            for d in range(D):
                sfx = f"_l{layer}{'_reverse' if d else ''}"
                shapes = {f"weight_ih{sfx}": (G * H, layer_in), f"weight_hh{sfx}": (G * H, P)}
                if bias:
                    shapes |= {f"bias_ih{sfx}": (G * H,), f"bias_hh{sfx}": (G * H,)}
                if proj_size:
                    shapes[f"weight_hr{sfx}"] = (P, H)
                for name, shape in shapes.items():
                    self.register_parameter(name, nn.Parameter(torch.empty(shape, **kw)))
                    self._flat_weights_names.append(name)
                for name, (shape, is_buffer) in self.spec.extra_tensors(H).items():
                    t = torch.empty(shape, **kw)
                    if is_buffer:
                        self.register_buffer(name + sfx, t)
                    else:
                        self.register_parameter(name + sfx, nn.Parameter(t))
                    self._extra_names.append((sfx, name + sfx, name))
        self.reset_parameters()

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Parameters per layer and direction, in torch's order (compatibility with ``nn.RNNBase``)."""
        per = len(self._flat_weights_names) // (self.num_layers * self.num_directions)
        names = self._flat_weights_names
        return [[getattr(self, n) for n in names[k : k + per]] for k in range(0, len(names), per)]

    def reset_parameters(self) -> None:
        """torch's init: every parameter uniform in ±1/√H; then the cell's own init of its extras."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)
        with torch.no_grad():
            for _, attr, name in self._extra_names:
                self.spec.init_extra(name, getattr(self, attr), self.hidden_size)
            for layer in range(self.num_layers):
                for d in range(self.num_directions):
                    w_ih, b_ih, w_hh, b_hh, _, extras = self.weights(layer, d)
                    if self.recurrent_init == "orthogonal":
                        orthogonal_blocks_(w_hh, self.spec.num_chunks)
                    params = {"weight_ih": w_ih, "weight_hh": w_hh, "bias_ih": b_ih, "bias_hh": b_hh}
                    self.spec.init_parameters(params | extras, self.hidden_size)

    def flatten_parameters(self) -> None:
        """No-op, for scripts written for ``torch.nn.LSTM`` (weights are never re-packed here)."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for k, v in self.spec.options().items():
            s += f", {k}={v!r}"
        for k, v in self.regularization.options().items():
            s += f", {k}={v!r}"
        if self.recurrent_init != "uniform":
            s += f", recurrent_init={self.recurrent_init!r}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout:
            s += f", dropout={self.dropout}"
        if self.bidirectional:
            s += ", bidirectional=True"
        if self.backend != "auto":
            s += f", backend={self.backend!r}"
        return s

    # -- running ---------------------------------------------------------------------------------------
    def weights(self, layer: int, direction: int) -> LayerWeights:
        """The weights of one layer and direction: ``(weight_ih, bias_ih, weight_hh, bias_hh, weight_hr,
        extras)`` as a named tuple (missing ones None)."""
        sfx = f"_l{layer}{'_reverse' if direction else ''}"
        get = lambda n: getattr(self, n + sfx, None)  # noqa: E731
        extras = {name: getattr(self, attr) for s, attr, name in self._extra_names if s == sfx}
        return LayerWeights(
            get("weight_ih"), get("bias_ih"), get("weight_hh"), get("bias_hh"), get("weight_hr"), extras
        )

    def _prepare(self, input, hx, lengths) -> Prepared:
        x = input.data if isinstance(input, PackedSequence) else input
        self._check_dtype(x)
        hx = _autocast_state(hx, x)
        P = self.proj_size or self.hidden_size
        sizes = (P, self.hidden_size)[: len(self.spec.state_names)]
        return prepare_input(
            input,
            hx,
            lengths,
            input_size=self.input_size,
            batch_first=self.batch_first,
            state_sizes=sizes,
            state_names=self.spec.state_names,
            num_states=self.num_layers * self.num_directions,
        )

    def _check_dtype(self, x: object) -> None:
        """The input must have the layer's dtype, as in ``torch.nn.LSTM`` (nothing is cast silently);
        under autocast for the input's device the matrix products cast both, so float16/bfloat16/float32
        inputs are accepted there (a float64 one still must meet float64 weights)."""
        weight = self.weight_ih_l0
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.dtype == weight.dtype:
            return  # prepare_input reports what is not a floating-point tensor
        if _autocast_on(x) and torch.float64 not in (x.dtype, weight.dtype):
            return
        raise TypeError(
            f"input dtype {x.dtype} does not match the layer's dtype {weight.dtype}: call "
            f".{_DTYPE_METHODS.get(x.dtype, 'to')}() on the layer or cast the input "
            f"(input.{_DTYPE_METHODS.get(weight.dtype, 'to')}())"
        )

    def _autocast_dtype(self, x: Tensor, packed: bool) -> tuple[torch.dtype, tuple[torch.dtype, ...]] | None:
        """(output dtype, state dtypes) that ``torch.nn``'s layer of this cell returns under autocast for
        the input's device, or None outside autocast and for cells without a ``torch.nn`` twin (their
        dtypes are what the mixed-precision math gives: matrix products in the autocast dtype,
        elementwise updates promoted to the state's dtype).

        torch's CPU kernels (bf16 autocast): LSTM returns everything in the autocast dtype (oneDNN), but
        with a packed input everything in the input's dtype, and with a projection h in the autocast
        dtype and c in the input's; GRU returns the input's dtype; RNN the autocast dtype. On CUDA
        (cuDNN) all three return the autocast dtype."""
        device = x.device.type
        if x.dtype == torch.float64 or not _autocast_on(x):
            return None
        name = self.spec.name
        if name not in ("lstm", "gru", "rnn"):
            return None
        low, full = torch.get_autocast_dtype(device), x.dtype
        if device != "cpu" or name == "rnn":
            return low, (low,) * len(self.spec.state_names)
        weight = self.weight_ih_l0.dtype
        if full not in (low, weight):  # e.g. a float16 input under bf16: torch's CPU LSTM/GRU give weights'
            return weight, (weight,) * len(self.spec.state_names)
        if name == "gru":
            return full, (full,)
        if self.proj_size:
            return low, (low, full)
        return (full, (full, full)) if packed else (low, (low, low))

    @staticmethod
    def _cast(
        dtypes: tuple[torch.dtype, tuple[torch.dtype, ...]] | None, out: Tensor, state: State
    ) -> tuple[Tensor, State]:
        if dtypes is None:
            return out, state
        return out.to(dtypes[0]), tuple(s.to(d) for s, d in zip(state, dtypes[1], strict=True))

    def _scans(self, x: Tensor, mask: Tensor | None, record: bool) -> _Scans:
        """What runs this call's scans: the selected backend's, or while a graph is captured for another
        runtime what that runtime can run (see ``scan/portable.py``). Recording gates, and regularisers
        that change the recurrence, run the reference math."""
        capture = capture_mode()
        plain = not record and not self.regularization.changes_recurrence(self.training)
        if capture == "transform":
            return _Scans(reference_scan)
        if capture == "onnx":
            return _Scans(reference_scan if record else portable_scan)
        if capture == "torchscript":
            twin = mask is None and not self.proj_size and torch_supports(self.spec, x, False) is None
            return _Scans(None, torch_layer, regularizes=False) if plain and twin else _Scans(reference_scan)
        if not plain:
            return _Scans(reference_scan if record or capture is None else portable_scan)
        backend = select_backend(self.backend, self.spec, x, bool(self.proj_size))
        if capture == "export" and backend.export_scan is not None:
            return _Scans(backend.export_scan)
        return _Scans(backend.scan, backend.scan_input, regularizes=backend.regularizes)

    def _run(self, prep: Prepared, record: bool) -> tuple[Tensor, State, list[ScanResult]]:
        x, lengths = prep.x, prep.lengths  # (T, B, I)
        mask = time_mask(lengths, x.size(0), x.device)  # (T, B, 1) or None
        reg = self.regularization
        scans = self._scans(x, mask, record)
        finals: list[list[Tensor]] = [[] for _ in prep.state]
        results: list[ScanResult] = []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(self.num_directions):
                weights = self.weights(layer, d)
                k = layer * self.num_directions + d
                xin = layer_input if d == 0 else reverse_time(layer_input, lengths)
                in_mask = reg.input_mask(xin, self.training)  # (1, B, I) or None
                xin = xin if in_mask is None else xin * in_mask
                state0 = tuple(s[k] for s in prep.state)
                if scans.scan_input is not None:
                    res = scans.scan_input(self.spec, xin, state0, weights, mask)
                else:
                    xg = F.linear(xin, weights.weight_ih, weights.bias_ih)  # (T, B, G*H)
                    kwargs = {"record": True} if record else {}
                    if scans.regularizes:
                        kwargs |= reg.scan_kwargs(x.size(0), state0, self.training)
                    res = scans.scan(self.spec, xg, state0, weights.recurrent(), mask, **kwargs)
                if d == 1:
                    res = ScanResult(
                        output=reverse_time(res.output, lengths),
                        state=res.state,
                        cells=None if res.cells is None else reverse_time(res.cells, lengths),
                        gates=None
                        if res.gates is None
                        else {n: reverse_time(g, lengths) for n, g in res.gates.items()},
                    )
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

    def step(self, input: Tensor, hx: Tensor | tuple[Tensor, ...] | None = None):
        """Advance a unidirectional network by ONE time step, carrying the state (generation).

        ``input`` is (B, I) or unbatched (I,); ``hx`` as in ``forward`` (zeros when None). Returns
        ``(output_t, state)`` with output_t (B, P) — the same as ``forward`` on a length-1 sequence.
        """
        if self.bidirectional:
            raise ValueError("step() needs a unidirectional network (bidirectional=True reads the future)")
        planned = self._planned_step(input, hx)
        if planned is not None:
            return planned
        if isinstance(input, Tensor) and input.dim() in (1, 2):
            input = input.unsqueeze(-2)  # (1, I) or (B, 1, I): one step
            if not self.batch_first and input.dim() == 3:
                input = input.transpose(0, 1)  # (1, B, I)
        prep = self._prepare(input, hx, None)
        x = prep.x[0]  # (B, I)
        cast = self._autocast_dtype(x, False)
        fused = self._fused_step(x, prep.state)
        if fused is not None:
            out, fused = self._cast(cast, fused[0][-1], fused)  # out (B, P): h of the last layer
            return (out if prep.batched else out.squeeze(0)), finish_state(prep, fused)
        finals: list[list[Tensor]] = [[] for _ in prep.state]
        for layer in range(self.num_layers):
            weights = self.weights(layer, 0)
            state = tuple(s[layer] for s in prep.state)
            reg = self.regularization.scan_kwargs(1, state, self.training)  # h_mask / zoneout, if any
            in_mask = self.regularization.input_mask(x.unsqueeze(0), self.training)  # (1, B, I) or None
            xg = F.linear(x if in_mask is None else x * in_mask[0], weights.weight_ih, weights.bias_ih)
            new, _ = reference_step(self.spec, xg, state, weights, **reg)  # xg (B, G*H)
            for store, s in zip(finals, new, strict=True):
                store.append(s)
            x = new[0]
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        state = tuple(torch.stack(s) for s in finals)  # each (L, B, ·)
        x, state = self._cast(cast, x, state)
        return (x if prep.batched else x.squeeze(0)), finish_state(prep, state)

    def _planned_step(self, x: object, hx: object) -> tuple[Tensor, Tensor | tuple[Tensor, ...]] | None:
        """``step()`` of a generation loop with everything that depends only on the weights decided once
        (the backend, its kernel and threads, the packed weights: the backend's step plan, kept per
        layer while the parameters are the same tensors with the same data and version): for a batched
        (B, I) input in the layer's dtype, a state in the expected shapes (or None), nothing needing
        autograd, no regularisation, autocast or capture. None when the general path must take the
        call (it validates, and raises what is wrong)."""
        if torch.compiler.is_compiling():
            return None  # a compiled graph calls the step operator (the general path)
        if type(x) is not Tensor or x.dim() != 2 or x.size(1) != self.input_size:
            return None
        params = tuple(self._parameters.values())
        if torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in params)):
            return None
        if self.training and (self.regularization.active or (self.dropout and self.num_layers > 1)):
            return None
        if self.regularization.changes_recurrence(self.training) or capture_mode() is not None:
            return None
        if x.dtype != params[0].dtype or _autocast_on(x):
            return None
        held = _STEP_PLANS.get(self)
        if held is not None and hx is not None and hx is held.out and x.size(0) == held.key[0]:
            state = held.state  # the state this plan returned last: already checked
        else:
            state = self._step_state(x, hx)
            if state is None:
                return None
        key = (x.size(0), x.dtype, x.device, self.backend, self.training, torch.get_num_threads())
        stamp = tuple((p.data_ptr(), p._version) for p in params)
        if held is None or held.key != key or held.stamp != stamp or held.params != tuple(map(id, params)):
            backend = select_backend(self.backend, self.spec, x, bool(self.proj_size))
            plan = None
            if backend.step_plan is not None:
                plan = backend.step_plan(
                    self.spec, [self.weights(k, 0) for k in range(self.num_layers)], x.size(0)
                )
            held = _HeldPlan(key, stamp, tuple(map(id, params)), params, plan)
            _STEP_PLANS[self] = held
        if held.plan is None:
            return None  # the backend has no step plan: the general path
        new = held.plan(x, state)
        held.state, held.out = new, (new[0] if len(new) == 1 else new)
        return new[0][-1], held.out

    def _step_state(self, x: Tensor, hx: object) -> State | None:
        """The state for a planned step: zeros for None, else hx as given when every part is a plain
        contiguous tensor of x's dtype and device in the expected (L, B, ·) shape; None otherwise."""
        L, B, P = self.num_layers, x.size(0), self.proj_size or self.hidden_size
        sizes = (P, self.hidden_size)[: len(self.spec.state_names)]
        if hx is None:
            return tuple(x.new_zeros(L, B, s) for s in sizes)
        parts = hx if isinstance(hx, tuple) else (hx,)
        if len(parts) != len(sizes):
            return None
        for t, s in zip(parts, sizes, strict=True):
            if type(t) is not Tensor or t.shape != (L, B, s) or t.dtype != x.dtype or t.device != x.device:
                return None
            if not t.is_contiguous() or t.requires_grad:
                return None
        return parts

    def _fused_step(self, x: Tensor, state: State) -> State | None:
        """All layers advanced by the selected backend's native single step, or None when it has none or
        when the step must stay in PyTorch (autograd, dropout or regularisation active)."""
        if self.training and (self.regularization.active or (self.dropout and self.num_layers > 1)):
            return None
        if self.regularization.changes_recurrence(self.training):
            return None
        if capture_mode() in ("onnx", "torchscript", "transform"):
            return None  # standard operators: a runtime without rnnkit's, or a torch.func transform
        if torch.is_grad_enabled() and (
            x.requires_grad
            or any(s.requires_grad for s in state)
            or any(p.requires_grad for p in self.parameters())
        ):
            return None
        backend = select_backend(self.backend, self.spec, x, bool(self.proj_size))
        if backend.step is None:
            return None
        return backend.step(self.spec, x, state, [self.weights(k, 0) for k in range(self.num_layers)])

    def trace(
        self,
        input: Tensor | PackedSequence,
        hx: Tensor | tuple[Tensor, ...] | None = None,
        *,
        lengths: Tensor | list[int] | None = None,
    ) -> Trace:
        """Run the network with the reference backend and return every hidden state, cell state and gate
        at every step (see :class:`Trace`). Differentiable, like ``forward``."""
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
