"""Files the package reads at run time that are not Python modules ship in its wheel: every one of them
is matched by a ``[tool.setuptools.package-data]`` pattern (a non-editable install would lack the rest:
the fused CPU backend compiles its C++ sources on the user's machine, the serve page loads its assets)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "rnnkit"
#: data folders the code reads at run time (relative to src/rnnkit)
DATA = ("scan/cpu/csrc", "serve/static")


def test_every_runtime_data_file_is_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped: set[Path] = set()
    for package, globs in patterns.items():
        base = ROOT / "src" / Path(*package.split("."))
        for pattern in globs:
            shipped |= set(base.glob(pattern))
    for folder in DATA:
        files = [p for p in (PACKAGE / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts]
        assert files, f"{folder} holds no files"
        missing = sorted(str(p.relative_to(PACKAGE)) for p in files if p not in shipped)
        assert not missing, f"not in the wheel (add to [tool.setuptools.package-data]): {missing}"
