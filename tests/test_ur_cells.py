"""UR-LSTM / UR-GRU against a direct transcription of Gu et al. (2020)'s equations with copied weights;
the UGI forget bias is a buffer in the stated range."""

from __future__ import annotations

import pytest
import torch

import rnnkit


def _paper_urlstm(x, h, c, W, U, b, bf):
    """Gu et al. 2020, UR-LSTM, one unit vector at a time, written from the paper:
    f = σ(L_f(x, h) + b_f), r = σ(L_r(x, h) − b_f), g = r(1 − (1 − f)²) + (1 − r) f²,
    c = g c + (1 − g) tanh(L_u(x, h)), h = σ(L_o(x, h)) tanh(c)."""
    H = c.size(-1)
    Wf, Wr, Wu, Wo = W[:H], W[H : 2 * H], W[2 * H : 3 * H], W[3 * H :]
    Uf, Ur, Uu, Uo = U[:H], U[H : 2 * H], U[2 * H : 3 * H], U[3 * H :]
    b_f, b_r, b_u, b_o = b[:H], b[H : 2 * H], b[2 * H : 3 * H], b[3 * H :]
    f = torch.sigmoid(x @ Wf.T + h @ Uf.T + b_f + bf)
    r = torch.sigmoid(x @ Wr.T + h @ Ur.T + b_r - bf)
    g = r * (1 - (1 - f) ** 2) + (1 - r) * f**2
    u = torch.tanh(x @ Wu.T + h @ Uu.T + b_u)
    c = g * c + (1 - g) * u
    h = torch.sigmoid(x @ Wo.T + h @ Uo.T + b_o) * torch.tanh(c)
    return h, c


def _paper_urgru(x, h, W, U, bi, bh, bf):
    """The refine/UGI construction on the GRU's update (forget) gate, torch's GRU convention for r, n."""
    H = h.size(-1)
    blk = lambda m, k: m[k * H : (k + 1) * H]  # noqa: E731
    s = torch.sigmoid(x @ blk(W, 0).T + blk(bi, 0) + h @ blk(U, 0).T + blk(bh, 0))
    f = torch.sigmoid(x @ blk(W, 1).T + blk(bi, 1) + h @ blk(U, 1).T + blk(bh, 1) + bf)
    r = torch.sigmoid(x @ blk(W, 2).T + blk(bi, 2) + h @ blk(U, 2).T + blk(bh, 2) - bf)
    g = r * (1 - (1 - f) ** 2) + (1 - r) * f**2
    n = torch.tanh(x @ blk(W, 3).T + blk(bi, 3) + s * (h @ blk(U, 3).T + blk(bh, 3)))
    return g * h + (1 - g) * n


def test_urlstm_matches_paper_transcription():
    layer = rnnkit.URLSTM(3, 6, num_layers=2).double()
    x = torch.randn(7, 2, 3, dtype=torch.float64)
    h0 = torch.randn(2, 2, 6, dtype=torch.float64)
    c0 = torch.randn(2, 2, 6, dtype=torch.float64)
    out, (hn, cn) = layer(x, (h0, c0))
    inp = x
    for k in range(2):
        W, U = getattr(layer, f"weight_ih_l{k}"), getattr(layer, f"weight_hh_l{k}")
        b = getattr(layer, f"bias_ih_l{k}") + getattr(layer, f"bias_hh_l{k}")
        bf = getattr(layer, f"forget_bias_l{k}")
        h, c, outs = h0[k], c0[k], []
        for t in range(7):
            h, c = _paper_urlstm(inp[t], h, c, W, U, b, bf)
            outs.append(h)
        inp = torch.stack(outs)
        torch.testing.assert_close(hn[k], h)
        torch.testing.assert_close(cn[k], c)
    torch.testing.assert_close(out, inp)


def test_urlstm_cell_and_proj():
    cell = rnnkit.URLSTMCell(4, 5).double()
    x, h, c = (torch.randn(3, n, dtype=torch.float64) for n in (4, 5, 5))
    h1, c1 = cell(x, (h, c))
    b = cell.bias_ih + cell.bias_hh
    ph, pc = _paper_urlstm(x, h, c, cell.weight_ih, cell.weight_hh, b, cell.forget_bias)
    torch.testing.assert_close(h1, ph)
    torch.testing.assert_close(c1, pc)
    # proj_size: the recurrence and the output use h_t = W_hr (σ(ô) ⊙ tanh(c_t)), (B, P)
    layer = rnnkit.URLSTM(4, 5, proj_size=2).double()
    xs = torch.randn(6, 3, 4, dtype=torch.float64)
    out, (hn, cn) = layer(xs)
    assert out.shape == (6, 3, 2) and hn.shape == (1, 3, 2) and cn.shape == (1, 3, 5)
    h, c = torch.zeros(3, 2, dtype=torch.float64), torch.zeros(3, 5, dtype=torch.float64)
    b = layer.bias_ih_l0 + layer.bias_hh_l0
    for t in range(6):
        full, c = _paper_urlstm(xs[t], h, c, layer.weight_ih_l0, layer.weight_hh_l0, b, layer.forget_bias_l0)
        h = full @ layer.weight_hr_l0.T
        torch.testing.assert_close(out[t], h)
    torch.testing.assert_close(cn[0], c)


def test_urgru_matches_paper_transcription():
    layer = rnnkit.URGRU(3, 5, bidirectional=True).double()
    x = torch.randn(6, 2, 3, dtype=torch.float64)
    h0 = torch.randn(2, 2, 5, dtype=torch.float64)
    out, hn = layer(x, h0)
    for d, sfx in enumerate(("_l0", "_l0_reverse")):
        W, U = getattr(layer, "weight_ih" + sfx), getattr(layer, "weight_hh" + sfx)
        bi, bh = getattr(layer, "bias_ih" + sfx), getattr(layer, "bias_hh" + sfx)
        bf = getattr(layer, "forget_bias" + sfx)
        steps = range(6) if d == 0 else range(5, -1, -1)
        h = h0[d]
        for t in steps:
            h = _paper_urgru(x[t], h, W, U, bi, bh, bf)
            torch.testing.assert_close(out[t, :, d * 5 : (d + 1) * 5], h)
        torch.testing.assert_close(hn[d], h)


@pytest.mark.parametrize("cls", [rnnkit.URLSTM, rnnkit.URGRU])
def test_ugi_forget_bias_is_a_buffer_in_range(cls):
    H = 256
    layer = cls(3, H, num_layers=2, bidirectional=True)
    names = [n for n, _ in layer.named_buffers()]
    assert names == ["forget_bias_l0", "forget_bias_l0_reverse", "forget_bias_l1", "forget_bias_l1_reverse"]
    assert not any("forget_bias" in n for n, _ in layer.named_parameters())
    assert all(k in layer.state_dict() for k in names)
    for n in names:
        u = torch.sigmoid(getattr(layer, n))
        assert float(u.min()) >= 1 / H - 1e-6 and float(u.max()) <= 1 - 1 / H + 1e-6
        # really spread over the interval (uniform): quartiles near 1/4, 1/2, 3/4
        q = torch.quantile(u, torch.tensor([0.25, 0.5, 0.75]))
        torch.testing.assert_close(q, torch.tensor([0.25, 0.5, 0.75]), atol=0.08, rtol=0)
    # layers and directions draw their own values; reset_parameters redraws them
    assert not torch.equal(layer.forget_bias_l0, layer.forget_bias_l0_reverse)
    before = layer.forget_bias_l1.clone()
    layer.reset_parameters()
    assert not torch.equal(before, layer.forget_bias_l1)
    # the buffer is saved in and loaded from the state_dict
    other = cls(3, H, num_layers=2, bidirectional=True)
    other.load_state_dict(layer.state_dict())
    assert torch.equal(other.forget_bias_l1, layer.forget_bias_l1)


def test_ugi_small_hidden_sizes_are_finite():
    for H in (1, 2, 3):
        cell = rnnkit.URLSTMCell(2, H)
        assert torch.isfinite(cell.forget_bias).all()
    assert float(rnnkit.URLSTMCell(2, 1).forget_bias) == 0.0


def test_effective_forget_gate_is_between_f2_and_1_minus_1_minus_f2():
    layer = rnnkit.URLSTM(3, 16).double()
    tr = layer.trace(torch.randn(20, 4, 3, dtype=torch.float64))
    f, r, g = tr.gates["forget"], tr.gates["refine"], tr.gates["effective_forget"]
    assert torch.all(g >= f**2 - 1e-12) and torch.all(g <= 1 - (1 - f) ** 2 + 1e-12)
    torch.testing.assert_close(g, r * (1 - (1 - f) ** 2) + (1 - r) * f**2)
    # the cell update uses g and its complement as input gate
    a, c = tr.gates["candidate"][0], tr.cells[0]
    c_prev = torch.cat([torch.zeros_like(c[:1]), c[:-1]])
    torch.testing.assert_close(c, g[0] * c_prev + (1 - g[0]) * a)
    # UGI spreads the initial timescales: median forget near 1/2 but tails near 0 and 1
    fb = torch.sigmoid(layer.forget_bias_l0)
    assert float(fb.min()) < 0.25 and float(fb.max()) > 0.75


def test_create_layer_and_registry():
    layer = rnnkit.create_layer("urlstm", 3, 8, num_layers=2, proj_size=4)
    assert isinstance(layer, rnnkit.URLSTM) and layer.proj_size == 4
    assert isinstance(rnnkit.create_layer("urgru", 3, 8), rnnkit.URGRU)
    assert layer.spec.kernel == "urlstm" and rnnkit.create_layer("urgru", 3, 8).spec.kernel == "urgru"
    with pytest.raises(ValueError, match="proj_size"):
        rnnkit.create_layer("urgru", 3, 8, proj_size=2)
