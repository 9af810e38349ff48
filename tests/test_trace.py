"""trace(): the recorded gates recompute the outputs exactly, through the cell's own equations."""

from __future__ import annotations

import pytest
import torch

import rnnkit
from conftest import ALL_CELLS, make_layer, states


def _shifted(seq: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """seq (T, B, H) -> the previous step's values, with ``first`` (B, H) at t=0."""
    return torch.cat([first.unsqueeze(0), seq[:-1]])


def test_lstm_gates_recompute_cells_and_hiddens():
    lstm = rnnkit.LSTM(3, 5, num_layers=2).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    h0, c0 = torch.randn(2, 2, 5, dtype=torch.float64), torch.randn(2, 2, 5, dtype=torch.float64)
    tr = lstm.trace(x, (h0, c0))
    g = tr.gates
    assert set(g) == {"input", "forget", "candidate", "output"}
    for k in range(2):
        c_prev = _shifted(tr.cells[k], c0[k])
        torch.testing.assert_close(tr.cells[k], g["forget"][k] * c_prev + g["input"][k] * g["candidate"][k])
        torch.testing.assert_close(tr.hiddens[k], g["output"][k] * torch.tanh(tr.cells[k]))
    out, (h, c) = lstm(x, (h0, c0))
    torch.testing.assert_close(tr.state[0], h)
    torch.testing.assert_close(tr.output, out)
    torch.testing.assert_close(tr.hiddens[-1], out)
    torch.testing.assert_close(tr.state[1], c)
    forget = g["forget"].detach()
    assert float(forget.min()) > 0 and float(forget.max()) < 1


def test_gru_gates_recompute_hiddens():
    gru = rnnkit.GRU(3, 5).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    h0 = torch.randn(1, 2, 5, dtype=torch.float64)
    tr = gru.trace(x, h0)
    r, z, n = tr.gates["reset"][0], tr.gates["update"][0], tr.gates["candidate"][0]
    h_prev = _shifted(tr.hiddens[0], h0[0])
    torch.testing.assert_close(tr.hiddens[0], (1 - z) * n + z * h_prev)
    # the candidate really uses the reset gate: n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))
    H = 5
    wn, un = gru.weight_ih_l0[2 * H :], gru.weight_hh_l0[2 * H :]
    bn, bhn = gru.bias_ih_l0[2 * H :], gru.bias_hh_l0[2 * H :]
    torch.testing.assert_close(n, torch.tanh(x @ wn.T + bn + r * (h_prev @ un.T + bhn)))


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
def test_rnn_preactivation_recomputes_hiddens(nonlinearity):
    rnn = rnnkit.RNN(3, 4, nonlinearity=nonlinearity).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    tr = rnn.trace(x)
    f = torch.tanh if nonlinearity == "tanh" else torch.relu
    torch.testing.assert_close(tr.hiddens[0], f(tr.gates["preactivation"][0]))


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_trace_matches_forward_with_lengths_and_directions(cell):
    layer = make_layer(cell, 3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    lengths = torch.tensor([6, 3, 1])
    tr = layer.trace(x, lengths=lengths)
    out, st = layer(x, lengths=lengths)
    torch.testing.assert_close(tr.output, out)
    for a, b in zip(states(tr.state), states(st), strict=True):
        torch.testing.assert_close(a, b)
    L, D, T, B, H = 2, 2, 6, 3, 4
    assert tr.hiddens.shape == (L * D, T, B, H)
    for name in layer.spec.gate_names:
        assert tr.gates[name].shape == (L * D, T, B, H)
        assert torch.all(tr.gates[name][:, 3:, 1] == 0) and torch.all(tr.gates[name][:, 1:, 2] == 0)
    # last layer's two directions, time in input order, concatenated = output
    torch.testing.assert_close(torch.cat([tr.hiddens[2], tr.hiddens[3]], -1).transpose(0, 1), out)
    # the reverse direction's first output (t=0) is its final state
    torch.testing.assert_close(tr.hiddens[3, 0], states(st)[0][3])


def test_trace_unbatched_drops_batch_dim_and_is_differentiable():
    lstm = rnnkit.LSTM(3, 4)
    x = torch.randn(5, 3, requires_grad=True)
    tr = lstm.trace(x)
    assert tr.hiddens.shape == (1, 5, 4) and tr.gates["forget"].shape == (1, 5, 4)
    tr.gates["forget"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_cell_step_records_gates():
    cell = rnnkit.LSTMCell(3, 4)
    x, h, c = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 4)
    (h1, c1), gates = cell.step(x, (h, c), record=True)
    torch.testing.assert_close(c1, gates["forget"] * c + gates["input"] * gates["candidate"])
    torch.testing.assert_close(h1, gates["output"] * torch.tanh(c1))
