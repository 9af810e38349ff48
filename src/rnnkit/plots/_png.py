"""A matplotlib figure without pyplot's global state, saved atomically as PNG."""

from __future__ import annotations

import io
import os
from pathlib import Path

from .._io import atomic_write_bytes


def new_figure(width: float, height: float):
    """A figure on the Agg canvas (no display, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(
    fig, path: str | os.PathLike[str], dpi: int = 110, metadata: dict[str, str] | None = None
) -> Path:
    """Write ``fig`` to ``path``; ``metadata``: PNG text chunks (e.g. a digest of the data drawn)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata=metadata)
    atomic_write_bytes(path, buf.getvalue())
    return Path(path)
