"""Bad input raises ValueError/TypeError naming the argument and the expected vs actual value."""

from __future__ import annotations

import pytest
import torch

import rnnkit


@pytest.fixture
def lstm():
    return rnnkit.LSTM(3, 4, num_layers=2)


@pytest.fixture
def gru():
    return rnnkit.GRU(3, 4)


def test_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"input must be 3-D .* got 4-D"):
        lstm(torch.randn(2, 3, 4, 3))
    with pytest.raises(ValueError, match=r"input must be 3-D .* got 1-D"):
        lstm(torch.randn(3))


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match=r"input_size=3 .* got 5"):
        lstm(torch.randn(4, 2, 5))


def test_non_float_dtype(lstm):
    with pytest.raises(TypeError, match=r"input must have a floating-point dtype.*torch.int64"):
        lstm(torch.ones(4, 2, 3, dtype=torch.long))
    with pytest.raises(TypeError, match=r"input must be a torch.Tensor"):
        lstm([[1.0, 2.0, 3.0]])


def test_wrong_h0_shape(lstm, gru):
    with pytest.raises(ValueError, match=r"hx\[0\] \(h_0\) must have shape \(2, 2, 4\), got \(1, 2, 4\)"):
        lstm(torch.randn(5, 2, 3), (torch.zeros(1, 2, 4), torch.zeros(2, 2, 4)))
    with pytest.raises(ValueError, match=r"hx\[1\] \(c_0\) must have shape \(2, 2, 4\), got \(2, 3, 4\)"):
        lstm(torch.randn(5, 2, 3), (torch.zeros(2, 2, 4), torch.zeros(2, 3, 4)))
    with pytest.raises(TypeError, match=r"hx must be a tuple of 2 tensors"):
        lstm(torch.randn(5, 2, 3), torch.zeros(2, 2, 4))
    with pytest.raises(ValueError, match=r"hx must have shape \(1, 2, 4\), got \(1, 2, 5\)"):
        gru(torch.randn(5, 2, 3), torch.zeros(1, 2, 5))
    with pytest.raises(ValueError, match=r"hx must have shape \(1, 4\)"):
        gru(torch.randn(5, 3), torch.zeros(1, 2, 4))  # unbatched input, batched h0
    with pytest.raises(TypeError, match=r"hx must have the dtype of input"):
        gru(torch.randn(5, 2, 3), torch.zeros(1, 2, 4, dtype=torch.float64))


def test_bad_lengths(gru):
    x = torch.randn(5, 2, 3)
    with pytest.raises(ValueError, match=r"lengths must be <= the sequence length T=5, got max 6"):
        gru(x, lengths=[6, 2])
    with pytest.raises(ValueError, match=r"lengths must be >= 1, got min 0"):
        gru(x, lengths=[0, 2])
    with pytest.raises(ValueError, match=r"lengths must have shape \(2,\)"):
        gru(x, lengths=[5, 2, 1])
    with pytest.raises(TypeError, match=r"lengths must hold integers"):
        gru(x, lengths=torch.tensor([5.0, 2.0]))
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, [5, 2])
    with pytest.raises(ValueError, match=r"lengths must be None when input is a PackedSequence"):
        gru(packed, lengths=[5, 2])


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match=r"hidden_size must be a positive int, got 0"):
        rnnkit.LSTM(3, 0)
    with pytest.raises(TypeError, match=r"input_size must be an int, got float"):
        rnnkit.GRU(3.0, 4)
    with pytest.raises(ValueError, match=r"dropout must be a number in \[0, 1\], got 1.5"):
        rnnkit.LSTM(3, 4, dropout=1.5)
    with pytest.raises(ValueError, match=r"proj_size must be smaller than hidden_size=4, got 4"):
        rnnkit.LSTM(3, 4, proj_size=4)
    with pytest.raises(ValueError, match=r"nonlinearity must be one of \('tanh', 'relu'\), got 'sigmoid'"):
        rnnkit.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"backend must be one of .*got 'cuda-magic'"):
        rnnkit.LSTM(3, 4, backend="cuda-magic")
    with pytest.raises(ValueError, match=r"unknown cell 'lstn'; registered cells: .*lstm"):
        rnnkit.create_layer("lstn", 3, 4)
    with pytest.raises(ValueError, match=r"proj_size is supported only by LSTM-like cells"):
        rnnkit.create_layer("gru", 3, 4, proj_size=2)


def test_cell_bad_input():
    cell = rnnkit.LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"input must be 1-D .* or 2-D .* got 3-D"):
        cell(torch.randn(1, 2, 3))
    with pytest.raises(ValueError, match=r"hx \(c\) must have shape \(2, 4\), got \(2, 5\)"):
        cell(torch.randn(2, 3), (torch.zeros(2, 4), torch.zeros(2, 5)))
    with pytest.raises(TypeError, match=r"input must have a floating-point dtype"):
        rnnkit.GRUCell(3, 4)(torch.ones(2, 3, dtype=torch.int32))


def test_bad_regularization_arguments():
    """Zoneout and variational dropout share the probability check of every other dropout: a number
    (TypeError otherwise) in [0, 1) (ValueError otherwise), named in the message."""
    with pytest.raises(TypeError, match=r"zoneout must be a number in \[0, 1\), got str \('0.1'\)"):
        rnnkit.LSTM(3, 4, zoneout="0.1")
    with pytest.raises(ValueError, match=r"zoneout must be a number in \[0, 1\), got 1.0"):
        rnnkit.LSTM(3, 4, zoneout=(0.1, 1.0))
    with pytest.raises(ValueError, match=r"recurrent_dropout must be a number in \[0, 1\), got -0.5"):
        rnnkit.GRU(3, 4, recurrent_dropout=-0.5)
    with pytest.raises(TypeError, match=r"input_dropout must be a number in \[0, 1\), got bool"):
        rnnkit.GRU(3, 4, input_dropout=True)
    assert rnnkit.LSTM(3, 4, zoneout=0.25).regularization.zoneout == (0.25, 0.25)  # (h, c)
