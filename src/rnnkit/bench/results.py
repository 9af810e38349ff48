"""Reading ``rnnkit bench`` result files back, whatever their layout, judged against today's targets.

Layout 1 files (before the CPU family, the GEMM choice and both peak GEMMs per row were recorded) load
with what they lack derived where it can be (µs per token from tokens/s) and left at "not measured" (0)
where it cannot. Targets are re-applied with the rules of ``targets``, so that every CPU family is held
to the same bar; a file measured under other targets says so (``retargeted``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from . import targets
from .backends import BackendBenchRow
from .generation import GenerationRow
from .peak import Peak
from .report import BenchRun
from .targets import generation_target, speedup_target

#: the result files of one backend: ``backends-<backend>-<cpu slug>.json``
PATTERN = "backends-{backend}-*.json"


@dataclass
class LoadedRun:
    """A result file read back."""

    path: Path
    run: BenchRun
    retargeted: bool  # the file was judged against other targets than today's


def _fields(cls: type, data: dict[str, object], what: str) -> dict[str, object]:
    names = {f.name for f in dataclasses.fields(cls)}
    required = {
        f.name
        for f in dataclasses.fields(cls)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    missing = sorted(required - set(data))
    if missing:
        raise ValueError(f"{what} lacks {', '.join(missing)}")
    return {k: v for k, v in data.items() if k in names}


def _row(data: dict[str, object], where: str) -> BackendBenchRow:
    if "peak_torch_gflops" not in data and "peak_rnnkit_gflops" not in data:
        # layout 1 timed only rnnkit's GEMM in each row's rounds: that was the row's peak
        data = data | {"peak_rnnkit_gflops": data.get("peak_gflops", 0.0)}
    return BackendBenchRow(**_fields(BackendBenchRow, data, where))


def _generation(data: dict[str, object], where: str) -> GenerationRow:
    data = dict(data)
    for side in ("torch", "rnnkit"):
        key, rate = f"{side}_us_per_token", data.get(f"{side}_tokens_per_s")
        if key not in data and isinstance(rate, int | float) and rate > 0:
            # tokens/s counts the tokens of all B sequences; one step makes one token of each
            data[key] = round(1e6 * float(data.get("B", 1)) / rate, 2)  # type: ignore[arg-type]
    data.setdefault("target", generation_target(int(data.get("H", 0))))  # type: ignore[arg-type]
    return GenerationRow(**_fields(GenerationRow, data, where))


def load_result(path: str | Path) -> LoadedRun:
    """Read one result file; raises ValueError naming the file when it is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{path.name}: not a readable benchmark result ({e})") from e
    if not isinstance(data, dict) or not isinstance(data.get("machine"), dict):
        raise ValueError(f"{path.name}: not a benchmark result (no machine record)")
    try:
        peak = Peak(**_fields(Peak, data["peak"], f"{path.name}: peak"))
        rows = [_row(r, f"{path.name}: row {i}") for i, r in enumerate(data.get("rows", []))]
        gen = [
            _generation(g, f"{path.name}: generation {i}") for i, g in enumerate(data.get("generation", []))
        ]
    except (TypeError, KeyError) as e:
        raise ValueError(f"{path.name}: malformed benchmark result ({e})") from e
    now_rows = [
        dataclasses.replace(r, target=speedup_target(r.cell, r.torch_gflops, r.peak_gflops)) for r in rows
    ]
    now_gen = [dataclasses.replace(g, target=generation_target(g.H)) for g in gen]
    retargeted = (
        data.get("targets") != targets.as_dict()
        or [r.target for r in rows] != [r.target for r in now_rows]
        or [g.target for g in gen] != [g.target for g in now_gen]
    )
    after = data.get("load_average_1min_after")
    run = BenchRun(
        machine=data["machine"],
        peak=peak,
        rows=now_rows,
        generation=now_gen,
        load_after=float(after) if isinstance(after, int | float) else None,
        gemm=data.get("gemm") if isinstance(data.get("gemm"), dict) else None,
        repeats=data.get("repeats") if isinstance(data.get("repeats"), int) else None,
        format=int(data.get("format", 1)),
    )
    return LoadedRun(path, run, retargeted)


def load_results(folder: str | Path, backend: str = "cpu") -> list[LoadedRun]:
    """Every result file of ``backend`` in ``folder``, newest measurement first (then by file name)."""
    runs = [load_result(p) for p in sorted(Path(folder).glob(PATTERN.format(backend=backend)))]
    runs.sort(key=lambda r: str(r.run.machine.get("date", "")), reverse=True)  # stable: name order on ties
    return runs
