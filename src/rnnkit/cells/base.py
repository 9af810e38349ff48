"""The cell protocol shared by every recurrent cell and every backend.

A cell is split in three parts, the split every backend relies on:

(a) the input projection ``xg = W x + b_ih`` — one large GEMM over all time steps, done by the runner;
(b) the recurrent projection ``hg = U h + b_hh`` — one GEMM per step;
(c) the pointwise step ``(xg_t, hg_t, state) -> new state`` — gates and state update, elementwise.

:class:`CellSpec` holds (c) plus the metadata that runners need (how many row blocks the weights have,
the gate names ``trace()`` reports, the state tensors, optional extra per-layer tensors such as the
UR-LSTM forget bias). It is stateless: parameters live in the module that uses it — a single-step
:class:`CellModule` (``rnnkit.LSTMCell``…) or a multi-layer layer (``rnnkit.LSTM``…). Cells never loop
over time; ``scan/layer.py`` is the only place that knows about T, layers, directions and lengths.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_float_tensor, check_same_dtype, check_shape, check_size
from .._pickle import PlainPickleMixin

State = tuple[Tensor, ...]
Gates = dict[str, Tensor]


class CellSpec:
    """The math of one recurrent cell, free of parameters.

    Subclasses set the class attributes and implement :meth:`pointwise`.
    """

    #: registry name, e.g. ``"lstm"``
    name: ClassVar[str] = ""
    #: names of the per-step gate tensors reported by ``trace()``, each of shape (B, H)
    gate_names: ClassVar[tuple[str, ...]] = ()
    #: G: the weights have G*H rows (LSTM 4, GRU 3, Elman 1)
    num_chunks: ClassVar[int] = 1
    #: names of the state tensors; the first is always the hidden state ``h``
    state_names: ClassVar[tuple[str, ...]] = ("h",)
    #: whether an LSTM-style output projection (``proj_size``) is meaningful for this cell
    supports_proj: ClassVar[bool] = False
    #: name of the fused pointwise functor in native backends, or None when only the reference runs it
    kernel: ClassVar[str | None] = None

    @property
    def has_cell_state(self) -> bool:
        return len(self.state_names) > 1

    def options(self) -> dict[str, object]:
        """Constructor options that distinguish this spec (shown in ``repr``, passed to kernels)."""
        return {}

    # -- extra per-layer tensors (e.g. a UGI forget-bias buffer); none for the torch-twin cells --------
    def extra_tensors(self, hidden_size: int) -> dict[str, tuple[tuple[int, ...], bool]]:
        """Extra tensors per layer and direction: ``name -> (shape, is_buffer)``."""
        return {}

    def init_extra(self, name: str, tensor: Tensor, hidden_size: int) -> None:
        """Initialise one extra tensor in place (called after the uniform init of all parameters)."""
        raise NotImplementedError(f"{type(self).__name__} declares no extra tensor {name!r}")

    def init_parameters(self, params: dict[str, Tensor], hidden_size: int) -> None:
        """Cell-specific init of one layer/direction's tensors, in place, after the uniform init and
        :meth:`init_extra` (e.g. a forget-gate bias). ``params`` maps ``weight_ih``, ``weight_hh``,
        ``bias_ih``/``bias_hh`` (None without bias) and the extra tensors' names to the tensors."""

    # -- the step --------------------------------------------------------------------------------------
    def pointwise(
        self, xg: Tensor, hg: Tensor, state: State, extras: dict[str, Tensor], record: bool
    ) -> tuple[State, Gates | None]:
        """One step of the cell's elementwise math.

        Args:
            xg: ``W x_t + b_ih``, shape (B, G*H).
            hg: ``U h_{t-1} + b_hh``, shape (B, G*H).
            state: the previous state, ``(h,)`` or ``(h, c)``, each (B, H).
            extras: this layer/direction's extra tensors by name.
            record: when True also return the gates by name (each (B, H)), else None.
        Returns:
            the new state (h before any output projection) and the gates or None.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({opts})"


class CellModule(PlainPickleMixin, nn.Module):
    """A single-step cell with torch's ``nn.*Cell`` signature and parameter names.

    ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih`` (G*H), ``bias_hh`` (G*H), all
    initialised uniform in ±1/√H as torch does.
    """

    spec: CellSpec

    def __init__(
        self,
        spec: CellSpec,
        input_size: int,
        hidden_size: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.input_size = check_size("input_size", input_size)  # 0 allowed, as in torch.nn.RNNCell
        self.hidden_size = check_size("hidden_size", hidden_size)
        self.bias = bool(bias)
        kw = {"device": device, "dtype": dtype}
        rows = spec.num_chunks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **kw))
        self.weight_hh = nn.Parameter(torch.empty(rows, hidden_size, **kw))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows, **kw))
            self.bias_hh = nn.Parameter(torch.empty(rows, **kw))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self._extra_names = []
        for name, (shape, is_buffer) in spec.extra_tensors(hidden_size).items():
            t = torch.empty(shape, **kw)
            if is_buffer:
                self.register_buffer(name, t)
            else:
                self.register_parameter(name, nn.Parameter(t))
            self._extra_names.append(name)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        for weight in self.parameters():
            nn.init.uniform_(weight, -stdv, stdv)
        with torch.no_grad():
            for name in self._extra_names:
                self.spec.init_extra(name, getattr(self, name), self.hidden_size)
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", *self._extra_names)
            self.spec.init_parameters({n: getattr(self, n) for n in names}, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        for k, v in self.spec.options().items():
            s += f", {k}={v!r}"
        return s

    def _prepare(self, input: Tensor, hx: Tensor | tuple[Tensor, ...] | None) -> tuple[Tensor, State, bool]:
        check_float_tensor("input", input)
        if input.dim() not in (1, 2):
            raise ValueError(
                f"input must be 1-D (input_size,) or 2-D (batch, input_size), "
                f"got {input.dim()}-D with shape {tuple(input.shape)}"
            )
        if input.size(-1) != self.input_size:
            raise ValueError(
                f"input must have {self.input_size} features in its last dimension, "
                f"got shape {tuple(input.shape)}"
            )
        batched = input.dim() == 2
        x = input if batched else input.unsqueeze(0)
        names = self.spec.state_names
        if hx is None:
            state = tuple(x.new_zeros(x.size(0), self.hidden_size) for _ in names)
        else:
            parts = (hx,) if isinstance(hx, Tensor) else tuple(hx)
            if len(parts) != len(names):
                raise TypeError(
                    f"hx must be {'a tensor' if len(names) == 1 else f'a tuple {names}'}, "
                    f"got {len(parts)} tensors"
                )
            expected = (x.size(0), self.hidden_size) if batched else (self.hidden_size,)
            for n, p in zip(names, parts, strict=True):
                label = "hx" if len(names) == 1 else f"hx ({n})"
                check_float_tensor(label, p)
                check_shape(label, p, expected)
                check_same_dtype(label, p, input)
            state = tuple(p if batched else p.unsqueeze(0) for p in parts)
        return x, state, batched

    def step(
        self, input: Tensor, hx: Tensor | tuple[Tensor, ...] | None = None, record: bool = False
    ) -> tuple[State, Gates | None]:
        """One step returning the full state tuple and, with ``record=True``, the gates by name."""
        x, state, batched = self._prepare(input, hx)
        xg = F.linear(x, self.weight_ih, self.bias_ih)  # (B, G*H)
        hg = F.linear(state[0], self.weight_hh, self.bias_hh)  # (B, G*H)
        extras = {n: getattr(self, n) for n in self._extra_names}
        new, gates = self.spec.pointwise(xg, hg, state, extras, record)
        if not batched:
            new = tuple(s.squeeze(0) for s in new)
            gates = None if gates is None else {k: v.squeeze(0) for k, v in gates.items()}
        return new, gates

    def forward(self, input: Tensor, hx: Tensor | tuple[Tensor, ...] | None = None):
        new, _ = self.step(input, hx)
        return new[0] if len(new) == 1 else new
