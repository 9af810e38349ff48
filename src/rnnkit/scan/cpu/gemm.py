"""Which GEMM runs each class of product in the fused CPU kernels: rnnkit's own register-blocked GEMM or
the vendor library torch links (MKL on x86, through its BLAS interface).

Neither wins everywhere: on AMD EPYC, torch's MKL runs its AVX2 code and rnnkit's AVX-512 kernel is
faster; on an Intel Xeon with AVX-512, MKL runs its own AVX-512 kernels and was measured 26% faster on a
2048³ product. So the choice is a measurement, made once per machine the first time the kernels load
and cached beside them (``gemm.json`` in the build folder, whose key already names the CPU), per class:

* ``step_vec`` — the per-step products of a scan with fewer batch rows per thread than the register
  tile (B = 1: matrix-vector products);
* ``step`` — the per-step products of a scan (U·h, the step-by-step input projection, backward's dh·U);
* ``large`` — the input projection of a whole sequence and the weight gradients.

The vendor GEMM is only ever chosen after it reproduced rnnkit's result on a test product (float32 and
float64). ``RNNKIT_GEMM=own`` or ``RNNKIT_GEMM=vendor`` overrides the measurement for every class;
``RNNKIT_GEMM=auto`` (the default) uses it. ``rnnkit info`` and ``rnnkit bench`` print the choice.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import torch

from ..._io import atomic_write_text

CLASSES = ("step_vec", "step", "large")
MODES = ("own", "vendor")
ENV = "RNNKIT_GEMM"
#: bump when the measurement changes, so that older cached choices are measured again
VERSION = 1
#: the vendor GEMM must beat rnnkit's by this factor to be chosen (ties keep rnnkit's: its behaviour is
#: the same on every machine)
MARGIN = 1.03

_state: dict[str, object] = {}


def vendor_name() -> str:
    """The BLAS library behind the vendor GEMM."""
    return "MKL" if torch.backends.mkl.is_available() else "torch's BLAS"


def requested() -> str:
    """``own``, ``vendor`` or ``auto`` from ``$RNNKIT_GEMM``; raises ValueError on anything else."""
    value = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if value not in (*MODES, "auto"):
        raise ValueError(f"{ENV} must be 'own', 'vendor' or 'auto', got {os.environ.get(ENV)!r}")
    return value


def _apply(ext: ModuleType, choice: Mapping[str, str]) -> None:
    ext.set_gemm([MODES.index(choice[c]) for c in CLASSES])


def _ext() -> ModuleType:
    """The loaded extension this module configured (``build.load()`` calls :func:`configure`)."""
    ext = _state.get("ext")
    if ext is None:
        raise RuntimeError("the fused CPU kernels are not loaded yet: rnnkit.scan.cpu.load() loads them")
    return ext  # type: ignore[return-value]


def current() -> dict[str, str]:
    """The GEMM each class uses now in this process."""
    modes = _ext().gemm_info()["modes"]
    return {c: MODES[m] for c, m in zip(CLASSES, modes, strict=True)}


def status() -> dict[str, object]:
    """What ``rnnkit info`` / ``rnnkit bench`` report: the choice per class, how it was made, the
    vendor library and the own GEMM's register tile, and the timings behind a measured choice."""
    info = _ext().gemm_info()
    return {
        "choice": current(),
        "source": _state.get("source", "unknown"),
        "vendor": vendor_name(),
        "vendor_available": bool(info["vendor_available"]),
        "own_tile": f"{info['mr']}x{info['nr']} float32, {8 * int(info['vector_bytes'])}-bit vectors",
        "measured": _state.get("measured"),
    }


@contextmanager
def using(choice: str | Mapping[str, str]) -> Iterator[None]:
    """Run a block with the given GEMM (``"own"``, ``"vendor"`` or a mapping per class), then restore
    the previous choice (tests, benchmarks). Raises RuntimeError when the vendor GEMM is unavailable."""
    ext = _ext()
    wanted = dict.fromkeys(CLASSES, choice) if isinstance(choice, str) else dict(choice)
    bad = {c: m for c, m in wanted.items() if c not in CLASSES or m not in MODES}
    if bad or set(wanted) != set(CLASSES):
        raise ValueError(f"choice must map each of {CLASSES} to one of {MODES}, got {choice!r}")
    if "vendor" in wanted.values() and not ext.gemm_info()["vendor_available"]:
        raise RuntimeError("the vendor GEMM is not available in this torch build")
    before = current()
    _apply(ext, wanted)
    try:
        yield
    finally:
        _apply(ext, before)


# -- the measurement --------------------------------------------------------------------------------------
def _vendor_agrees(ext: ModuleType) -> bool:
    """The vendor GEMM gives rnnkit's result on products with every transpose and odd sizes."""
    g = torch.Generator().manual_seed(0)
    ok = True
    for dtype, tol in ((torch.float64, 1e-10), (torch.float32, 1e-4)):
        for ta in (False, True):
            for tb in (False, True):
                a = torch.randn(37, 53, generator=g, dtype=dtype)
                b = torch.randn(53, 29, generator=g, dtype=dtype)
                a_in = a.t().contiguous() if ta else a
                b_in = b.t().contiguous() if tb else b
                ext.set_gemm([0, 0, 0])
                own = ext.mm(a_in, b_in, ta, tb, 2)
                ext.set_gemm([1, 1, 1])
                vendor = ext.mm(a_in, b_in, ta, tb, 2)
                ok = ok and bool(torch.allclose(own, a @ b, rtol=tol, atol=tol))
                ok = ok and bool(torch.allclose(vendor, a @ b, rtol=tol, atol=tol))
    ext.set_gemm([0, 0, 0])
    return ok


def _lstm_scan(ext: ModuleType, B: int, T: int, H: int, threads: int) -> Callable[[], object]:
    """A no_grad LSTM forward of (T, B, H) through the extension (the per-step products dominate)."""
    kernel = [k["name"] for k in ext.kernel_info()].index("lstm")
    g = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, H, generator=g)
    w_ih, w_hh = torch.randn(4 * H, H, generator=g) * 0.05, torch.randn(4 * H, H, generator=g) * 0.05
    b, h0, c0 = torch.zeros(4 * H), torch.zeros(B, H), torch.zeros(B, H)
    # the input projection inside the scan at B >= 16 (step products), one large GEMM below
    args = (kernel, x, w_ih, b, h0, c0, w_hh, b, None, None, None, False, threads, threads, 0)
    return lambda: ext.forward(*args)


def _products(ext: ModuleType, threads: int) -> Callable[[], object]:
    """An input projection (T*B = 3200, I = 512 -> 4H = 2048) and a weight gradient (2048 × 512 over 3200)."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(3200, 512, generator=g), torch.randn(2048, 512, generator=g)
    d = torch.randn(3200, 2048, generator=g)

    def run() -> None:
        ext.mm(x, w, False, True, threads)
        ext.mm(d, x, True, False, threads)

    return run


def _time(ext: ModuleType, cls: str, fn: Callable[[], object], rounds: int = 5) -> dict[str, float]:
    """Median seconds of ``fn`` with each GEMM on class ``cls``, interleaved round by round."""
    times: dict[str, list[float]] = {m: [] for m in MODES}
    for r in range(rounds + 1):
        for mode in MODES:
            modes = [0, 0, 0]
            modes[CLASSES.index(cls)] = MODES.index(mode)
            ext.set_gemm(modes)
            t = time.perf_counter()
            fn()
            if r:  # the first round warms up
                times[mode].append(time.perf_counter() - t)
    ext.set_gemm([0, 0, 0])
    return {m: statistics.median(v) for m, v in times.items()}


def measure(ext: ModuleType, threads: int) -> dict[str, object]:
    """Time each class with both GEMMs on this machine; the choice and the timings (seconds)."""
    if not ext.gemm_info()["vendor_available"]:
        return {"choice": dict.fromkeys(CLASSES, "own"), "vendor_checked": False, "seconds": {}}
    if not _vendor_agrees(ext):
        return {"choice": dict.fromkeys(CLASSES, "own"), "vendor_checked": False, "seconds": {},
                "note": "the vendor GEMM disagreed with rnnkit's on a test product"}  # fmt: skip
    cases = {
        "step_vec": _lstm_scan(ext, 1, 200, 256, threads),
        "step": _lstm_scan(ext, 32, 40, 512, threads),
        "large": _products(ext, threads),
    }
    seconds = {cls: _time(ext, cls, fn) for cls, fn in cases.items()}
    choice = {c: "vendor" if s["own"] > MARGIN * s["vendor"] else "own" for c, s in seconds.items()}
    return {"choice": choice, "vendor_checked": True, "seconds": seconds}


def _read(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    choice = data.get("choice") if isinstance(data, dict) else None
    if data.get("version") != VERSION or not isinstance(choice, dict):
        return None
    if set(choice) != set(CLASSES) or not all(v in MODES for v in choice.values()):
        return None
    return data


def configure(ext: ModuleType, folder: Path) -> None:
    """Set the GEMM per class for this process: ``$RNNKIT_GEMM``, else the choice cached in ``folder``,
    else measured now (a second or two, once per machine) and cached. Raises ValueError/RuntimeError
    when ``$RNNKIT_GEMM`` asks for something invalid or unavailable."""
    _state["ext"] = ext
    wanted = requested()
    if wanted != "auto":
        if wanted == "vendor" and not ext.gemm_info()["vendor_available"]:
            raise RuntimeError(f"{ENV}=vendor, but this torch build exports no BLAS GEMM")
        _apply(ext, dict.fromkeys(CLASSES, wanted))
        _state.update(source=f"{ENV}={wanted}", measured=None)
        return
    path = folder / "gemm.json"
    cached = _read(path)
    if cached is not None:
        choice = cached["choice"]
        if "vendor" in choice.values() and not ext.gemm_info()["vendor_available"]:
            cached = None
    if cached is None:
        threads = torch.get_num_threads()
        result = measure(ext, threads)
        cached = {"version": VERSION, "threads": threads, "date": time.strftime("%Y-%m-%d"), **result}
        try:
            folder.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(cached, indent=2) + "\n")
        except OSError:
            pass  # a read-only cache: measure again next time
        _state["source"] = f"measured now ({threads} threads)"
    else:
        when, threads = cached.get("date", "?"), cached.get("threads", "?")
        _state["source"] = f"measured {when} ({threads} threads), cached"
    _state["measured"] = cached.get("seconds")
    _apply(ext, cached["choice"])  # type: ignore[arg-type]
