"""The one multi-layer, bidirectional, variable-length runner for ANY registered cell with a recurrent
weight.

:class:`RecurrentLayer` owns the parameters under torch's names (``weight_ih_l0``,
``weight_hh_l0_reverse``, ``bias_ih_l1``, ``weight_hr_l0`` …) and runs, for each layer and direction,
(a) the input projection for all steps as one GEMM and (b+c) a backend's scan over time (``scan/``).
The loop over layers, directions and lengths is :class:`~rnnkit.layers.base.LayerBase`'s, shared with
the parallel-scan runner; cells know one step, backends one direction. ``step()`` advances a stack by one
step for generation, through a backend's step plan when it has one.

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

from ..cells.base import CellSpec, State
from ..cells.init import orthogonal_blocks_
from ..cells.registry import get_cell
from ..scan.backends import ScanFn, select_backend
from ..scan.inputs import finish_state
from ..scan.native import supports as torch_supports
from ..scan.native import torch_layer
from ..scan.portable import capture_mode, portable_scan
from ..scan.reference import ScanResult, reference_scan, reference_step
from ..scan.regularize import Regularization
from ..scan.weights import LayerWeights
from .base import DirectionFn, LayerBase, autocast_on

RECURRENT_INITS = ("uniform", "orthogonal")


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


class RecurrentLayer(LayerBase):
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
        self._setup(
            lambda: cell if isinstance(cell, CellSpec) else get_cell(cell).make_spec(**cell_options),
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            proj_size,
            backend,
        )
        self.regularization = Regularization.make(
            zoneout, recurrent_dropout, input_dropout, self.spec.state_names
        )
        if recurrent_init not in RECURRENT_INITS:
            raise ValueError(f"recurrent_init must be one of {RECURRENT_INITS}, got {recurrent_init!r}")
        self.recurrent_init = recurrent_init

        kw = {"device": device, "dtype": dtype}
        H, G, P = hidden_size, self.spec.num_chunks, self.output_size
        self._flat_weights_names: list[str] = []
        self._extra_names: list[tuple[str, str, str]] = []  # (suffix, attribute, spec name)
        for _, _, sfx, layer_in in self.slots():
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

    def weights(self, layer: int, direction: int) -> LayerWeights:
        """The weights of one layer and direction: ``(weight_ih, bias_ih, weight_hh, bias_hh, weight_hr,
        extras)`` as a named tuple (missing ones None)."""
        sfx = self.suffix(layer, direction)
        get = lambda n: getattr(self, n + sfx, None)  # noqa: E731
        extras = {name: getattr(self, attr) for s, attr, name in self._extra_names if s == sfx}
        return LayerWeights(
            get("weight_ih"), get("bias_ih"), get("weight_hh"), get("bias_hh"), get("weight_hr"), extras
        )

    def _options(self) -> dict[str, object]:
        opts = dict(self.spec.options()) | dict(self.regularization.options())
        if self.recurrent_init != "uniform":
            opts["recurrent_init"] = self.recurrent_init
        return opts

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
        if x.dtype == torch.float64 or not autocast_on(x):
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

    def _direction(self, x: Tensor, mask: Tensor | None, record: bool) -> DirectionFn:
        scans = self._scans(x, mask, record)
        reg = self.regularization

        def run(layer: int, d: int, xin: Tensor, state0: State) -> ScanResult:
            weights = self.weights(layer, d)
            in_mask = reg.input_mask(xin, self.training)  # (1, B, I) or None
            xin = xin if in_mask is None else xin * in_mask
            if scans.scan_input is not None:
                return scans.scan_input(self.spec, xin, state0, weights, mask)
            xg = F.linear(xin, weights.weight_ih, weights.bias_ih)  # (T, B, G*H)
            kwargs = {"record": True} if record else {}
            if scans.regularizes:
                kwargs |= reg.scan_kwargs(xin.size(0), state0, self.training)
            return scans.scan(self.spec, xg, state0, weights.recurrent(), mask, **kwargs)

        return run

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
        prep = self._prepare(self._step_input(input), hx, None)
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
        if x.dtype != params[0].dtype or autocast_on(x):
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
