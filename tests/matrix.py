"""Parameter matrices whose full cross product runs with ``-m slow`` and a covering part in CI.

``covering(rows, columns, per_row)`` gives every (row, column) pair as a ``pytest.param``; the pairs
where ``(row index - column index) mod len(columns) < per_row`` run by default, so every row meets
``per_row`` columns and every column meets about ``per_row / len(columns)`` of the rows; the rest carry
the ``slow`` mark (run with the benchmarks: ``pytest -m slow``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest


def covering(rows: Sequence[Any], columns: Sequence[Any], per_row: int = 1) -> list[Any]:
    if not 1 <= per_row <= len(columns):
        raise ValueError(f"per_row must be in [1, {len(columns)}], got {per_row}")
    out = []
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            ci = (i - j) % len(columns) < per_row
            out.append(pytest.param(row, column, marks=() if ci else pytest.mark.slow))
    return out
