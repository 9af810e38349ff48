"""Variable lengths: every sequence of a padded batch gives what it gives when run alone, and a
PackedSequence goes in and comes out exactly as torch.nn does it."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnkit
from conftest import ALL_CELLS, TWIN_CELLS, make_layer, states, torch_twin

TOL = {"atol": 1e-10, "rtol": 1e-9}


@pytest.mark.parametrize("cell", ALL_CELLS)
@pytest.mark.parametrize(("layers", "bi", "bf"), [(1, False, False), (2, True, True), (3, True, False)])
def test_padded_equals_alone(cell, layers, bi, bf):
    layer = make_layer(cell, 3, 5, num_layers=layers, bidirectional=bi, batch_first=bf).double()
    lengths = [6, 2, 4, 1]
    T = max(lengths)
    seqs = [torch.randn(n, 3, dtype=torch.float64) for n in lengths]
    padded = torch.zeros(len(seqs), T, 3, dtype=torch.float64)
    for b, s in enumerate(seqs):
        padded[b, : len(s)] = s
        padded[b, len(s) :] = 100.0  # garbage in the padding must not leak anywhere
    x = padded if bf else padded.transpose(0, 1)
    out, st = layer(x, lengths=torch.tensor(lengths))
    out = out if bf else out.transpose(0, 1)  # (B, T, D*H)
    for b, s in enumerate(seqs):
        alone, st_alone = layer(s.unsqueeze(0) if bf else s.unsqueeze(1))
        alone = alone if bf else alone.transpose(0, 1)
        torch.testing.assert_close(out[b, : len(s)], alone[0], **TOL)
        assert torch.all(out[b, len(s) :] == 0), "padded outputs must be zero"
        for a, c in zip(states(st), states(st_alone), strict=True):
            torch.testing.assert_close(a[:, b], c[:, 0], **TOL)


@pytest.mark.parametrize("cell", ALL_CELLS)
def test_padding_gets_no_gradient(cell):
    layer = make_layer(cell, 3, 4, bidirectional=True).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    out, st = layer(x, lengths=[5, 3])
    (out.sum() + sum(s.sum() for s in states(st))).backward()
    assert torch.all(x.grad[3:, 1] == 0)
    assert torch.all(x.grad[:3, 1] != 0)


@pytest.mark.parametrize("cell", TWIN_CELLS)
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_packed_matches_torch(cell, enforce_sorted):
    theirs = torch_twin(cell, 3, 4, num_layers=2, bidirectional=True).double()
    ours = make_layer(cell, 3, 4, num_layers=2, bidirectional=True).double()
    ours.load_state_dict(theirs.state_dict())
    lengths = torch.tensor([5, 5, 3, 2]) if enforce_sorted else torch.tensor([3, 5, 2, 5])
    x = torch.randn(5, 4, 3, dtype=torch.float64, requires_grad=True)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=enforce_sorted)
    h0 = torch.randn(4, 4, 4, dtype=torch.float64)
    hx = (h0, torch.randn_like(h0)) if cell == "lstm" else h0
    out_a, st_a = ours(packed, hx)
    out_b, st_b = theirs(packed, hx)
    assert isinstance(out_a, torch.nn.utils.rnn.PackedSequence)
    torch.testing.assert_close(out_a.data, out_b.data, **TOL)
    assert torch.equal(out_a.batch_sizes, out_b.batch_sizes)
    if enforce_sorted:
        assert out_a.sorted_indices is None and out_b.sorted_indices is None
    else:
        assert torch.equal(out_a.sorted_indices, out_b.sorted_indices)
        assert torch.equal(out_a.unsorted_indices, out_b.unsorted_indices)
    for a, b in zip(states(st_a), states(st_b), strict=True):
        torch.testing.assert_close(a, b, **TOL)
    ga = torch.autograd.grad(out_a.data.sum() + sum(s.sum() for s in states(st_a)), x, retain_graph=True)
    gb = torch.autograd.grad(out_b.data.sum() + sum(s.sum() for s in states(st_b)), x)
    torch.testing.assert_close(ga, gb, **TOL)
    # lengths= on the padded tensor gives the same as the packed call
    padded_a, _ = pad_packed_sequence(out_a)
    out_c, st_c = ours(x, hx, lengths=lengths)
    torch.testing.assert_close(out_c, padded_a, **TOL)
    for a, c in zip(states(st_a), states(st_c), strict=True):
        torch.testing.assert_close(a, c, **TOL)


def test_full_lengths_equal_no_lengths():
    lstm = rnnkit.LSTM(3, 4, bidirectional=True)
    x = torch.randn(4, 2, 3)
    a, (h, c) = lstm(x)
    b, (h2, c2) = lstm(x, lengths=[4, 4])
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(h, h2)
    torch.testing.assert_close(c, c2)
