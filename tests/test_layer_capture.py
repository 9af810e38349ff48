"""Every registered cell, with the default ``backend="auto"``, through graph capture:

1. ``torch.compile(fullgraph=True)`` equals eager — outputs, final states and the gradients of the input,
   the initial state and every parameter for random cotangents — with the fused operators
   (``rnnkit::scan_forward`` forward, ``rnnkit::scan_backward`` backward) in the captured graphs exactly
   for the cells that have a fused kernel; ``step()`` compiled equals eager (``rnnkit::step`` for a fused
   cell).
2. ``torch.export`` with dynamic batch and time: the program's module on another batch and time equals
   the layer; ``rnnkit.scan_forward`` for fused cells, torch's ``scan`` for the other recurrent ones
   (neither for the parallel minGRU/minLSTM); save/load; backward through the recorded inference form is
   a clear error.
3. ONNX (``dynamo=True``) with dynamic batch and time, with and without lengths, in onnxruntime on another
   batch and time: equal to PyTorch, standard operators only (a ``Scan``; minGRU/minLSTM: their parallel
   log-space scan); ``proj_size``, zoneout in eval mode, an unbatched input.
4. The TorchScript ONNX exporter (``dynamo=False``): ONNX's RNN operator for a torch twin, none otherwise;
   a trace made with full lengths still masks shorter ones.
5. pytorch/examples' word-language-model shape with ``rnnkit.LSTM``/``GRU``, through both ONNX exporters.

Tiny sizes: capture time dominates. ``aot_eager`` traces forward and backward through AOTAutograd (the
operators' fake implementations and registered autograd included) without inductor's code generation;
one test runs inductor.
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
import torch._dynamo
import torch.nn.functional as F
from functorch.compile import make_boxed_func
from torch import Tensor, nn
from torch._dynamo.backends.common import aot_autograd
from torch.export import Dim

import rnnkit
from conftest import ALL_CELLS, TWIN_CELLS, make_layer, states
from matrix import covering
from rnnkit.cells.registry import get_cell

I, H = 3, 4
T, B, LENGTHS = 5, 3, [5, 3, 2]  # the example's shape (what a graph is captured with)
T2, B2, LENGTHS2 = 7, 2, [4, 7]  # another batch and time (what the captured graph is run on)
TOL = {"rtol": 1e-5, "atol": 1e-5}  # fp32
SCAN_FORWARD = torch.ops.rnnkit.scan_forward.default
SCAN_BACKWARD = torch.ops.rnnkit.scan_backward.default
STEP = torch.ops.rnnkit.step.default
SCAN_HOP = torch.ops.higher_order.scan
ONNX_RNN_OPS = {"LSTM", "GRU", "RNN"}


@pytest.fixture(autouse=True)
def _fresh_dynamo() -> Iterator[None]:
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


# -- helpers ---------------------------------------------------------------------------------------------
def is_fused(name: str) -> bool:
    return get_cell(name).make_spec().kernel is not None


def is_parallel(name: str) -> bool:
    """Cells run as one parallel log-space scan (no recurrent weight): no per-step loop in any graph."""
    return bool(getattr(get_cell(name).make_spec(), "parallel", False))


def padded(steps: int, lengths: list[int]) -> tuple[Tensor, Tensor]:
    """(T, B, I) input whose padding past each length holds values (never read), and the lengths."""
    return torch.randn(steps, len(lengths), I), torch.tensor(lengths)


def flat(out: Tensor, state) -> list[Tensor]:
    return [out, *states(state)]


def cotangent_loss(tensors: list[Tensor], seed: int) -> Tensor:
    """A scalar whose gradient w.r.t. each tensor is a fixed random cotangent."""
    g = torch.Generator().manual_seed(seed)
    return sum((t * torch.randn(t.shape, generator=g)).sum() for t in tensors)


def assert_all_close(actual: list[Tensor], expected: list[Tensor], **tol) -> None:
    assert len(actual) == len(expected)
    for k, (a, e) in enumerate(zip(actual, expected, strict=True)):
        torch.testing.assert_close(a, e, **(tol or TOL), msg=lambda m, k=k: f"tensor {k}: {m}")


class Flat(nn.Module):
    """A layer with flat outputs (out, h_n[, c_n]): what export programs and ONNX graphs return."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, ...]:
        out, state = self.layer(x, lengths=lengths)
        return tuple(flat(out, state))


class FlatWithState(nn.Module):
    """As :class:`Flat`, with the initial state as inputs after ``x``."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, x: Tensor, *hx: Tensor) -> tuple[Tensor, ...]:
        out, state = self.layer(x, hx if len(hx) > 1 else hx[0])
        return tuple(flat(out, state))


class GraphRecorder:
    """A dynamo backend that records the call_function targets of dynamo's graph and of AOTAutograd's
    forward and backward graphs (ATen-level, where ``rnnkit.scan_forward.default`` appears), then runs
    them as they are (what ``aot_eager`` does)."""

    def __init__(self) -> None:
        self.targets: dict[str, list[object]] = {"dynamo": [], "forward": [], "backward": []}
        self._aot = aot_autograd(
            fw_compiler=self._compiler("forward"), bw_compiler=self._compiler("backward")
        )

    def _compiler(self, kind: str):
        def compile_graph(gm: torch.fx.GraphModule, example_inputs):
            self.targets[kind] += [n.target for n in gm.graph.nodes if n.op == "call_function"]
            return make_boxed_func(gm.forward)

        return compile_graph

    def __call__(self, gm: torch.fx.GraphModule, example_inputs):
        self.targets["dynamo"] += [n.target for n in gm.graph.nodes if n.op == "call_function"]
        return self._aot(gm, example_inputs)

    def count(self, kind: str, target: object) -> int:
        return sum(t is target for t in self.targets[kind])


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The exporters' progress prints, log records and their dependencies' warnings off (errors still
    raise)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx_dynamo(
    module: nn.Module, args: tuple, names: list[str], dynamic_shapes, path
) -> onnx.ModelProto:
    with quiet(), torch.no_grad():
        program = torch.onnx.export(
            module, args, dynamo=True, input_names=names, dynamic_shapes=dynamic_shapes, verbose=False
        )
    program.save(str(path))
    return onnx.load(str(path))


def export_onnx_torchscript(module: nn.Module, args: tuple, names: list[str], path) -> onnx.ModelProto:
    with quiet(), torch.no_grad():
        torch.onnx.export(module, args, str(path), dynamo=False, input_names=names, verbose=False)
    return onnx.load(str(path))


def run_ort(path, feeds: dict[str, Tensor]) -> list[Tensor]:
    """Run the ONNX file at ``path`` in onnxruntime (CPU) on ``feeds`` (input name -> tensor)."""
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(feeds)  # every feed is a real graph input
    outputs = session.run(None, {k: v.detach().numpy() for k, v in feeds.items()})
    return [torch.from_numpy(np.asarray(o)) for o in outputs]


def onnx_nodes(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    """Every node of the model: the main graph, the subgraphs of Scan/Loop/If bodies, local functions."""
    found: list[onnx.NodeProto] = []

    def visit(nodes) -> None:
        for node in nodes:
            found.append(node)
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g.node)
                for g in attr.graphs:
                    visit(g.node)

    visit(model.graph.node)
    for fn in model.functions:
        visit(fn.node)
    return found


def assert_standard_onnx(model: onnx.ModelProto) -> set[str]:
    """No node outside ONNX's default domain (the other runtime knows nothing of rnnkit); returns the
    op types used."""
    custom = sorted(
        {f"{n.domain}::{n.op_type}" for n in onnx_nodes(model) if n.domain not in ("", "ai.onnx")}
    )
    assert not custom, f"custom-domain nodes in the ONNX graph: {custom}"
    return {n.op_type for n in onnx_nodes(model)}


def eager(module: nn.Module, *args: Tensor) -> list[Tensor]:
    with torch.no_grad():
        return list(module(*args))


# -- 1. torch.compile ----------------------------------------------------------------------------------
def compiled_vs_eager(layer: nn.Module, backend) -> tuple[list[Tensor], list[Tensor]]:
    """(eager, compiled) results of a padded batch with an initial state: outputs, final states, then the
    gradients of x, of the initial state and of every parameter for the same random cotangents."""
    x, lengths = padded(T, LENGTHS)
    with torch.no_grad():
        shapes = [s.shape for s in states(layer(x, lengths=lengths)[1])]
    hx = [torch.randn(s) for s in shapes]
    compiled = torch.compile(layer, backend=backend, fullgraph=True)
    results = []
    for fn in (layer, compiled):
        xs = x.clone().requires_grad_()
        h0 = [h.clone().requires_grad_() for h in hx]
        out, state = fn(xs, tuple(h0) if len(h0) > 1 else h0[0], lengths=lengths)
        values = flat(out, state)
        wrt = [xs, *h0, *layer.parameters()]
        grads = torch.autograd.grad(cotangent_loss(values, seed=1), wrt)
        results.append([v.detach() for v in values] + list(grads))
    return results[0], results[1]


@pytest.mark.parametrize("name", ALL_CELLS)
def test_compiled_layer_equals_eager_with_gradients(name):
    layer = make_layer(name, I, H, num_layers=2, bidirectional=True)
    recorder = GraphRecorder()
    expected, actual = compiled_vs_eager(layer, recorder)
    assert_all_close(actual, expected)
    runs = layer.num_layers * layer.num_directions
    if is_fused(name):  # the fused operator itself is in the graphs: once per layer and direction
        assert recorder.count("forward", SCAN_FORWARD) == runs
        assert recorder.count("backward", SCAN_BACKWARD) == runs
    else:
        assert recorder.count("forward", SCAN_FORWARD) == 0
        assert recorder.count("backward", SCAN_BACKWARD) == 0
        assert not any("rnnkit" in str(t) for t in recorder.targets["dynamo"])


def test_inductor_compiled_fused_layer_equals_eager():
    layer = make_layer("gru", I, H, bidirectional=True)
    expected, actual = compiled_vs_eager(layer, "inductor")
    assert_all_close(actual, expected)


@pytest.mark.parametrize("name", ["lstm", "layernorm_gru"])
def test_compiled_step_equals_eager(name):
    layer = make_layer(name, I, H, num_layers=2).eval()
    recorder = GraphRecorder()
    step = torch.compile(layer.step, backend=recorder, fullgraph=True)
    x = torch.randn(4, B, I)
    state_e = state_c = None
    with torch.no_grad():
        for t in range(x.size(0)):  # the state carried from step to step
            out_e, state_e = layer.step(x[t], state_e)
            out_c, state_c = step(x[t], state_c)
            assert_all_close(flat(out_c, state_c), flat(out_e, state_e))
        out_seq, state_seq = layer(x)  # the steps are the sequence
    assert_all_close(flat(out_c, state_c), flat(out_seq[-1], state_seq))
    assert recorder.count("forward", STEP) == (2 if is_fused(name) else 0)  # without and with a state


# -- 2. torch.export -----------------------------------------------------------------------------------
def export_layer(layer: nn.Module) -> torch.export.ExportedProgram:
    time, batch = Dim("time", min=2, max=64), Dim("batch", min=1, max=32)
    x, lengths = padded(T, LENGTHS)
    dynamic = {"x": {0: time, 1: batch}, "lengths": {0: batch}}
    with torch.no_grad():  # as for inference
        return torch.export.export(Flat(layer), (x, lengths), dynamic_shapes=dynamic)


@pytest.mark.parametrize("name", ALL_CELLS)
def test_exported_program_runs_another_batch_and_time(name):
    layer = make_layer(name, I, H, num_layers=2).eval()
    program = export_layer(layer)
    x2, lengths2 = padded(T2, LENGTHS2)
    assert_all_close(eager(program.module(), x2, lengths2), eager(Flat(layer), x2, lengths2))
    targets = [n.target for n in program.graph.nodes if n.op == "call_function"]
    fused_ops = sum(t is SCAN_FORWARD for t in targets)
    scans = sum(t is SCAN_HOP for t in targets)
    if is_fused(name):
        assert (fused_ops, scans) == (2, 0)  # one per layer
    elif is_parallel(name):
        assert (fused_ops, scans) == (0, 0)  # the log-space scan: standard operators over the whole time
    else:
        assert (fused_ops, scans) == (0, 2)


def test_exported_program_save_load_round_trip(tmp_path):
    layer = make_layer("lstm", I, H, num_layers=2, bidirectional=True).eval()
    path = tmp_path / "lstm.pt2"
    torch.export.save(export_layer(layer), path)
    loaded = torch.export.load(path)
    x2, lengths2 = padded(T2, LENGTHS2)
    assert_all_close(eager(loaded.module(), x2, lengths2), eager(Flat(layer), x2, lengths2))
    assert any(n.target is SCAN_FORWARD for n in loaded.graph.nodes)


def test_backward_through_an_exported_fused_program_is_a_clear_error():
    layer = make_layer("lstm", I, H, bidirectional=True)
    module = export_layer(layer).module()
    x2, lengths2 = padded(T2, LENGTHS2)
    out = module(x2.requires_grad_(), lengths2)[0]
    with pytest.raises(RuntimeError, match=r"training=False \(the inference form.*torch\.export records"):
        out.sum().backward()


# -- 3. ONNX (dynamo) ----------------------------------------------------------------------------------
def onnx_round_trip(
    layer: nn.Module, with_lengths: bool, path
) -> tuple[set[str], list[Tensor], list[Tensor]]:
    """Export ``layer`` with dynamic batch and time (lengths as an input, or an initial state as inputs),
    run it on another batch and time; (op types, onnxruntime's outputs, PyTorch's)."""
    time, batch = Dim("time"), Dim("batch")
    x, lengths = padded(T, LENGTHS)
    x2, lengths2 = padded(T2, LENGTHS2)
    if with_lengths:
        module, args, args2, names = Flat(layer), (x, lengths), (x2, lengths2), ["x", "lengths"]
        dynamic = {"x": {0: time, 1: batch}, "lengths": {0: batch}}
    else:
        with torch.no_grad():
            hx = [torch.randn(s.shape) for s in states(layer(x)[1])]  # each (L*D, B, ·)
        hx2 = [torch.randn(h.size(0), B2, h.size(2)) for h in hx]
        module, args, args2 = FlatWithState(layer), (x, *hx), (x2, *hx2)
        names = ["x", "h0", "c0"][: 1 + len(hx)]
        dynamic = {"x": {0: time, 1: batch}, "hx": tuple({1: batch} for _ in hx)}
    model = export_onnx_dynamo(module, args, names, dynamic, path)
    ops = assert_standard_onnx(model)
    return ops, run_ort(path, dict(zip(names, args2, strict=True))), eager(module, *args2)


# every cell in one of the two modes in CI (each mode with half the cells), both with -m slow
@pytest.mark.parametrize(("name", "with_lengths"), covering(ALL_CELLS, [False, True]))
def test_onnx_every_cell_dynamic_batch_and_time(name, with_lengths, tmp_path):
    layer = make_layer(name, I, H, bidirectional=with_lengths).eval()  # a reverse direction: lengths
    ops, actual, expected = onnx_round_trip(layer, with_lengths, tmp_path / f"{name}.onnx")
    assert_all_close(actual, expected)
    assert ("Scan" in ops) != is_parallel(name)  # the recurrence as ONNX's Scan; dynamic time
    assert not ops & ONNX_RNN_OPS


def test_onnx_lstm_with_proj_size(tmp_path):
    layer = make_layer("lstm", I, H, proj_size=2, bidirectional=True).eval()
    ops, actual, expected = onnx_round_trip(layer, True, tmp_path / "proj.onnx")
    assert [t.shape for t in actual] == [(T2, B2, 4), (2, B2, 2), (2, B2, H)]
    assert_all_close(actual, expected)
    assert "Scan" in ops


def test_onnx_zoneout_in_eval_mode(tmp_path):
    layer = make_layer("lstm", I, H, zoneout=(0.3, 0.2)).eval()
    plain = make_layer("lstm", I, H).eval()
    plain.load_state_dict(layer.state_dict())
    ops, actual, expected = onnx_round_trip(layer, True, tmp_path / "zoneout.onnx")
    assert_all_close(actual, expected)
    x2, lengths2 = padded(T2, LENGTHS2)
    assert not torch.allclose(eager(Flat(plain), x2, lengths2)[0], eager(Flat(layer), x2, lengths2)[0])
    assert "Scan" in ops


def test_onnx_unbatched_input(tmp_path):
    layer = make_layer("gru", I, H, num_layers=2).eval()
    path = tmp_path / "unbatched.onnx"
    model = export_onnx_dynamo(Flat(layer), (torch.randn(T, I),), ["x"], {"x": {0: Dim("time")}}, path)
    assert "Scan" in assert_standard_onnx(model)
    x2 = torch.randn(T2, I)
    actual = run_ort(path, {"x": x2})
    assert [t.shape for t in actual] == [(T2, H), (2, H)]
    assert_all_close(actual, eager(Flat(layer), x2))


# -- 4. the TorchScript ONNX exporter ------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lstm", "urlstm"])
def test_torchscript_onnx_exporter(name, tmp_path):
    layer = make_layer(name, I, H, num_layers=2, bidirectional=True).eval()
    x = torch.randn(T, B, I)
    with torch.no_grad():
        hx = [torch.randn(s.shape) for s in states(layer(x)[1])]
    names = ["x", "h0", "c0"][: 1 + len(hx)]
    path = tmp_path / f"{name}.onnx"
    ops = assert_standard_onnx(export_onnx_torchscript(FlatWithState(layer), (x, *hx), names, path))
    assert bool(ops & ONNX_RNN_OPS) == (name in TWIN_CELLS)
    hx_other = [torch.randn(h.shape) for h in hx]  # the state is an input, not a constant
    actual = run_ort(path, dict(zip(names, [x, *hx_other], strict=True)))
    assert_all_close(actual, eager(FlatWithState(layer), x, *hx_other))


@pytest.mark.parametrize("name", ["gru", "lstm_peephole"])
def test_torchscript_trace_with_full_lengths_masks_shorter_ones(name, tmp_path):
    layer = make_layer(name, I, H, bidirectional=True).eval()
    x = torch.randn(T, B, I)
    path = tmp_path / f"{name}.onnx"
    full = torch.full((B,), T)
    assert_standard_onnx(export_onnx_torchscript(Flat(layer), (x, full), ["x", "lengths"], path))
    for lengths in (torch.tensor(LENGTHS), torch.tensor([1, 4, 5]), full):
        actual = run_ort(path, {"x": x, "lengths": lengths})
        expected = eager(Flat(layer), x, lengths)
        assert_all_close(actual, expected)
        short = lengths < T
        if short.any():  # outputs past a length are zero: the masking ran
            assert (actual[0][T - 1, short] == 0).all()


# -- 5. pytorch/examples' word language model -------------------------------------------------------
class WordLanguageModel(nn.Module):
    """pytorch/examples' word_language_model RNNModel (Embedding -> RNN -> Dropout -> Linear ->
    log_softmax) with rnnkit's layer in place of torch.nn's."""

    def __init__(self, rnn_type: str, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float = 0.5):
        super().__init__()
        self.rnn_type, self.ntoken, self.nhid, self.nlayers = rnn_type, ntoken, nhid, nlayers
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(rnnkit, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input: Tensor, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output).view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz: int):
        weight = next(self.parameters())
        if self.rnn_type == "LSTM":
            return (
                weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid),
            )
        return weight.new_zeros(self.nlayers, bsz, self.nhid)


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("rnn_type", ["LSTM", "GRU"])
def test_word_language_model_in_onnxruntime_equals_pytorch(rnn_type, dynamo, tmp_path):
    ntoken = 11
    model = WordLanguageModel(rnn_type, ntoken, ninp=4, nhid=6, nlayers=2).eval()
    tokens, hidden = torch.randint(0, ntoken, (T, B)), model.init_hidden(B)  # as the example exports
    names = ["input", "h0", "c0"] if rnn_type == "LSTM" else ["input", "h0"]
    path = tmp_path / "model.onnx"
    if dynamo:
        time, batch = Dim("time"), Dim("batch")
        per_state = {1: batch}
        dynamic = ({0: time, 1: batch}, (per_state, per_state) if rnn_type == "LSTM" else per_state)
        ops = assert_standard_onnx(export_onnx_dynamo(model, (tokens, hidden), names, dynamic, path))
        assert "Scan" in ops
        steps, batch_size = T2, B2
    else:
        ops = assert_standard_onnx(export_onnx_torchscript(model, (tokens, hidden), names, path))
        assert rnn_type in ops  # torch's operator, as ONNX's LSTM/GRU
        steps, batch_size = T, B
    tokens2 = torch.randint(0, ntoken, (steps, batch_size))
    hidden2 = tuple(torch.randn(2, batch_size, 6) for _ in names[1:])
    actual = run_ort(path, dict(zip(names, [tokens2, *hidden2], strict=True)))
    log_probs, state = model(tokens2, hidden2 if rnn_type == "LSTM" else hidden2[0])
    assert_all_close(actual, [t.detach() for t in flat(log_probs, state)])
