"""minGRU / minLSTM: the parallel log-space scan equals the sequential form and the paper's equations."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from rnnkit.cells.min_rnn import MinGRUCell, MinLSTMCell, log_linear_scan


def _g(v):
    return torch.where(v >= 0, v + 0.5, torch.sigmoid(v))


def _paper_mingru(x, h, W, b):
    """Feng et al. 2024, minGRU (log-space variant, sequential mode): z = σ(Linear_z(x)),
    h̃ = g(Linear_h(x)), h = (1 − z) h + z h̃."""
    H = h.size(-1)
    z = torch.sigmoid(x @ W[:H].T + b[:H])
    return (1 - z) * h + z * _g(x @ W[H:].T + b[H:])


def _paper_minlstm(x, h, W, b):
    """minLSTM: f, i = σ(·); f' = f/(f+i), i' = i/(f+i); h = f' h + i' g(h̃)."""
    H = h.size(-1)
    f = torch.sigmoid(x @ W[:H].T + b[:H])
    i = torch.sigmoid(x @ W[H : 2 * H].T + b[H : 2 * H])
    return f / (f + i) * h + i / (f + i) * _g(x @ W[2 * H :].T + b[2 * H :])


@pytest.mark.parametrize(("cls", "paper"), [(rnnkit.MinGRU, _paper_mingru), (rnnkit.MinLSTM, _paper_minlstm)])
def test_parallel_equals_sequential_and_paper(cls, paper):
    layer = cls(3, 5, num_layers=2, batch_first=True).double()
    x = torch.randn(4, 150, 3, dtype=torch.float64) * 3
    h0 = torch.randn(2, 4, 5, dtype=torch.float64)  # any sign: the h0 term is kept out of the logs
    out, hn = layer(x, h0)
    # the sequential step, for generation
    state, outs = h0, []
    for t in range(150):
        o, state = layer.step(x[:, t], state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs, 1), out, atol=1e-10, rtol=1e-9)
    torch.testing.assert_close(state, hn, atol=1e-10, rtol=1e-9)
    # the paper's equations, with the layer's weights
    inp = x
    for k in range(2):
        W, b = getattr(layer, f"weight_ih_l{k}"), getattr(layer, f"bias_ih_l{k}")
        h, hs = h0[k], []
        for t in range(150):
            h = paper(inp[:, t], h, W, b)
            hs.append(h)
        inp = torch.stack(hs, 1)
        torch.testing.assert_close(hn[k], h, atol=1e-10, rtol=1e-9)
    torch.testing.assert_close(out, inp, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("cell_cls", [MinGRUCell, MinLSTMCell])
def test_cell_equals_one_step_of_the_layer(cell_cls):
    cell = cell_cls(3, 4).double()
    x, h = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    layer = rnnkit.create_layer(cell.spec.name, 3, 4).double()
    layer.load_state_dict({k + "_l0": v for k, v in cell.state_dict().items()})
    out, hn = layer(x.unsqueeze(0), h.unsqueeze(0))
    torch.testing.assert_close(cell(x, h), out[0])
    (h1,), gates = cell.step(x[0], h[0], record=True)  # unbatched
    torch.testing.assert_close(h1, hn[0, 0])
    assert set(gates) == set(cell.spec.gate_names) and gates["candidate"].shape == (4,)


def test_long_float32_scan_is_finite_and_accurate():
    layer = rnnkit.MinGRU(2, 16)
    x = torch.randn(4000, 3, 2) * 2
    out, _ = layer(x)
    assert torch.isfinite(out).all()
    ref, _ = layer.double()(x.double())
    torch.testing.assert_close(out.double(), ref, atol=2e-4, rtol=2e-3)
    layer.float()
    x.requires_grad_(True)
    layer(x)[0].sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(layer.weight_ih_l0.grad).all()


def test_log_linear_scan_solves_the_recurrence():
    T, B, H = 50, 3, 4
    a = torch.rand(T, B, H, dtype=torch.float64) * 0.98 + 0.01
    b = torch.rand(T, B, H, dtype=torch.float64) * 2 + 1e-3
    h0 = torch.randn(B, H, dtype=torch.float64)
    h, hs = h0, []
    for t in range(T):
        h = a[t] * h + b[t]
        hs.append(h)
    torch.testing.assert_close(log_linear_scan(a.log(), b.log(), h0), torch.stack(hs))


def test_trace_gates_recompute_the_hiddens():
    gru = rnnkit.MinGRU(3, 4).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    tr = gru.trace(x)
    z, c, h = tr.gates["update"][0], tr.gates["candidate"][0], tr.hiddens[0]
    prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
    torch.testing.assert_close(h, (1 - z) * prev + z * c)
    assert float(c.detach().min()) > 0  # g keeps the candidate positive
    lstm = rnnkit.MinLSTM(3, 4).double()
    tr = lstm.trace(x)
    torch.testing.assert_close(tr.gates["forget"] + tr.gates["input"], torch.ones_like(tr.gates["input"]))
    f, i, c, h = (tr.gates["forget"][0], tr.gates["input"][0], tr.gates["candidate"][0], tr.hiddens[0])
    prev = torch.cat([torch.zeros_like(h[:1]), h[:-1]])
    torch.testing.assert_close(h, f * prev + i * c)


def test_parameters_and_errors():
    layer = rnnkit.create_layer("minlstm", 3, 4, num_layers=2, bidirectional=True)
    assert isinstance(layer, rnnkit.MinLSTM)
    names = [n for n, _ in layer.named_parameters()]
    assert not any("weight_hh" in n for n in names)
    assert layer.weight_ih_l1_reverse.shape == (12, 8) and layer.bias_ih_l0.shape == (12,)
    assert [n for n, _ in rnnkit.MinGRU(3, 4, bias=False).named_parameters()] == ["weight_ih_l0"]
    with pytest.raises(ValueError, match="unidirectional"):
        layer.step(torch.randn(2, 3))
    with pytest.raises(ValueError, match=r"input_size=3 .* got 5"):
        layer(torch.randn(4, 2, 5))
    with pytest.raises(ValueError, match=r"hx must have shape \(4, 2, 4\)"):
        layer(torch.randn(4, 2, 3), torch.zeros(1, 2, 4))
    with pytest.raises(ValueError, match=r"input must be \(batch, 3\)"):
        MinGRUCell(3, 4)(torch.randn(2, 5))


def test_overfits_a_tiny_batch():
    torch.manual_seed(0)
    gru = rnnkit.MinGRU(1, 16, num_layers=2)
    head = torch.nn.Linear(16, 1)
    x = torch.randn(20, 8, 1)
    y = x.cumsum(0)[-1]  # the running sum: needs memory over the whole sequence
    opt = torch.optim.Adam([*gru.parameters(), *head.parameters()], lr=2e-2)
    first = None
    for _ in range(200):
        loss = torch.nn.functional.mse_loss(head(gru(x)[0][-1]), y)
        first = first if first is not None else float(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.01 * first
