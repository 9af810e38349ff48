"""Hypothesis strategies of the property tests (``tests/test_properties.py``): layer configurations and
calls, invalid constructor and call arguments, damaged checkpoints and config files."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from hypothesis import strategies as st

from rnnkit.cells.registry import get_cell, list_cells
from rnnkit.scan import cpu as cpu_mod
from rnnkit.scan.native import supports as torch_supports
from rnnkit.train.config import SECTIONS

backends_mod = importlib.import_module("rnnkit.scan.backends")  # the module, not rnnkit.scan.backends()

CELLS = list_cells()
BACKENDS = ("auto", "reference", "cpu", "torch")
SUPPORTS = {"cpu": cpu_mod.supports, "torch": torch_supports}
FLOAT_DTYPES = (torch.float32, torch.float64)
INPUT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64)


def supports_proj(cell: str) -> bool:
    return get_cell(cell).make_spec().supports_proj


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# -- layer configurations -------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerCase:
    """One network and one call: the layer's options, the input's shape and layout, lengths, h0."""

    cell: str
    backend: str
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    batch_first: bool
    bias: bool
    proj_size: int
    dtype: torch.dtype
    batch: int | None  # None: an unbatched 2-D input
    steps: int
    lengths: tuple[int, ...] | None
    packed: bool  # the lengths as a PackedSequence (enforce_sorted=False) instead of lengths=
    h0: bool
    seed: int

    def layer_kwargs(self) -> dict[str, object]:
        kw: dict[str, object] = {
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "batch_first": self.batch_first,
            "bias": self.bias,
        }
        return kw | ({"proj_size": self.proj_size} if self.proj_size else {})

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def state_sizes(self) -> tuple[int, ...]:
        spec = get_cell(self.cell).make_spec()
        return (self.proj_size or self.hidden_size, self.hidden_size)[: len(spec.state_names)]


@st.composite
def layer_cases(
    draw,
    backends: tuple[str, ...] = ("cpu", "torch"),
    max_hidden: int = 9,
    max_batch: int = 4,
    max_steps: int = 6,
) -> LayerCase:
    backend = draw(st.sampled_from(backends))
    # four times in five a cell the backend runs (the others fall back to the reference)
    runs = [
        c for c in CELLS if SUPPORTS[backend](get_cell(c).make_spec(), torch.zeros(1, 1, 1), False) is None
    ]
    cell = draw(st.sampled_from(runs if runs and draw(st.integers(0, 4)) else CELLS))
    hidden = draw(st.integers(1, max_hidden))
    # a projection, drawn for every cell now and then: the cells without one must refuse it
    odds = 3 if supports_proj(cell) else 12
    proj = draw(st.integers(1, hidden - 1)) if hidden > 1 and draw(st.integers(1, odds)) == 1 else 0
    batch = draw(st.one_of(st.none(), st.integers(1, max_batch)))
    steps = draw(st.integers(1, max_steps))
    lengths, packed = None, False
    if batch is not None:
        kind = draw(st.sampled_from(("none", "full", "ones", "random")))
        if kind == "full":
            lengths = (steps,) * batch
        elif kind == "ones":
            lengths = (1,) * batch
        elif kind == "random":  # unsorted
            lengths = tuple(draw(st.lists(st.integers(1, steps), min_size=batch, max_size=batch)))
        packed = lengths is not None and draw(st.booleans())
    return LayerCase(
        cell=cell,
        backend=backend,
        input_size=draw(st.integers(1, 7)),
        hidden_size=hidden,
        num_layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        proj_size=proj,
        dtype=draw(st.sampled_from(FLOAT_DTYPES)),
        batch=batch,
        steps=steps,
        lengths=lengths,
        packed=packed,
        h0=draw(st.booleans()),
        seed=draw(st.integers(0, 2**31 - 1)),
    )


@contextlib.contextmanager
def count_backend_runs(backend: str) -> Iterator[dict[str, int]]:
    """Count the scans the ``backend`` really ran inside the block: for ``cpu`` the extension's forward
    and backward scans, for ``torch`` the calls of its layer function (torch's own autograd does the
    backward). A silent fallback to the reference would leave the counts at zero."""
    counts = {"forward": 0, "backward": 0}
    if backend == "cpu":
        ext = cpu_mod.load()
        originals = {name: getattr(ext, name) for name in counts}

        def wrap(name):
            def wrapper(*args):
                counts[name] += 1
                return originals[name](*args)

            return wrapper

        for name in counts:
            setattr(ext, name, wrap(name))
        try:
            yield counts
        finally:
            for name, fn in originals.items():
                setattr(ext, name, fn)
    elif backend == "torch":
        original = backends_mod._BACKENDS["torch"]

        def scan_input(*args, **kwargs):
            counts["forward"] += 1
            return original.scan_input(*args, **kwargs)

        backends_mod._BACKENDS["torch"] = dataclasses.replace(original, scan_input=scan_input)
        try:
            yield counts
        finally:
            backends_mod._BACKENDS["torch"] = original
    else:
        yield counts


# -- invalid arguments ------------------------------------------------------------------------------------
def not_in(strategy: st.SearchStrategy, values) -> st.SearchStrategy:
    return strategy.filter(lambda v: not (isinstance(v, str) and v.lower() in values))


NOT_AN_INT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=4), st.none()
)
NOT_A_BOOL = st.one_of(st.integers(), st.floats(allow_nan=True), st.text(max_size=4), st.none())
NOT_A_NUMBER = st.one_of(st.text(max_size=4), st.none(), st.booleans(), st.just([0.1, 0.2, 0.3]))
OUTSIDE_0_1 = st.one_of(
    st.floats(max_value=0, exclude_max=True),
    st.floats(min_value=1, exclude_min=True),
    st.integers(max_value=-1),
    st.integers(min_value=2),
    st.just(math.nan),
)


@st.composite
def bad_constructor_args(draw) -> tuple[str, dict[str, object], str]:
    """(cell, keyword arguments of ``create_layer`` with exactly one invalid, the invalid one's name)."""
    cell = draw(st.sampled_from(CELLS))
    kw: dict[str, object] = {"input_size": 3, "hidden_size": 4}
    name = draw(
        st.sampled_from(
            (
                "cell",
                "input_size",
                "hidden_size",
                "num_layers",
                "dropout",
                "proj_size",
                "bias",
                "batch_first",
                "bidirectional",
                "backend",
                "recurrent_init",
                "zoneout",
                "recurrent_dropout",
                "input_dropout",
            )
        )
    )
    if name == "cell":
        cell = draw(st.one_of(not_in(st.text(max_size=8), CELLS), st.integers(), st.none()))
    elif name in ("input_size", "hidden_size", "num_layers"):
        kw[name] = draw(st.one_of(st.integers(max_value=0), NOT_AN_INT))
    elif name == "dropout":
        kw[name] = draw(st.one_of(OUTSIDE_0_1, NOT_A_NUMBER))
        kw["num_layers"] = 2
    elif name == "proj_size":
        kw[name] = draw(
            st.one_of(
                st.integers(max_value=-1),
                st.integers(min_value=4),  # >= hidden_size
                NOT_AN_INT,
                # valid sizes, refused by a cell without a projection
                st.integers(1, 3) if not supports_proj(cell) else st.integers(max_value=-1),
            )
        )
    elif name in ("bias", "batch_first", "bidirectional"):
        kw[name] = draw(NOT_A_BOOL)
    elif name == "backend":
        kw[name] = draw(st.one_of(not_in(st.text(max_size=8), BACKENDS), st.integers(), st.none()))
    elif name == "recurrent_init":
        kw[name] = draw(st.one_of(not_in(st.text(max_size=8), ("uniform", "orthogonal")), st.none()))
    else:  # zoneout, recurrent_dropout, input_dropout: [0, 1)
        kw[name] = draw(st.one_of(OUTSIDE_0_1, st.just(1), st.just(1.0), NOT_A_NUMBER))
    return cell, kw, name


# -- damaged files --------------------------------------------------------------------------------------
# past int64, past a double, the smallest double, minus zero
EDGE_NUMBERS = st.sampled_from((2**63, 2**64, -(2**63) - 1, 10**400, -(10**400), 1e308, 5e-324, -0.0))
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    EDGE_NUMBERS,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def config_dicts(draw, defaults: dict[str, object], tasks: list[str]) -> dict[str, object]:
    """A JSON-ish config: settings of a valid config (``defaults``, as ``to_dict`` writes it), nine times
    in ten with one thing spoiled — a value of any JSON type or an edge number, a made-up key or section,
    a section that is not a table, a task that is not one — so that the spoiled part is what an error
    must name."""
    out: dict[str, object] = {}
    if draw(st.booleans()):
        out["task"] = defaults["task"]
    for section in draw(st.lists(st.sampled_from(SECTIONS), max_size=3, unique=True)):
        names = list(defaults[section])
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True))
        out[section] = {k: defaults[section][k] for k in chosen}
    spoil = draw(
        st.sampled_from(("value", "value", "number", "number", "key", "section", "table", "task", "none"))
    )
    tables = [s for s in out if s != "task"]
    if spoil == "value" and tables:
        table = out[draw(st.sampled_from(tables))]
        table[draw(st.sampled_from(sorted(table)))] = draw(st.one_of(JSON_SCALARS, JSON))
    elif spoil == "number" and tables:  # an edge number where a number belongs
        section = draw(st.sampled_from(tables))
        numeric = [
            k for k, v in defaults[section].items() if isinstance(v, int | float) and not isinstance(v, bool)
        ]
        if numeric:
            out[section][draw(st.sampled_from(numeric))] = draw(EDGE_NUMBERS)
    elif spoil == "key" and tables:
        out[draw(st.sampled_from(tables))][draw(st.text(max_size=6))] = draw(JSON_SCALARS)
    elif spoil == "section":
        out[draw(st.text(max_size=6).filter(lambda t: t not in SECTIONS))] = {}
    elif spoil == "table":
        out[draw(st.sampled_from(SECTIONS))] = draw(st.one_of(JSON_SCALARS, st.lists(JSON_SCALARS)))
    elif spoil == "task":
        out["task"] = draw(st.one_of(st.sampled_from(tasks), JSON))
    return out


def toml_value(value: object) -> str:
    """``value`` written as TOML (None has no TOML form: written as a bare word, which is invalid)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value) or value != value:
            return "nan" if value != value else "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return "none"


def toml_text(data: dict[str, object]) -> str:
    lines = []
    if "task" in data:
        lines.append(f"task = {toml_value(data['task'])}")
    for section, table in data.items():
        if section == "task":
            continue
        if isinstance(table, dict):
            lines.append(f"[{json.dumps(section)}]")
            lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
        else:
            lines.insert(0, f"{json.dumps(section)} = {toml_value(table)}")
    return "\n".join(lines) + "\n"
