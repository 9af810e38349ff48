"""The GEMM choice of the fused CPU backend (``rnnkit.scan.cpu.gemm``): the vendor GEMM path gives the
reference's values and gradients on every class of product (proved to have run by the extension's
count of vendor calls), the choice comes from ``$RNNKIT_GEMM`` or a per-machine measurement cached
beside the build, and a bad ``$RNNKIT_GEMM`` leaves the backend unavailable with the reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from backend_helpers import assert_same_runs, backend_pair
from rnnkit.scan.cpu import gemm, load, probe
from rnnkit.scan.cpu import ops as ops_mod

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")  # a fallback warning fails a test
TOL = {torch.float64: {"atol": 1e-10, "rtol": 1e-9}, torch.float32: {"atol": 2e-5, "rtol": 1e-4}}


@pytest.fixture(scope="module")
def ext():
    assert probe() is None, f"the cpu backend must build on the test machine: {probe()}"
    ext = load()
    if not ext.gemm_info()["vendor_available"]:
        pytest.fail("torch's BLAS GEMM must be reachable on the test machine (MKL in the CPU wheel)")
    return ext


@pytest.fixture
def restore(ext):
    """Restore this process's GEMM choice after the test."""
    before = gemm.current()
    yield
    ext.set_gemm([gemm.MODES.index(before[c]) for c in gemm.CLASSES])


def vendor_calls(ext) -> int:
    return int(ext.gemm_info()["vendor_calls"])


CASES = {
    # name: (cell, batch, layer kwargs, lengths, split, threads)
    "lstm-b1": ("lstm", 1, {"num_layers": 2}, None, "auto", 2),  # step_vec + large (W x for all steps)
    "gru-b19-units": ("gru", 19, {"num_layers": 2, "bidirectional": True}, [9, 1, 4] * 6 + [9], "units", 2),
    "lstm-proj-b19-rows": ("lstm", 19, {"proj_size": 20}, [9, 1, 4] * 6 + [2], "rows", 2),
    "urlstm-b5-units3": ("urlstm", 5, {"num_layers": 2}, [9, 3, 1, 7, 9], "units", 3),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("choice", ["vendor", "mixed"])
def test_vendor_gemm_matches_reference(case, dtype, choice, ext, restore, monkeypatch):
    """Values and every gradient equal the reference with the vendor GEMM on every class (or on some
    classes only, the others rnnkit's), across layouts, thread counts, lengths and a projection."""
    cell, batch, kw, lengths, split, threads = CASES[case]
    monkeypatch.setattr(ops_mod, "SPLIT", split)
    monkeypatch.setattr(torch, "get_num_threads", lambda: threads)
    ref, cpu = backend_pair(cell, 11, 40, dtype, "cpu", **kw)
    x = torch.randn(9, batch, 11, dtype=dtype)
    lens = None if lengths is None else torch.tensor(lengths)
    wanted = "vendor" if choice == "vendor" else {"step_vec": "own", "step": "vendor", "large": "vendor"}
    with gemm.using(wanted):
        want = wanted if isinstance(wanted, dict) else dict.fromkeys(gemm.CLASSES, "vendor")
        assert gemm.current() == want
        before = vendor_calls(ext)
        assert_same_runs(ref, cpu, x, None, lens, TOL[dtype])
        assert vendor_calls(ext) > before, "the vendor GEMM must have run"


def test_own_gemm_makes_no_vendor_call(ext, restore):
    ref, cpu = backend_pair("lstm", 11, 40, torch.float32, "cpu", num_layers=2)
    with gemm.using("own"):
        before = vendor_calls(ext)
        assert_same_runs(ref, cpu, torch.randn(6, 19, 11), None, None, TOL[torch.float32])
        assert vendor_calls(ext) == before


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_vendor_large_products_match_torch(threads, dtype, ext, restore):
    """The large products through the vendor: every transpose, rows split between threads."""
    with gemm.using({"step_vec": "own", "step": "own", "large": "vendor"}):
        for M, N, K in [(1, 1, 1), (7, 5, 3), (301, 129, 513)]:
            for ta in (False, True):
                for tb in (False, True):
                    a = torch.randn((K, M) if ta else (M, K), dtype=dtype)
                    b = torch.randn((N, K) if tb else (K, N), dtype=dtype)
                    want = (a.t() if ta else a) @ (b.t() if tb else b)
                    tol = TOL[dtype] if dtype == torch.float64 else {"atol": 1e-4 * K**0.5, "rtol": 1e-4}
                    torch.testing.assert_close(ext.mm(a, b, ta, tb, threads), want, **tol)


def test_using_checks_its_argument(ext, restore):
    with pytest.raises(ValueError, match="choice must map each of"), gemm.using("fast"):
        pass
    with pytest.raises(ValueError, match="choice must map each of"), gemm.using({"step": "vendor"}):
        pass


def test_env_overrides_the_measurement(ext, restore, tmp_path, monkeypatch):
    for mode in gemm.MODES:
        monkeypatch.setenv(gemm.ENV, mode)
        gemm.configure(ext, tmp_path)
        assert gemm.current() == dict.fromkeys(gemm.CLASSES, mode)
        assert gemm.status()["source"] == f"RNNKIT_GEMM={mode}"
    assert not (tmp_path / "gemm.json").exists()  # nothing measured
    monkeypatch.setenv(gemm.ENV, "fastest")
    with pytest.raises(ValueError, match=r"RNNKIT_GEMM must be 'own', 'vendor' or 'auto', got 'fastest'"):
        gemm.configure(ext, tmp_path)


def test_cached_choice_is_used_and_a_bad_cache_is_measured_again(ext, restore, tmp_path, monkeypatch):
    monkeypatch.delenv(gemm.ENV, raising=False)
    path = tmp_path / "gemm.json"
    mixed = {"step_vec": "vendor", "step": "own", "large": "vendor"}
    cached = {"version": gemm.VERSION, "threads": 2, "date": "2026-01-01", "choice": mixed}
    path.write_text(json.dumps(cached))
    gemm.configure(ext, tmp_path)
    assert gemm.current() == mixed
    assert "cached" in str(gemm.status()["source"])
    for bad in ("{not json", json.dumps({"version": gemm.VERSION, "choice": {"step": "fast"}})):
        path.write_text(bad)
        gemm.configure(ext, tmp_path)  # measured now: every class timed with both GEMMs, then cached
        data = json.loads(path.read_text())
        assert data["version"] == gemm.VERSION and data["vendor_checked"] is True
        assert set(data["choice"]) == set(gemm.CLASSES)
        for cls in gemm.CLASSES:
            seconds = data["seconds"][cls]
            faster = "vendor" if seconds["own"] > gemm.MARGIN * seconds["vendor"] else "own"
            assert data["choice"][cls] == faster
        assert gemm.current() == data["choice"]
        assert gemm.status()["source"].startswith("measured now")


def test_bad_env_leaves_the_backend_unavailable_with_the_reason():
    code = "import rnnkit; print(rnnkit.backend_status()['cpu'])"
    env = {**os.environ, "RNNKIT_GEMM": "fastest"}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert "RNNKIT_GEMM must be 'own', 'vendor' or 'auto'" in res.stdout
