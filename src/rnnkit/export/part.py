"""One exportable piece of a model: a module whose ``forward`` takes and returns plain tensors, its
example inputs, which axes should stay symbolic, and a way to draw fresh inputs of any batch size (and
time length) to check the exported file against PyTorch.

A model shape gives one part (``"model"`` for the classifier, tagger and forecaster, ``"step"`` for the
generator) or two (``"encoder"`` and ``"decoder"`` for the encoder-decoder); see :mod:`.plan`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.export import Dim

#: axis labels that are always symbolic (an exporter that fixes them is an error)
BATCH = "batch"
#: labels of time-like axes: symbolic where the exported path allows it, else fixed at the example's size
TIME_LABELS = ("time", "source")

#: (batch, steps or None, generator) -> inputs in the order of ``ExportPart.inputs``
InputMaker = Callable[[int, int | None, torch.Generator], tuple[Tensor, ...]]


@dataclass
class ExportPart:
    """A module ready for ``torch.export`` / ``torch.onnx.export``.

    Attributes:
        name: ``"model"``, ``"step"``, ``"encoder"`` or ``"decoder"`` (also the file-name suffix of
            multi-part exports).
        module: in eval mode; ``forward(*inputs)`` returns a tensor or a tuple in ``outputs`` order.
        inputs, outputs: tensor names (the ONNX names; ``inputs`` are also ``forward``'s argument names).
        example: example inputs (batch >= 2, time >= 2, sizes chosen not to collide).
        axes: input name -> axis -> label (``"batch"``, ``"time"``, ``"source"``).
        docs: tensor name -> one line on its meaning.
        make_inputs: fresh valid inputs for a batch size and a time length (None: the example's).
        notes: facts a user must know (e.g. that ``lengths`` is not an input).
    """

    name: str
    module: nn.Module
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    example: tuple[Tensor, ...]
    axes: dict[str, dict[int, str]]
    docs: dict[str, str]
    make_inputs: InputMaker
    notes: list[str] = field(default_factory=list)

    def example_steps(self) -> int | None:
        """The example's time length (the first time-like axis), or None when no input has one."""
        for name, axes in self.axes.items():
            for axis, label in axes.items():
                if label in TIME_LABELS:
                    return int(self.example[self.inputs.index(name)].shape[axis])
        return None

    def dynamic_shapes(self) -> dict[str, dict[int, object] | None]:
        """``torch.export``'s spec: the batch axes one named, required symbol; a time-like label one named
        symbol where several inputs share it, else ``Dim.AUTO`` (symbolic when the traced code allows,
        fixed at the example's size when it loops over time in Python)."""
        counts: dict[str, int] = {}
        for axes in self.axes.values():
            for label in axes.values():
                counts[label] = counts.get(label, 0) + 1
        dims = {
            label: Dim(label, min=1) if label == BATCH or n > 1 else Dim.AUTO for label, n in counts.items()
        }
        out: dict[str, dict[int, object] | None] = {}
        for name in self.inputs:
            axes = self.axes.get(name)
            out[name] = None if not axes else {axis: dims[label] for axis, label in axes.items()}
        return out

    def run(self, inputs: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """The PyTorch module's outputs as a tuple (the truth an exported file is checked against)."""
        with torch.no_grad():
            out = self.module(*inputs)
        return out if isinstance(out, tuple) else (out,)


def example_batch(steps: int | None) -> int:
    """A batch size for examples: >= 2 (an exporter specialises sizes 0 and 1) and not equal to the time
    length (equal example sizes can be taken for one symbol)."""
    return 3 if steps != 3 else 4


def resample_rows(x: Tensor, batch: int, steps: int | None, gen: torch.Generator) -> Tensor:
    """``batch`` rows drawn (with replacement) from an example batch ``x`` (B, T, ...), cut to ``steps``
    time steps; float inputs get a little noise so no two rows are equal."""
    idx = torch.randint(0, x.size(0), (batch,), generator=gen)
    rows = x.index_select(0, idx)
    if steps is not None:
        if steps > x.size(1):
            raise ValueError(f"steps must be <= the example's time length {x.size(1)}, got {steps}")
        rows = rows[:, :steps]
    if rows.is_floating_point():
        rows = rows + 0.1 * torch.randn(rows.shape, generator=gen, dtype=rows.dtype)
    return rows.contiguous()


def random_lengths(batch: int, steps: int, gen: torch.Generator) -> Tensor:
    """(B,) int64 lengths in [1, steps], the first one full length (so the batch needs ``steps``)."""
    lengths = torch.randint(1, steps + 1, (batch,), generator=gen)
    lengths[0] = steps
    return lengths
