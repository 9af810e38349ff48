"""Export to ONNX and torch.export (pt2): every model shape through both formats checked against PyTorch
in the real runtimes (onnxruntime; torch.export.load(...).module()), greedy generation and seq2seq
greedy decoding driven by onnxruntime equal to the models' own, the refusal to write a file that does not
match, and ``rnnkit export`` on runs of every task (the signature it prints, the JSON sidecar)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from rnnkit import cli
from rnnkit.export import (
    ExportFailedError,
    ExportMismatchError,
    export_onnx,
    export_pt2,
    plan_parts,
    sequence,
)
from rnnkit.export.check import check_part
from rnnkit.export.pt2 import Pt2Artefact, export_part_pt2
from rnnkit.export.runtime import onnx_generate_greedy, onnx_greedy_decode, onnx_session
from rnnkit.models import Forecaster, Generator, Seq2Seq, SequenceClassifier, SequenceTagger
from rnnkit.tasks import get_task, resolve_config
from rnnkit.train.checkpoint import save_checkpoint
from rnnkit.train.config import to_dict
from train_helpers import one_thread  # noqa: F401


def _forecaster() -> Forecaster:
    m = Forecaster(3, horizon=2, num_targets=1, hidden_size=8)
    g = torch.Generator().manual_seed(0)
    return m.fit_scalers(torch.randn(50, 3, generator=g) * 5 + 2, torch.randn(50, 1, generator=g) * 3 - 1)


SHAPES = {
    "classifier": lambda: SequenceClassifier(3, 4, 8, num_layers=2),
    "tagger": lambda: SequenceTagger(3, 5, 8, cell="gru", bidirectional=True),
    "forecaster": _forecaster,
    "generator": lambda: Generator(11, 6, 8, num_layers=2),
    "seq2seq": lambda: Seq2Seq(13, 13, 6, 8, attention="luong"),
}


def _inputs(model: nn.Module, part, B: int, T: int, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Fresh inputs of batch B and time T for a part, padded sequences with lengths where it takes them."""
    if part.name == "decoder":
        src = torch.randint(0, 13, (B, T), generator=g)
        lengths = torch.tensor([T, 1, *torch.randint(1, T + 1, (B - 2,), generator=g).tolist()])
        with torch.no_grad():
            enc, state = model.encode(src, lengths)
        token = torch.randint(0, 13, (B,), generator=g)
        mask = torch.arange(T)[None] < lengths[:, None]
        return dict(zip(part.inputs, (token, *state, enc.memory, enc.keys, mask), strict=True))
    if part.name == "step":
        state = [0.5 * torch.randn(2, B, 8, generator=g) for _ in range(2)]
        return dict(zip(part.inputs, (torch.randint(0, 11, (B,), generator=g), *state), strict=True))
    x = (
        torch.randint(0, 13, (B, T), generator=g)
        if part.name == "encoder"
        else torch.randn(B, T, 3, generator=g)
    )
    lengths = torch.tensor([T, 1, *torch.randint(1, T + 1, (B - 2,), generator=g).tolist()])  # padded
    return dict(zip(part.inputs, (x, lengths), strict=False))


def _pytorch(model: nn.Module, part_name: str, feeds: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """What the model itself computes for a part's inputs (its own methods, not the export wrappers)."""
    with torch.no_grad():
        if isinstance(model, Forecaster):
            return [model.predict(feeds["window"], feeds["lengths"])]
        if part_name == "model":
            return [model(feeds["x"], feeds["lengths"])]
        if part_name == "step":
            logits, (h, c) = model._step(feeds["token"], (feeds["h"], feeds["c"]))
            return [logits, h, c]
        if part_name == "encoder":
            enc, (h, c) = model.encode(feeds["src"], feeds["src_lengths"])
            return [enc.memory, enc.keys, enc.mask, h, c]
        from rnnkit.models import Encoded

        enc = Encoded(feeds["memory"], feeds["keys"], feeds["mask"])
        logits, (h, c), _ = model.decode_step(feeds["token"], (feeds["h"], feeds["c"]), enc)
        return [logits, h, c]


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_every_shape_exports_and_matches_pytorch_in_its_runtime(shape, fmt, tmp_path):
    torch.manual_seed(0)
    model = SHAPES[shape]().eval()
    export = export_onnx if fmt == "onnx" else export_pt2
    result = export(model, tmp_path / f"m.{fmt}")
    assert result.kind == shape and result.lengths == (shape != "generator")
    parts = {p.name: p for p in plan_parts(model, lengths=result.lengths)}
    assert [f.part for f in result.files] == list(parts)
    g = torch.Generator().manual_seed(1)
    rnnkit_ops = False
    for f in result.files:
        assert f.path.is_file() and f.check.max_abs_diff <= 1e-5
        B, T = 4, 6  # neither the example's batch nor its time length
        feeds = _inputs(model, parts[f.part], B, T, g)
        want = _pytorch(model, f.part, feeds)
        if fmt == "onnx":
            got = onnx_session(f.path).run(None, {k: v.numpy() for k, v in feeds.items()})
            got = [torch.from_numpy(np.asarray(o)) for o in got]
        else:
            with torch.no_grad():
                got = torch.export.load(str(f.path)).module()(*feeds.values())
            got = list(got) if isinstance(got, tuple | list) else [got]
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape
            if b.dtype == torch.bool:
                assert torch.equal(a, b)
            else:
                assert float((a - b).abs().max()) <= 1e-5
        shapes = {s.name: s.shape for s in (*f.signature.inputs, *f.signature.outputs)}
        assert all("batch" in s for s in shapes.values())  # every tensor has the symbolic batch
        if fmt == "pt2":
            graph = torch.export.load(str(f.path)).graph
            rnnkit_ops |= any(getattr(n.target, "namespace", None) == "rnnkit" for n in graph.nodes)
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["needs_import_rnnkit"] is rnnkit_ops  # loading needs `import rnnkit` iff it calls its ops
    assert sidecar["kind"] == shape and sidecar["files"] == {f.part: f.path.name for f in result.files}
    assert sidecar["versions"]["torch"] == torch.__version__
    assert (sidecar["opset"] is not None) == (fmt == "onnx")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_generator_step_in_onnxruntime_reproduces_greedy_sampling(cell, tmp_path):
    torch.manual_seed(3)
    model = Generator(17, 8, 24, num_layers=2, cell=cell).eval()
    result = export_onnx(model, tmp_path / "gen.onnx", opset=18)
    assert result.opset == 18 and json.loads(result.sidecar.read_text())["opset"] == 18
    assert [s.name for s in result.files[0].signature.inputs] == ["token", *model.rnn.spec.state_names]
    prime = [3, 1, 4, 1, 5]
    got = onnx_generate_greedy(onnx_session(result.files[0].path), prime, 30)
    assert got == model.sample(prime, 30, temperature=0.0)


@pytest.mark.parametrize("attention", [None, "luong", "bahdanau"])
def test_seq2seq_greedy_decode_in_onnxruntime_equals_the_models(attention, tmp_path):
    torch.manual_seed(4)
    model = Seq2Seq(15, 15, 8, 16, num_layers=2, attention=attention).eval()
    g = torch.Generator().manual_seed(5)
    src = torch.randint(4, 15, (5, 9), generator=g)
    lengths = torch.tensor([9, 4, 7, 1, 6])
    first = model.greedy(src, lengths, max_len=12, bos=1, eos=2)
    eos = first[0][2]  # a token the model does produce early: some rows end before max_len
    want = model.greedy(src, lengths, max_len=12, bos=1, eos=eos)
    assert any(len(r) < 12 for r in want)
    result = export_onnx(model, tmp_path / "s2s.onnx")
    encoder, decoder = (onnx_session(f.path) for f in result.files)
    assert {f.path.name for f in result.files} == {"s2s.encoder.onnx", "s2s.decoder.onnx"}
    got = onnx_greedy_decode(encoder, decoder, src.numpy(), lengths.numpy(), max_len=12, bos=1, eos=eos)
    assert got == want
    dec_inputs = [i.name for i in decoder.get_inputs()]
    assert ("memory" in dec_inputs) == (attention is not None)


def test_a_file_that_does_not_match_pytorch_is_refused_and_not_written(tmp_path, monkeypatch):
    model = Generator(11, 6, 8).eval()
    part = plan_parts(model)[0]
    signature = export_part_pt2(part).signature
    off = lambda inputs: tuple(o + 1e-3 for o in part.run(inputs))  # noqa: E731
    with pytest.raises(ExportMismatchError, match=r"max \|difference\| 0\.001"):
        check_part(part, signature, off, "pt2 step")
    real_run = Pt2Artefact.run
    monkeypatch.setattr(
        Pt2Artefact, "run", lambda self, inputs: tuple(o + 1e-3 for o in real_run(self, inputs))
    )
    with pytest.raises(ExportMismatchError, match="nothing was written"):
        export_pt2(model, tmp_path / "bad.pt2")
    assert not list(tmp_path.iterdir())


def test_lengths_an_exporter_cannot_trace_are_left_out_with_a_note(tmp_path, monkeypatch):
    def reads_values(self, x, lengths):  # as a layer whose length checks read tensor values would
        if int(lengths.min()) < 1:
            raise ValueError("lengths must be >= 1")
        return self.model(x, lengths)

    monkeypatch.setattr(sequence._ForwardLengths, "forward", reads_values)
    model = SequenceClassifier(3, 2, 8)
    result = export_pt2(model, tmp_path / "m.pt2")
    assert result.lengths is False and "lengths is not an input" in result.notes[0]
    assert [s.name for s in result.files[0].signature.inputs] == ["x"]
    sidecar = json.loads(result.sidecar.read_text())
    assert sidecar["lengths"] is False and sidecar["notes"] == result.notes
    with pytest.raises(ExportFailedError, match="the pt2 export of the classifier's model failed"):
        export_pt2(model, tmp_path / "n.pt2", lengths=True)
    assert not (tmp_path / "n.pt2").exists()


def test_bad_arguments_are_clear_errors(tmp_path):
    gen = Generator(11, 6, 8)
    with pytest.raises(ValueError, match=r"path must end in \.onnx for format 'onnx', got"):
        export_onnx(gen, tmp_path / "m.pt2")
    with pytest.raises(TypeError, match=r"model must be one of rnnkit's model shapes .* got Linear"):
        export_pt2(nn.Linear(2, 2), tmp_path / "m.pt2")
    with pytest.raises(ValueError, match="lengths must be False for a generator"):
        export_onnx(gen, tmp_path / "m.onnx", lengths=True)
    with pytest.raises(ValueError, match="forecaster's input scaler is not fitted"):
        export_onnx(Forecaster(3, horizon=2), tmp_path / "m.onnx")
    framed = SequenceClassifier(4, 2, 8, encoder=nn.Linear(5, 4))
    with pytest.raises(ValueError, match="example must be a real input batch"):
        export_pt2(framed, tmp_path / "m.pt2")
    with pytest.raises(
        ValueError, match=r"example must have batch >= 2 and time >= 2, got shape \(1, 5, 5\)"
    ):
        export_pt2(framed, tmp_path / "m.pt2", example=torch.randn(1, 5, 5))
    with pytest.raises(ValueError, match="atol must be a finite number >= 0, got -1"):
        export_onnx(gen, tmp_path / "m.onnx", atol=-1)
    with pytest.raises(TypeError, match="metadata must be a JSON-serialisable mapping"):
        export_onnx(gen, tmp_path / "m.onnx", metadata={"itos": {1, 2}})
    with pytest.raises(ValueError, match="steps must be >= 2"):
        export_pt2(SequenceClassifier(3, 2, 8), tmp_path / "m.pt2", steps=1)
    assert not list(tmp_path.iterdir())


# -- the command ----------------------------------------------------------------------------------------
def _make_run(root, task: str):
    """A run directory of ``task`` as ``rnnkit train`` leaves it (smoke-sized model, real task state),
    without the training: exporting reads only the checkpoint."""
    t = get_task(task)
    cfg = resolve_config(task, preset="smoke" if "smoke" in t.presets else None)
    data = t.build_data(cfg)
    torch.manual_seed(0)
    model = t.build_model(cfg, data.state)
    run = root / task
    save_checkpoint(
        run / "checkpoints" / "best.safetensors",
        model,
        extra={"config": to_dict(cfg), "task_state": data.state},
    )
    return run, data.state


#: every task with the format its command test uses (both formats are covered per shape above)
TASK_FORMATS = {
    "text": "onnx",
    "music": "pt2",
    "stocks": "onnx",
    "series": "pt2",
    "jump": "onnx",
    "compose": "pt2",
    "adding": "pt2",
    "copy": "onnx",
    "seqdigits": "pt2",
}


@pytest.mark.parametrize("task", list(TASK_FORMATS))
def test_export_command_on_every_task(task, tmp_path, capsys):
    fmt = TASK_FORMATS[task]
    run, state = _make_run(tmp_path, task)
    assert cli.main(["export", str(run), "--format", fmt]) == 0
    out = capsys.readouterr().out
    sidecar = json.loads((run / "export" / f"{task}.json").read_text())
    assert sidecar["model"]["task"] == task and sidecar["format"] == fmt
    for part, name in sidecar["files"].items():
        assert (run / "export" / name).is_file()
        assert f"{name} ({part}):" in out
        for spec in sidecar["signature"][part]["inputs"]:
            dims = ", ".join(str(d) for d in spec["shape"])
            assert f"{spec['name']}: {spec['dtype']}[{dims}]" in out  # the printed signature
        assert sidecar["check"][part]["max_abs_diff"] <= 1e-5
    assert "max |difference|" in out
    meta = sidecar["model"]
    if task == "text":
        assert meta["vocab"]["itos"] == state["chars"]
        assert sidecar["signature"]["step"]["inputs"][0] == {
            "name": "token",
            "dtype": "int64",
            "shape": ["batch"],
            "doc": "the last token of each sequence, int64 in [0, V) (B,)",
        }
    if task == "compose":
        assert meta["vocab"]["itos"] == json.loads(state["vocab"])["itos"] and meta["vocab"]["eos"] == 2
        assert sidecar["lengths"] is True
    if task in ("stocks", "series"):
        assert meta["scalers"] == state["scalers"] and meta["window"] == state["window"]
        assert len(meta["features"]) == len(state["scalers"]["input_mean"])
    if task == "jump":
        assert meta["class_names"] == state["class_names"]


def test_export_command_help_and_bad_runs(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["export", "--help"])
    assert e.value.code == 0 and "onnxruntime" in capsys.readouterr().out
    assert cli.main(["export", str(tmp_path / "nope"), "--format", "onnx"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli.main(["export", str(tmp_path / "empty"), "--format", "onnx"]) == 2
    assert "holds no 'best' checkpoint" in capsys.readouterr().err
    assert cli.main(["export", "--out-dir", str(tmp_path), "--task", "text", "--format", "pt2"]) == 2
    assert "no trained text run" in capsys.readouterr().err
    run, _ = _make_run(tmp_path, "adding")
    assert cli.main(["export", str(run), "--format", "pt2", "--out", str(tmp_path / "a.onnx")]) == 2
    assert "--out must end in .pt2" in capsys.readouterr().err
    assert cli.main(["export", str(run), "--format", "pt2", "--opset", "18"]) == 2
    assert "--opset applies to --format onnx only" in capsys.readouterr().err
    assert cli.main(["export", str(run), "--format", "onnx", "--task", "text"]) == 2
    assert "is a 'adding' run, not 'text'" in capsys.readouterr().err
    assert not (run / "export").exists()
