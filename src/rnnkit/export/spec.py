"""What an exported file takes and returns: every tensor's name, dtype and shape, with symbolic sizes
(``"batch"``, ``"time"``, ``"source"``) where the exported graph accepts any size and plain ints where
the size is fixed. Read back from the exported artefact itself (the ONNX graph, the ExportedProgram), so
what is printed and written to the JSON sidecar is what the file really does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

Dim = int | str


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of an exported module.

    Attributes:
        name: the tensor's name in the file (ONNX input/output name; the argument name in pt2).
        dtype: ``"float32"``, ``"int64"``, ``"bool"`` …
        shape: per axis a fixed size (int) or a symbolic one (str: any size, equal names equal sizes).
        doc: what the tensor means, one line.
    """

    name: str
    dtype: str
    shape: tuple[Dim, ...]
    doc: str = ""

    def describe(self) -> str:
        dims = ", ".join(str(d) for d in self.shape)
        return f"{self.name}: {self.dtype}[{dims}]"

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape), "doc": self.doc}


@dataclass(frozen=True)
class Signature:
    """The inputs and outputs of one exported module (one file)."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def input(self, name: str) -> TensorSpec:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        raise KeyError(f"no input named {name!r}; inputs: {[s.name for s in self.inputs]}")

    def format(self, title: str = "") -> str:
        """Aligned text: one line per tensor with its meaning."""
        rows = [("in", s) for s in self.inputs] + [("out", s) for s in self.outputs]
        width = max(len(s.describe()) for _, s in rows)
        lines = [title] if title else []
        for kind, s in rows:
            lines.append(f"  {kind:<4}{s.describe():<{width}}  {s.doc}".rstrip())
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
            "notes": list(self.notes),
        }


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.float32`` -> ``"float32"``."""
    return str(dtype).removeprefix("torch.")


def label_dims(
    shapes: dict[str, tuple[object, ...]], declared: dict[str, dict[int, str]]
) -> dict[str, tuple[Dim, ...]]:
    """Give the symbolic sizes of an exported graph the names the export declared.

    Args:
        shapes: tensor name -> its sizes as the exporter wrote them: ints for fixed sizes, anything else
            (a SymInt, an ONNX dim_param string) for symbolic ones.
        declared: input name -> axis -> label, the axes the export asked to keep dynamic.
    Returns:
        tensor name -> sizes with every symbol found on a declared axis replaced by its label; a symbol
        not found on a declared axis keeps its own name (e.g. ``"s3 + 1"``, rare).
    """
    names: dict[str, str] = {}
    for tensor, axes in declared.items():
        for axis, label in axes.items():
            size = shapes[tensor][axis]
            if not isinstance(size, int):
                names.setdefault(str(size), label)
    out = {}
    for tensor, sizes in shapes.items():
        out[tensor] = tuple(s if isinstance(s, int) else names.get(str(s), str(s)) for s in sizes)
    return out


def build_signature(
    shapes: dict[str, tuple[Dim, ...]],
    dtypes: dict[str, str],
    inputs: Sequence[str],
    outputs: Sequence[str],
    docs: dict[str, str],
    notes: Sequence[str] = (),
) -> Signature:
    make = lambda n: TensorSpec(n, dtypes[n], shapes[n], docs.get(n, ""))  # noqa: E731
    return Signature(tuple(make(n) for n in inputs), tuple(make(n) for n in outputs), tuple(notes))
