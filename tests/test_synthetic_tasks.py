"""The synthetic memory tasks and sequential digits: data layout, baselines worked out by hand,
reproducible/resumable batch sources, and the tasks running end to end through the trainer."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.data import digits, synthetic
from rnnkit.tasks import get_task, resolve_config
from rnnkit.tasks import train as train_task


def test_copy_batch_layout():
    L = 7
    x, y = synthetic.copy_batch(5, L, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, L + 20)
    symbols = x[:, :10]
    assert torch.all((symbols >= 1) & (symbols <= 8))
    assert torch.all(x[:, 10 : 10 + L - 1] == 0) and torch.all(x[:, 10 + L - 1] == 9)
    assert torch.all(x[:, 10 + L :] == 0)
    assert torch.all(y[:, : L + 10] == 0) and torch.equal(y[:, L + 10 :], symbols)


@pytest.mark.parametrize("lag", [1, 100, 500])
def test_copy_memoryless_baseline_by_hand(lag):
    """The best model without memory: blank for sure until the recall, then uniform over 8 symbols."""
    _, y = synthetic.copy_batch(16, lag, generator=torch.Generator().manual_seed(1))
    T = lag + 20
    logits = torch.full((16, T, 9), -1e9)
    logits[:, : lag + 10, 0] = 0.0
    logits[:, lag + 10 :, 1:] = 0.0
    ce = F.cross_entropy(logits.reshape(-1, 9), y.reshape(-1))
    assert math.isclose(float(ce), 10 * math.log(8) / (lag + 20), rel_tol=1e-6)
    assert math.isclose(synthetic.copy_baseline(lag), 10 * math.log(8) / (lag + 20))


def test_adding_batch_and_baseline():
    x, y = synthetic.adding_batch(20000, 50, generator=torch.Generator().manual_seed(0))
    assert x.shape == (20000, 50, 2) and y.shape == (20000,)
    markers = x[..., 1]
    assert torch.all(markers.sum(1) == 2)
    assert torch.all(markers[:, :25].sum(1) == 1) and torch.all(markers[:, 25:].sum(1) == 1)
    torch.testing.assert_close(y, (x[..., 0] * markers).sum(1))
    # predicting the mean 1 gives MSE = Var(U + U') = 1/6 for U, U' ~ U[0, 1]
    assert abs(float(y.mean()) - 1.0) < 0.01
    assert abs(float(((y - 1) ** 2).mean()) - synthetic.ADDING_BASELINE_MSE) < 0.005
    with pytest.raises(ValueError, match="length must be >= 2"):
        synthetic.adding_batch(2, 1)


def test_synthetic_source_is_reproducible_and_resumable():
    make = lambda g: synthetic.adding_batch(4, 10, generator=g)  # noqa: E731
    src = synthetic.SyntheticSource(make, batches=5, seed=3)
    a = list(src.epoch(2))
    b = list(src.epoch(2, start=3))
    assert len(a) == 5 and len(src) == 5 and len(b) == 2
    for (xa, ya), (xb, yb) in zip(a[3:], b, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert not torch.equal(a[0][0], next(src.epoch(3))[0])  # a new epoch draws new batches
    fixed = synthetic.SyntheticSource(make, batches=2, seed=3, fixed=True)
    assert torch.equal(next(fixed.epoch(0))[0], next(fixed.epoch(7))[0])  # validation: always the same


def test_digits_splits_and_permutation():
    plain, perm = digits.load_splits(), digits.load_splits(permuted=True)
    sizes = {k: len(v[1]) for k, v in plain.items()}
    assert sizes == {"train": 1257, "val": 270, "test": 270}
    # where 1257/270/270 come from: scikit-learn's load_digits ships 1,797 8x8 images; 30% (rounded up
    # by train_test_split: 540) are held out and halved into validation and test
    from sklearn.datasets import load_digits

    n = len(load_digits().target)
    held = math.ceil(0.3 * n)
    assert n == 1797 and sizes == {
        "train": n - held,
        "val": held - math.ceil(held / 2),
        "test": math.ceil(held / 2),
    }
    x, y = plain["train"]
    assert x.shape == (1257, 64, 1) and float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.all(torch.bincount(y, minlength=10) > 100)
    order = digits.pixel_permutation()
    assert sorted(order.tolist()) == list(range(64)) and not torch.equal(order, torch.arange(64))
    assert torch.equal(digits.pixel_permutation(), order)  # fixed
    assert torch.equal(perm["val"][0], plain["val"][0][:, order]) and torch.equal(
        perm["val"][1], plain["val"][1]
    )


@pytest.mark.parametrize("task", ["adding", "copy", "seqdigits"])
def test_tasks_train_end_to_end(task, tmp_path):
    cfg = resolve_config(
        task,
        preset="smoke",
        overrides={
            "run.out_dir": str(tmp_path),
            "run.progress": False,
            "run.plot": False,
            "model.cell": "urgru",
        },
    )
    summary = train_task(cfg, echo=lambda s: None)
    data = json.loads((summary.run_dir / "summary.json").read_text())
    t = get_task(task)
    assert t.monitor in data["metrics"]["val"] and t.monitor in data["metrics"]["test"]
    assert data["baselines"]["val"], "a baseline is reported next to the model"
    if task == "copy":
        assert math.isclose(data["baselines"]["val"]["memoryless"]["loss"], synthetic.copy_baseline(10))
    if task == "adding":  # the empirical 1/6 on the fixed validation set
        assert abs(data["baselines"]["val"]["predict 1"]["mse"] - 1 / 6) < 0.1
        # exactly the MSE of predicting 1 on the run's own (fixed) validation and test targets: a
        # baseline predicting anything else, or scored on other data, is off by far more than 1e-6
        split = t.build_data(cfg)
        for name, source in (("val", split.val), ("test", split.test)):
            ys = torch.cat([y for _, y in source.epoch(0)]).double()
            row = data["baselines"][name]["predict 1"]
            assert row["mse"] == pytest.approx(float(((ys - 1) ** 2).mean()), rel=1e-6, abs=1e-9), name
            assert row["ratio"] == pytest.approx(row["mse"] * 6, rel=1e-6), name


def test_model_options_reach_the_layer():
    t = get_task("adding")
    cfg = resolve_config(
        "adding", overrides={"model.forget_bias": "1.0", "model.recurrent_init": "orthogonal"}
    )
    rnn = t.build_model(cfg, {}).rnn
    assert rnn.spec.forget_bias == 1.0 and rnn.recurrent_init == "orthogonal"
    cfg = resolve_config("adding", overrides={"model.forget_bias": "lots"})
    with pytest.raises(ValueError, match=r"model.forget_bias must be a number or 'ugi', got 'lots'"):
        t.build_model(cfg, {})
