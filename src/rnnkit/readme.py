"""The README's generated sections: every figure that comes from a measurement is written by code from a
committed result file, so that the README cannot drift from the results.

A generated section sits between ``<!-- NAME -->`` and ``<!-- /NAME -->``; :data:`SECTIONS` maps each
name to the function that renders it from the results folder (``benchmarks/results``).
``python benchmarks/update_readme.py`` rewrites them all, and ``tests/test_readme_sync.py`` fails when
the README and the result files disagree, or when the README has a generated-looking block nobody
renders.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ._blocks import block, blocks, with_block

__all__ = [
    "FIGURES",
    "SECTIONS",
    "block",
    "blocks",
    "draw_figures",
    "regenerate",
    "render",
    "stale_figures",
    "stale_sections",
    "with_block",
]


def _file(name: str) -> Callable[[Path], str]:
    """A section that is a result file's markdown as the benchmark wrote it."""

    def render(results: Path) -> str:
        return (results / name).read_text(encoding="utf-8")

    return render


def _cpu(results: Path) -> str:
    from .bench.readme import render_cpu_section

    return render_cpu_section(results)


def _scaling(results: Path) -> str:
    from .bench.scaling_report import render_scaling_section

    return render_scaling_section(results)


def _gating(results: Path) -> str:
    from .bench.research import render_gating_section

    return render_gating_section(results)


def _diagnose(results: Path) -> str:
    from .bench.research import render_diagnose_section

    return render_diagnose_section(results)


def _run(task: str, command: str, label: str = "default") -> Callable[[Path], str]:
    """A task's figures from its recorded runs (``tasks/readme_tables.py``), or, until one is recorded, a
    line that says so and how to record one."""

    def render(results: Path) -> str:
        from .tasks import readme_tables
        from .tasks.records import NoRecordError

        try:
            return getattr(readme_tables, f"render_{task}_section")(results / "run-records")
        except NoRecordError:
            return (
                f"No {task} run is recorded yet: `{command}`, then `python benchmarks/record_run.py RUN_DIR "
                f"--label {label}` and `python benchmarks/update_readme.py`.\n"
            )

    return render


def _tour(results: Path) -> str:
    from .tour.records import render_tour_section

    return render_tour_section(results / "tours")


#: section name -> renderer(results folder) -> the section's text (ending in a newline)
SECTIONS: dict[str, Callable[[Path], str]] = {
    "bench:reference": _file("layers-reference.md"),
    "bench:cpu": _cpu,
    "bench:deploy": _file("deploy-latency.md"),
    "serve:load": _file("serve-load.md"),
    "compose:latency": _file("compose-latency.md"),
    "scaling": _scaling,
    "tour": _tour,
    "gating": _gating,
    "diagnose": _diagnose,
    "run:stocks": _run("stocks", "rnnkit train --task stocks"),
    "run:series": _run("series", "rnnkit train --task series"),
    "run:music": _run("music", "rnnkit train --task music"),
    "run:jump": _run("jump", "rnnkit train --task jump --preset tour", "tour"),
    "run:compose": _run("compose", "rnnkit train --task compose"),
    "run:text": _run("text", "rnnkit train --task text"),
}


def render(name: str, results: Path) -> str:
    """Section ``name`` rendered from ``results``."""
    if name not in SECTIONS:
        raise ValueError(f"no generated README section named {name!r}; known: {', '.join(SECTIONS)}")
    text = SECTIONS[name](Path(results))
    return text if text.endswith("\n") else text + "\n"


def regenerate(readme: str, results: Path) -> str:
    """``readme`` with every registered section rendered anew; ValueError for a block nobody renders or a
    registered section missing from the README."""
    found = blocks(readme)
    unknown = sorted(set(found) - set(SECTIONS))
    missing = sorted(set(SECTIONS) - set(found))
    if unknown or missing:
        raise ValueError(
            "README blocks and renderers disagree: "
            + "; ".join(
                part
                for part in (
                    f"blocks without a renderer: {', '.join(unknown)}" if unknown else "",
                    f"sections missing from the README: {', '.join(missing)}" if missing else "",
                )
                if part
            )
        )
    for name in SECTIONS:
        readme = with_block(readme, name, render(name, results))
    return readme


def stale_sections(readme: str, results: Path) -> list[str]:
    """Names of the sections whose README text differs from what the results render."""
    found = blocks(readme)
    return [name for name in SECTIONS if name in found and found[name] != render(name, results)]


def _compose_confidence_data(results: Path) -> dict[str, Any]:
    from .tasks.readme_tables import compose_confidence

    return compose_confidence(results / "run-records")


def _draw_compose_confidence(data: dict[str, Any], path: Path, metadata: dict[str, str]) -> None:
    from .plots import plot_confidence_curve

    plot_confidence_curve(
        path,
        [SimpleNamespace(**p) for p in data["points"]],
        data["baselines"],
        title="Suggest only when confident (test"
        + (f", mean of {len(data['seeds'])} seeds)" if len(data["seeds"]) > 1 else ")"),
        metadata=metadata,
    )


#: the README's generated figures: path from the repository root -> (the data it shows, from the results
#: folder; draw(data, path, PNG metadata)). A figure carries a digest of its data (PNG text chunk
#: ``rnnkit-data``), so that a test can tell a stale picture without comparing pixels.
FIGURES: dict[str, tuple[Callable[[Path], Any], Callable[[Any, Path, dict[str, str]], None]]] = {
    "docs/images/compose-confidence.png": (_compose_confidence_data, _draw_compose_confidence),
}
_DIGEST_KEY = "rnnkit-data"


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _png_digest(path: Path) -> str | None:
    from PIL import Image

    try:
        with Image.open(path) as image:
            return image.text.get(_DIGEST_KEY)  # type: ignore[attr-defined]
    except (OSError, ValueError):
        return None


def stale_figures(root: Path, results: Path) -> list[str]:
    """The figures (paths from ``root``) missing or drawn from other data than ``results`` holds now."""
    return [
        name
        for name, (data, _) in FIGURES.items()
        if _png_digest(Path(root) / name) != _digest(data(Path(results)))
    ]


def draw_figures(root: Path, results: Path) -> list[str]:
    """Draw the stale figures anew from ``results``; returns their paths from ``root``."""
    drawn = []
    for name, (data, draw) in FIGURES.items():
        values = data(Path(results))
        path, digest = Path(root) / name, _digest(values)
        if _png_digest(path) != digest:
            path.parent.mkdir(parents=True, exist_ok=True)
            draw(values, path, {_DIGEST_KEY: digest})
            drawn.append(name)
    return drawn
