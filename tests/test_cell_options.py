"""Options on the cells and the runner: forget-gate bias init, orthogonal recurrent init, peephole and
LayerNorm LSTM/GRU from their equations, zoneout and variational dropout (identity or expectation in
evaluation, masks drawn per step / per sequence in training)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.cells.registry import get_cell

H = 6


# -- forget-gate bias --------------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "block"), [(rnnkit.LSTM, 1), (rnnkit.GRU, 1)])
def test_forget_bias_one_sets_the_forget_rows(cls, block):
    layer = cls(3, H, num_layers=2, bidirectional=True, forget_bias=1.0)
    plain = cls(3, H, num_layers=2, bidirectional=True)
    assert [n for n, _ in layer.named_parameters()] == [n for n, _ in plain.named_parameters()]
    rows = slice(block * H, (block + 1) * H)
    for name, p in layer.state_dict().items():
        if name.startswith("bias_ih"):
            assert torch.all(p[rows] == 1.0)
        if name.startswith("bias_hh"):
            assert torch.all(p[rows] == 0.0)
        if name.startswith("bias"):  # the other gates keep torch's uniform init
            others = torch.cat([p[: block * H], p[(block + 1) * H :]])
            assert float(others.abs().max()) <= H**-0.5 and float(others.abs().max()) > 0
    # the forget gate really starts near σ(1) on zero input and state
    if cls is rnnkit.LSTM:
        lstm = rnnkit.LSTM(3, H, forget_bias=1.0)
        with torch.no_grad():
            for n in ("weight_ih_l0", "weight_hh_l0"):
                getattr(lstm, n).zero_()
        f = lstm.trace(torch.zeros(2, 1, 3)).gates["forget"]
        torch.testing.assert_close(f, torch.full_like(f, float(torch.sigmoid(torch.tensor(1.0)))))
    assert "forget_bias=1.0" in repr(layer)


def test_forget_bias_ugi_cells_and_layernorm():
    lstm = rnnkit.LSTM(3, 64, forget_bias="ugi")
    total = torch.sigmoid((lstm.bias_ih_l0 + lstm.bias_hh_l0)[64:128]).detach()
    assert float(total.min()) >= 1 / 64 - 1e-6 and float(total.max()) <= 1 - 1 / 64 + 1e-6
    assert float(total.std()) > 0.2  # spread, not all near 1/2
    cell = rnnkit.LSTMCell(3, H, forget_bias=2.0)
    assert torch.all(cell.bias_ih[H : 2 * H] == 2.0) and torch.all(cell.bias_hh[H : 2 * H] == 0)
    cell = rnnkit.GRUCell(3, H, forget_bias=-1.0)
    assert torch.all(cell.bias_ih[H : 2 * H] == -1.0)
    ln = rnnkit.create_layer("layernorm_lstm", 3, H, forget_bias=1.0)
    assert torch.all(ln.layer_norm_bias_l0[0, H : 2 * H] == 1.0)
    assert torch.all(ln.layer_norm_bias_l0[1] == 0) and torch.all(ln.layer_norm_bias_l0[0, :H] == 0)
    with pytest.raises(ValueError, match="forget_bias needs bias=True"):
        rnnkit.LSTM(3, H, bias=False, forget_bias=1.0)
    with pytest.raises(ValueError, match=r"forget_bias must be None, a number .* got 'big'"):
        rnnkit.LSTM(3, H, forget_bias="big")


# -- orthogonal recurrent init -----------------------------------------------------------------------
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "urlstm", "urgru"])
def test_orthogonal_recurrent_init_per_gate_block(cell):
    layer = rnnkit.create_layer(cell, 3, H, num_layers=2, bidirectional=True, recurrent_init="orthogonal")
    G = layer.spec.num_chunks
    for name, p in layer.named_parameters():
        if name.startswith("weight_hh"):
            for block in p.detach().chunk(G):
                torch.testing.assert_close(block @ block.T, torch.eye(H), atol=1e-5, rtol=0)
        if name.startswith("weight_ih"):
            assert float(p.detach().abs().max()) <= H**-0.5  # only U changes
    proj = rnnkit.LSTM(3, H, proj_size=2, recurrent_init="orthogonal")
    for block in proj.weight_hh_l0.detach().chunk(4):  # (H, P): orthonormal columns
        torch.testing.assert_close(block.T @ block, torch.eye(2), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match=r"recurrent_init must be one of .* got 'xavier'"):
        rnnkit.GRU(3, H, recurrent_init="xavier")


# -- peephole and LayerNorm cells, from their equations ---------------------------------------------
def test_peephole_lstm_equations():
    cell = rnnkit.LSTMCell(3, H, peephole=True).double()
    assert cell.weight_peephole.shape == (3, H) and cell.spec.kernel is None
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (3, H, H))
    h1, c1 = cell(x, (h, c))
    pre = x @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    i, f, a, o = pre.chunk(4, -1)
    p_i, p_f, p_o = cell.weight_peephole
    i, f = torch.sigmoid(i + p_i * c), torch.sigmoid(f + p_f * c)
    c_new = f * c + i * torch.tanh(a)
    h_new = torch.sigmoid(o + p_o * c_new) * torch.tanh(c_new)
    torch.testing.assert_close(c1, c_new)
    torch.testing.assert_close(h1, h_new)


def test_layernorm_lstm_and_gru_equations():
    lstm = rnnkit.LSTMCell(3, H, layer_norm=True).double()
    with torch.no_grad():  # move γ, β away from 1, 0 so they matter
        for n in ("layer_norm_weight", "layer_norm_bias", "cell_norm_weight", "cell_norm_bias"):
            getattr(lstm, n).normal_()
    x, h, c = (torch.randn(2, n, dtype=torch.float64) for n in (3, H, H))
    h1, c1 = lstm(x, (h, c))
    w, b = lstm.layer_norm_weight, lstm.layer_norm_bias
    ln = lambda v, k: F.layer_norm(v, (4 * H,), w[k], b[k], 1e-5)  # noqa: E731
    pre = ln(x @ lstm.weight_ih.T + lstm.bias_ih, 0) + ln(h @ lstm.weight_hh.T + lstm.bias_hh, 1)
    i, f, a, o = pre.chunk(4, -1)
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(a)
    c_norm = F.layer_norm(c_new, (H,), lstm.cell_norm_weight, lstm.cell_norm_bias, 1e-5)
    torch.testing.assert_close(c1, c_new)
    torch.testing.assert_close(h1, torch.sigmoid(o) * torch.tanh(c_norm))

    gru = rnnkit.GRUCell(3, H, layer_norm=True).double()
    with torch.no_grad():
        gru.layer_norm_weight.normal_()
        gru.layer_norm_bias.normal_()
    h1 = gru(x, h)
    w, b = gru.layer_norm_weight, gru.layer_norm_bias
    xs = F.layer_norm(x @ gru.weight_ih.T + gru.bias_ih, (3 * H,), w[0], b[0], 1e-5).chunk(3, -1)
    hs = F.layer_norm(h @ gru.weight_hh.T + gru.bias_hh, (3 * H,), w[1], b[1], 1e-5).chunk(3, -1)
    r, z = torch.sigmoid(xs[0] + hs[0]), torch.sigmoid(xs[1] + hs[1])
    n = torch.tanh(xs[2] + r * hs[2])
    torch.testing.assert_close(h1, (1 - z) * n + z * h)


def test_layernorm_init_and_registry_variants():
    layer = rnnkit.create_layer("layernorm_gru", 3, H, num_layers=2)
    assert torch.all(layer.layer_norm_weight_l1 == 1) and torch.all(layer.layer_norm_bias_l1 == 0)
    assert get_cell("lstm_peephole").torch_twin is None and get_cell("layernorm_lstm").make_spec().layer_norm
    # options do not leak into the plain cells: same parameters as torch
    assert rnnkit.LSTM(3, H).spec.options() == {} and rnnkit.LSTM(3, H).spec.kernel == "lstm"
    assert rnnkit.GRU(3, H).spec.kernel == "gru"


# -- zoneout -------------------------------------------------------------------------------------------
def _identity_relu_rnn(recurrent: float, inputs: float, **kw) -> rnnkit.RNN:
    """A relu RNN with W = inputs·I, U = recurrent·I, no bias: h_t = relu(inputs·x_t + recurrent·h_{t-1})."""
    rnn = rnnkit.RNN(H, H, nonlinearity="relu", bias=False, **kw).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(inputs * torch.eye(H))
        rnn.weight_hh_l0.copy_(recurrent * torch.eye(H))
    return rnn


def test_zoneout_eval_is_the_expectation_and_step_agrees():
    layer = rnnkit.LSTM(3, H, zoneout=(0.3, 0.6)).double().eval()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    out, (_, cn) = layer(x)
    cell = rnnkit.LSTMCell(3, H).double()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    h = c = torch.zeros(2, H, dtype=torch.float64)
    for t in range(5):
        h_new, c_new = cell(x[t], (h, c))
        h, c = 0.3 * h + 0.7 * h_new, 0.6 * c + 0.4 * c_new
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close(cn[0], c)
    state, outs = None, []
    for t in range(5):
        o, state = layer.step(x[t], state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs), out)
    assert "zoneout=(0.3, 0.6)" in repr(layer)


def test_zoneout_training_keeps_old_or_takes_new_per_step():
    p = 0.4
    rnn = _identity_relu_rnn(0.0, 1.0, zoneout=p).train()
    T, B = 40, 50
    x = torch.arange(1, T + 1, dtype=torch.float64).view(T, 1, 1).expand(T, B, H)  # x_t = t + 1
    out, _ = rnn(x)
    prev = torch.cat([torch.zeros(1, B, H, dtype=torch.float64), out[:-1]])
    kept = out == prev
    assert torch.all(kept | (out == x)), "each unit either keeps h_{t-1} or takes the new value"
    share = float(kept[1:].double().mean())
    assert abs(share - p) < 0.03, share
    # drawn per step: a unit that kept at one step does not keep at all steps
    per_unit = kept[1:].double().mean(0)
    assert float(per_unit.min()) < 0.9 and float(per_unit.max()) > 0.0


# -- variational dropout ------------------------------------------------------------------------------
def test_recurrent_dropout_mask_is_constant_over_time_and_off_in_eval():
    p = 0.5
    rnn = _identity_relu_rnn(1.0, 0.0, recurrent_dropout=p)
    h0 = torch.ones(1, 40, H, dtype=torch.float64)
    x = torch.zeros(8, 40, H, dtype=torch.float64)
    rnn.train()
    out, _ = rnn(x, h0)  # h_t = (m ⊙)^t h0: each unit is 0 from t=0 on, or 2^(t+1) all along
    scale = torch.tensor([2.0 ** (t + 1) for t in range(8)], dtype=torch.float64).view(8, 1, 1)
    alive = out[0] != 0  # (B, H)
    torch.testing.assert_close(out, torch.where(alive, scale, 0.0))
    assert 0.3 < float(alive.double().mean()) < 0.7
    assert not torch.equal(alive[0], alive[1]) or not torch.equal(alive[2], alive[3])  # per sequence
    out2, _ = rnn(x, h0)
    assert not torch.equal(out, out2)  # a new mask per call
    rnn.eval()
    out, _ = rnn(x, h0)
    torch.testing.assert_close(out, torch.ones_like(out))  # identity in evaluation


def test_input_dropout_mask_is_constant_over_time():
    rnn = _identity_relu_rnn(0.0, 1.0, input_dropout=0.25).train()
    x = torch.ones(10, 30, H, dtype=torch.float64)
    out, _ = rnn(x)
    assert torch.all((out == 0) | (out == 1 / 0.75))
    assert torch.equal(out, out[:1].expand_as(out))  # the same mask at every step
    rnn.eval()
    torch.testing.assert_close(rnn(x)[0], x)


def test_regularisers_on_any_cell_and_gradients_flow():
    for cell in ("gru", "urlstm", "layernorm_lstm"):
        layer = rnnkit.create_layer(
            cell, 3, H, num_layers=2, zoneout=0.1, recurrent_dropout=0.2, input_dropout=0.1
        )
        x = torch.randn(6, 2, 3, requires_grad=True)
        out, _ = layer(x, lengths=[6, 3])
        out.sum().backward()
        assert torch.all(x.grad[3:, 1] == 0) and x.grad[:3].abs().sum() > 0
        assert torch.all(out[3:, 1] == 0)
        layer.eval()
        a, _ = layer(x)
        b, _ = layer(x)
        torch.testing.assert_close(a, b)  # deterministic in evaluation


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"zoneout": 1.5}, ValueError, r"zoneout must be a number in \[0, 1\), got 1.5"),
        ({"zoneout": (0.1, 0.2, 0.3)}, ValueError, r"zoneout must be one number or 2 \(h, c\)"),
        (
            {"recurrent_dropout": -0.1},
            ValueError,
            r"recurrent_dropout must be a number in \[0, 1\), got -0.1",
        ),
        ({"input_dropout": "x"}, TypeError, r"input_dropout must be a number in \[0, 1\), got str \('x'\)"),
    ],
)
def test_bad_options(kw, error, match):
    with pytest.raises(error, match=match):
        rnnkit.LSTM(3, H, **kw)


def test_unknown_cell_option_names_it_and_the_cells_options():
    with pytest.raises(TypeError, match=r"cell 'rnn' has no option 'forget_bias'; its options: nonlinearity"):
        rnnkit.RNN(3, H, forget_bias=1.0)
    with pytest.raises(
        TypeError, match=r"cell 'lstm' has no option 'zonout'; its options: forget_bias, peephole"
    ):
        rnnkit.LSTM(3, H, zonout=0.1)
    with pytest.raises(TypeError, match=r"cell 'urlstm' has no option 'peephole'; its options: none"):
        rnnkit.URLSTM(3, H, peephole=True)
