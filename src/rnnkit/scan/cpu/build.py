"""Building and loading the fused CPU kernels (a C++ extension) on first use.

The sources in ``csrc/`` are compiled with ``torch.utils.cpp_extension`` (ninja) for THIS machine
(``-march=native``) into a per-machine cache, ``$RNNKIT_CACHE_DIR`` or ``~/.cache/rnnkit/cpu/``, under
a key that hashes the sources, the compiler flags and version, the torch and Python versions and the
CPU's model and feature flags — so a build made for one CPU is never loaded on another. Later
processes load the cached library directly (no compiler needed). When anything fails, :func:`probe`
returns the reason instead of raising, and the backend registry falls back to the reference backend.
``RNNKIT_DISABLE_CPU=1`` switches the backend off. Once loaded, the GEMM each class of product uses is
set from the per-machine measurement cached beside the build (``gemm.py``).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import platform
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import torch

from .gemm import configure

CSRC = Path(__file__).resolve().parent / "csrc"
SOURCES = ("binding.cpp", "forward.cpp", "backward.cpp", "step.cpp", "matmul.cpp")
HEADERS = ("common.h", "threads.h", "memory.h", "blas.h", "gemm.h", "cells.h", "scan.h")
CFLAGS = (
    "-O3",
    "-march=native",
    "-fopenmp",
    "-fno-trapping-math",
    "-fno-math-errno",
    "-ffp-contract=fast",
    "-DNDEBUG",
    "-Wno-unused-parameter",
)
LDFLAGS = ("-fopenmp",)

_lock = threading.Lock()
_module: ModuleType | None = None
_error: str | None = None


def cache_root() -> Path:
    """The build cache: ``$RNNKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/rnnkit`` or ``~/.cache/rnnkit``."""
    if os.environ.get("RNNKIT_CACHE_DIR"):
        return Path(os.environ["RNNKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rnnkit"


def _compiler() -> str:
    return os.environ.get("CXX", "c++")


def _compiler_version(cxx: str) -> str:
    try:
        res = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30, check=False)
        return res.stdout.splitlines()[0] if res.stdout else ""
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_signature() -> str:
    """Model name and feature flags of this CPU (what ``-march=native`` compiles for)."""
    model, flags = platform.processor(), ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key = line.split(":", 1)[0].strip()
                if key == "model name" and not model:
                    model = line.split(":", 1)[1].strip()
                elif key in ("flags", "Features") and not flags:
                    flags = " ".join(sorted(line.split(":", 1)[1].split()))
                if model and flags:
                    break
    except OSError:
        pass
    return f"{platform.machine()}|{model}|{flags}"


def build_key() -> str:
    """Hash of everything that makes a build valid for this machine and this torch."""
    h = hashlib.sha256()
    for name in (*SOURCES, *HEADERS):
        h.update(name.encode())
        h.update((CSRC / name).read_bytes())
    cxx = _compiler()
    for part in (
        " ".join(CFLAGS),
        " ".join(LDFLAGS),
        cxx,
        _compiler_version(cxx),
        torch.__version__,
        sys.version,
        _cpu_signature(),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _import_built(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_folder() -> Path:
    """Where this machine's build (and its GEMM choice, ``gemm.json``) is cached."""
    return cache_root() / "cpu" / build_key()


def _build() -> ModuleType:
    if switched_off():
        raise RuntimeError("disabled by RNNKIT_DISABLE_CPU")
    key = build_key()
    name = f"rnnkit_cpu_{key}"
    folder = cache_root() / "cpu" / key
    built = folder / f"{name}.so"
    if built.exists():
        return _import_built(name, built)
    if shutil.which(_compiler()) is None:
        raise RuntimeError(f"no C++ compiler found ({_compiler()!r}; set CXX to use another)")
    from torch.utils import cpp_extension

    try:
        cpp_extension.verify_ninja_availability()
    except RuntimeError:
        raise RuntimeError("ninja is not installed (pip install ninja)") from None
    folder.mkdir(parents=True, exist_ok=True)
    print(
        "rnnkit: compiling the fused CPU kernels for this machine (once, about a minute)...", file=sys.stderr
    )
    return cpp_extension.load(
        name=name,
        sources=[str(CSRC / s) for s in SOURCES],
        extra_cflags=list(CFLAGS),
        extra_ldflags=list(LDFLAGS),
        extra_include_paths=[str(CSRC)],
        build_directory=str(folder),
        verbose=False,
    )


def load() -> ModuleType:
    """The compiled extension (built on first use); raises RuntimeError with the reason on failure."""
    global _module, _error
    with _lock:
        if _module is None and _error is None:
            try:
                module = _build()
                configure(module, build_folder())  # which GEMM runs each product class (gemm.py)
                _module = module
            except Exception as e:  # any failure means "not available", with its reason
                lines = [ln for ln in str(e).strip().splitlines() if ln.strip()] or [type(e).__name__]
                _error = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
        if _module is None:
            raise RuntimeError(f"the fused CPU kernels are unavailable: {_error}")
        return _module


def switched_off() -> bool:
    """True when the user switched the backend off (``RNNKIT_DISABLE_CPU=1``): no warning then."""
    return os.environ.get("RNNKIT_DISABLE_CPU", "") not in ("", "0")


@torch.compiler.assume_constant_result
def probe() -> str | None:
    """None when the extension is usable here, else why not (builds it on the first call). Under
    ``torch.compile`` it runs once while tracing and its answer is a constant of the graph."""
    try:
        load()
    except RuntimeError:
        return _error
    return None
