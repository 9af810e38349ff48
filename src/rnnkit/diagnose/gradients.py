"""Gradient vs distance: how much a loss at the LAST step still feels the state t steps back — the
vanishing (and exploding) gradient made measurable.

For a recurrent layer run on x_1 … x_T, take the loss L = ⟨v, h_T⟩ at the last step (v a fixed random
unit vector: a generic "loss at the last step" whose gradient direction favours no unit) and measure,
per sequence of the batch, ‖∂L/∂h_t‖ at every step: the norm of the error signal that back-propagation
delivers to h_t after travelling T − t steps back through the recurrence. For cells with a memory cell
(LSTM-like) ‖∂L/∂c_t‖ is measured too; for every cell ‖∂L/∂x_t‖, the influence of the input T − t steps
ago on the loss, which is comparable across cells.

A plain RNN's norms decay geometrically with the distance (the product of T − t Jacobians
diag(φ')·U); gates that stay open (f ≈ 1) keep it flat; recurrent weights with gain > 1 make it grow
(exploding). :func:`clipping_demo` trains such an exploding network with and without gradient clipping.

Example::

    prof = gradient_vs_distance(rnnkit.LSTM(1, 64), torch.randn(200, 16, 1))
    prof.distance, prof.h_median      # (200,), (200,): distance T − t and the median ‖∂L/∂h_t‖
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..cells.min_rnn import MinRNNSpec
from ..layers import ParallelLayer, RecurrentLayer
from ..scan.reference import reference_step

RecurrentModule = RecurrentLayer | ParallelLayer


@dataclass
class GradientProfile:
    """‖∂L/∂·‖ against the distance T − t from the loss (index d = T − t, so d = 0 is the last step).

    Attributes:
        distance: (T,) 0 … T−1.
        h: per-sequence norms ‖∂L/∂h_t‖, (T, B), ordered by distance.
        c: the same for the memory cell c_t (LSTM-like cells), else None.
        x: ‖∂L/∂x_t‖ for the layer's input, (T, B).
        label: what was measured (cell name, "at initialisation" / "trained" …).
    """

    distance: Tensor
    h: Tensor
    c: Tensor | None
    x: Tensor
    label: str = ""
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def h_median(self) -> Tensor:
        return self.h.median(dim=1).values

    def decay_per_step(self, which: str = "h") -> float:
        """The average factor by which the median norm changes per step of distance (log-linear fit over
        the distances where the norm is still above float underflow); < 1 vanishes, > 1 explodes."""
        norms = getattr(self, which).median(dim=1).values.double()
        ok = norms > 1e-30
        d, y = self.distance[ok].double(), norms[ok].log()
        if d.numel() < 2:
            return 0.0
        slope = ((d - d.mean()) * (y - y.mean())).sum() / ((d - d.mean()) ** 2).sum()
        return float(slope.exp())


def _check_layer(layer: nn.Module) -> RecurrentModule:
    if not isinstance(layer, RecurrentLayer | ParallelLayer):
        raise TypeError(
            f"layer must be an rnnkit recurrent layer (rnnkit.LSTM, …), got {type(layer).__name__}"
        )
    return layer


def layer_input(layer: RecurrentModule, x: Tensor, index: int) -> Tensor:
    """The time-major input (T, B, ·) that layer ``index`` of a stack receives for the stack's input x."""
    if index == 0:
        return x
    with torch.no_grad():
        tr = layer.trace(x.transpose(0, 1) if layer.batch_first else x)
    D = layer.num_directions
    below = [tr.hiddens[(index - 1) * D + d] for d in range(D)]  # D x (T, B, P)
    return torch.cat(below, dim=-1)


def _unroll(layer: RecurrentModule, inp: Tensor, index: int) -> tuple[list[Tensor], list[Tensor]]:
    """Run layer ``index``'s forward direction step by step from a zero state on inp (T, B, ·); return
    every h_t (and c_t for LSTM-like cells) as graph nodes."""
    spec = layer.spec
    hs: list[Tensor] = []
    cs: list[Tensor] = []
    if isinstance(spec, MinRNNSpec):
        w_ih, b_ih = layer.weights(index, 0)
        xg = F.linear(inp, w_ih, b_ih)  # (T, B, G*H)
        h = inp.new_zeros(inp.size(1), layer.hidden_size)
        for t in range(inp.size(0)):
            h = spec.step(xg[t], h)
            hs.append(h)
        return hs, cs
    weights = layer.weights(index, 0)
    xg = F.linear(inp, weights.weight_ih, weights.bias_ih)  # (T, B, G*H)
    P = layer.proj_size or layer.hidden_size
    sizes = (P, layer.hidden_size)[: len(spec.state_names)]
    state = tuple(inp.new_zeros(inp.size(1), n) for n in sizes)
    for t in range(inp.size(0)):
        state, _ = reference_step(spec, xg[t], state, weights)
        hs.append(state[0])
        if len(state) > 1:
            cs.append(state[1])
    return hs, cs


def gradient_vs_distance(
    layer: nn.Module,
    x: Tensor,
    *,
    layer_index: int = 0,
    seed: int = 0,
    label: str = "",
) -> GradientProfile:
    """Measure ‖∂L/∂h_t‖ (and c_t, x_t) for L = ⟨v, h_T⟩ at the last step of layer ``layer_index``'s
    forward direction, from a zero initial state.

    Args:
        layer: an rnnkit recurrent layer (any registered cell).
        x: its input, (T, B, I) — or (B, T, I) when the layer is ``batch_first`` — or unbatched (T, I).
        layer_index: which layer of a stack (its input is computed by the layers below).
        seed: seed of the random unit direction v.
    """
    layer = _check_layer(layer)
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() not in (2, 3):
        raise ValueError(f"x must be a float tensor (T, B, I) or (T, I), got {getattr(x, 'shape', type(x))}")
    if not 0 <= layer_index < layer.num_layers:
        raise ValueError(f"layer_index must be in [0, {layer.num_layers}), got {layer_index}")
    if x.dim() == 2:
        x = x.unsqueeze(1)
    elif layer.batch_first:
        x = x.transpose(0, 1)  # (T, B, I)
    inp = layer_input(layer, x.detach(), layer_index).detach()  # (T, B, ·)
    # measured in float64 on a copy, in eval mode (no dropout/zoneout noise): norms down to 1e-300
    layer = copy.deepcopy(layer).double().eval()
    inp = inp.double().requires_grad_(True)
    hs, cs = _unroll(layer, inp, layer_index)
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(hs[-1].size(-1), generator=g, dtype=hs[-1].dtype)
    v = (v / v.norm()).to(hs[-1].device)
    loss = (hs[-1] @ v).sum()  # Σ_b ⟨v, h_T^b⟩: per-sequence gradients, unscaled
    grads = torch.autograd.grad(loss, [*hs, *cs, inp])
    spec = layer.spec
    T = len(hs)
    h_norms = torch.stack([gr.norm(dim=-1) for gr in grads[:T]])  # (T, B), time order
    c_norms = torch.stack([gr.norm(dim=-1) for gr in grads[T : T + len(cs)]]) if cs else None
    x_norms = grads[-1].norm(dim=-1)  # (T, B)
    return GradientProfile(
        distance=torch.arange(T),
        h=h_norms.flip(0).detach().cpu(),
        c=None if c_norms is None else c_norms.flip(0).detach().cpu(),
        x=x_norms.flip(0).detach().cpu(),
        label=label or spec.name,
        meta={"cell": spec.name, "layer_index": layer_index, "steps": T, "batch": inp.size(1)},
    )


@dataclass
class ClippingRun:
    """Loss and gradient norm (before clipping) per training step of :func:`clipping_demo`."""

    clip_norm: float | None
    loss: list[float]
    grad_norm: list[float]


def clipping_demo(
    gain: float = 2.0,
    steps: int = 60,
    clip_norms: tuple[float | None, ...] = (None, 1.0),
    length: int = 50,
    hidden_size: int = 64,
    lr: float = 0.05,
    seed: int = 0,
) -> list[ClippingRun]:
    """Train a tanh RNN whose recurrent weight is ``gain`` × an orthogonal matrix (gain > 1: exploding
    gradients) on the adding problem with plain SGD, once per entry of ``clip_norms`` (None = no
    clipping), from the same initial weights and batches. Without clipping the loss blows up."""
    from ..data.synthetic import adding_batch
    from ..layers import RNN
    from ..train.clipping import clip_gradients

    runs = []
    for clip in clip_norms:
        torch.manual_seed(seed)
        rnn, head = RNN(2, hidden_size), nn.Linear(hidden_size, 1)
        with torch.no_grad():
            nn.init.orthogonal_(rnn.weight_hh_l0)
            rnn.weight_hh_l0.mul_(gain)
        params = [*rnn.parameters(), *head.parameters()]
        opt = torch.optim.SGD(params, lr=lr)
        gen = torch.Generator().manual_seed(seed)
        run = ClippingRun(clip, [], [])
        for _ in range(steps):
            x, y = adding_batch(32, length, generator=gen)  # (B, T, 2), (B,)
            pred = head(rnn(x.transpose(0, 1))[0][-1])[:, 0]  # (B,)
            loss = F.mse_loss(pred, y)
            opt.zero_grad()
            loss.backward()
            norm, _ = clip_gradients(params, clip_norm=clip)
            run.loss.append(float(loss.detach()))
            run.grad_norm.append(norm)
            if not torch.isfinite(loss):
                break
            opt.step()
        runs.append(run)
    return runs
