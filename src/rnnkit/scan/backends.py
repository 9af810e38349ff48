"""Backend selection. A backend runs one direction of one layer over time for a cell; every backend reads
the same parameters, so switching ``backend=`` never changes a state_dict.

``rnnkit.backends()`` lists the backends usable here; ``rnnkit.backend_status()`` says why the others
are not.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..cells.base import CellSpec
from .cpu import cpu_scan, cpu_step, fused_layer
from .cpu import probe as cpu_probe
from .cpu import supports as cpu_supports
from .cpu import switched_off as cpu_switched_off
from .cpu.step import StepPlan
from .native import supports as torch_supports
from .native import torch_layer
from .portable import portable_scan
from .reference import reference_scan

#: scan(spec, xg, state0, weights, mask) -> ScanResult (see reference_scan); scan_input takes the layer
#: input x instead of xg, with weights that include the input side
ScanFn = Callable[..., object]


@dataclass(frozen=True)
class Backend:
    """A registered backend.

    Attributes:
        name: what users pass as ``backend=``.
        scan: the scan function from xg, ``(spec, xg, state0, weights: LayerWeights, mask) ->
            ScanResult`` (see :func:`rnnkit.scan.reference.reference_scan`), or None for a backend that
            runs only from the layer's input (then ``scan_input`` is required).
        probe: returns None when usable on this machine, else the reason it is not (may be slow the
            first time, e.g. a compile; the result is cached by the backend).
        supports: ``(spec, x, has_proj) -> None | reason`` for a given call.
        priority: ``backend="auto"`` takes the usable backend with the highest priority.
        step: optional ``(spec, x, state, weights) -> state`` advancing all layers of a
            unidirectional stack by one step without autograd (``RecurrentLayer.step``), or None.
        step_plan: optional ``(spec, weights, batch) -> plan`` with ``plan(x, state) -> state`` doing what
            ``step`` does with everything that depends only on the weights decided once (generation:
            ``RecurrentLayer.step`` keeps the plan while the weights do not change), or None.
        scan_input: optional ``(spec, x, state0, weights, mask) -> ScanResult`` doing the input
            projection ``W x + b_ih`` itself (with its own GEMM), or None (the runner then computes xg
            with ``F.linear`` and calls ``scan``).
        regularizes: ``scan`` also takes ``h_mask=`` and ``zoneout=`` (variational dropout and zoneout
            inside the recurrence, ``scan/regularize.py``); the layer runs the reference math for a
            regularised call otherwise.
        export_scan: what runs instead of ``scan`` while ``torch.export`` captures the call, when
            ``scan`` would fix the time axis in the graph (a Python loop unrolls it); None: ``scan``.
        switched_off: True when the user turned the backend off on purpose; ``"auto"`` then falls back
            without the warning it gives when the backend fails to load.
    """

    name: str
    scan: ScanFn | None
    probe: Callable[[], str | None]
    supports: Callable[[CellSpec, Tensor, bool], str | None]
    priority: int = 0
    step: Callable[..., tuple[Tensor, ...]] | None = None
    step_plan: Callable[..., Callable[[Tensor, tuple[Tensor, ...]], tuple[Tensor, ...]]] | None = None
    scan_input: ScanFn | None = None
    switched_off: Callable[[], bool] = lambda: False
    regularizes: bool = False
    export_scan: ScanFn | None = None

    def __post_init__(self) -> None:
        if self.scan is None and self.scan_input is None:
            raise ValueError(f"backend {self.name!r} needs a scan or a scan_input function, got neither")


_BACKENDS: dict[str, Backend] = {}
_warned: set[str] = set()


def register_backend(backend: Backend) -> None:
    _BACKENDS[backend.name] = backend


def known_backends() -> list[str]:
    return ["auto", *_BACKENDS]


def backend_status() -> dict[str, str]:
    """Every known backend -> ``"available"`` or the reason it cannot run here."""
    return {name: (b.probe() or "available") for name, b in _BACKENDS.items()}


def backends() -> list[str]:
    """Names of the backends usable on this machine (``"reference"`` always is)."""
    return [name for name, b in _BACKENDS.items() if b.probe() is None]


def check_backend_name(name: object) -> str:
    if not isinstance(name, str) or name not in known_backends():
        raise ValueError(f"backend must be one of {known_backends()}, got {name!r}")
    return name


def select_backend(requested: str, spec: CellSpec, x: Tensor, has_proj: bool) -> Backend:
    """The backend that runs this call: the requested one, or the best usable one for ``"auto"``.

    An explicitly requested backend that cannot run this call falls back to the reference backend with
    one warning per reason. ``"auto"`` warns once per reason when a faster backend failed to load on
    this machine (not when it cannot run this particular call, nor when the user switched it off), and
    once per cell and device type when only the reference loop runs the call on a device other than CPU.
    """
    if requested == "auto":
        reasons = {b.name: b.probe() for b in _BACKENDS.values()}
        usable = [
            b for b in _BACKENDS.values() if reasons[b.name] is None and b.supports(spec, x, has_proj) is None
        ]
        best = usable[0]
        for b in usable[1:]:  # the highest priority (a plain loop: torch.compile traces it)
            best = b if b.priority > best.priority else best
        for b in _BACKENDS.values():
            reason = reasons[b.name]
            if reason and b.priority > best.priority and not b.switched_off():
                _warn_once(
                    f"the {b.name!r} backend is unavailable here ({short_reason(reason)}); running on "
                    f"the slower {best.name!r} backend (`rnnkit info` tells more)"
                )
        if best.name == "reference" and x.device.type != "cpu":
            _warn_once(
                f"no fused backend runs {spec!r} on {x.device.type}: it runs the reference loop there (a "
                "Python loop of small kernels per step, many times slower than a fused RNN kernel)"
            )
        return best
    backend = _BACKENDS[requested]
    reason = backend.probe() or backend.supports(spec, x, has_proj)
    if reason is None:
        return backend
    _warn_once(f"backend={requested!r} cannot run this call ({reason}); using the reference backend")
    return _BACKENDS["reference"]


def short_reason(reason: str, limit: int = 90) -> str:
    """The gist of a backend's failure (a compiler's command line is neither short nor useful)."""
    first = reason.split(":", 1)[0] if reason.startswith("Error building extension") else reason
    first = first.split(" [", 1)[0].strip()
    return first if len(first) <= limit else first[: limit - 1] + "…"


@torch.compiler.assume_constant_result  # under torch.compile: said once while tracing, not in the graph
def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


register_backend(
    Backend(
        "reference",
        reference_scan,
        lambda: None,
        lambda spec, x, proj: None,
        priority=0,
        regularizes=True,
        export_scan=portable_scan,  # one scan operator: the time axis stays dynamic
    )
)
register_backend(
    Backend(
        "cpu",
        cpu_scan,
        cpu_probe,
        cpu_supports,
        priority=10,
        step=cpu_step,
        step_plan=StepPlan.for_layers,
        scan_input=fused_layer,
        switched_off=cpu_switched_off,
    )
)
register_backend(Backend("torch", None, lambda: None, torch_supports, priority=5, scan_input=torch_layer))
