"""A cost model of data-parallel training on N nodes, calibrated by measurements on one machine.

Each node trains a copy of the model on its own batch; after the backward pass the gradient, ``G`` bytes
in ``n_b`` buckets (DistributedDataParallel's), is summed over the nodes with a ring all-reduce. A ring
all-reduce of one bucket of ``g`` bytes moves ``2(N−1)/N · g`` bytes through every node's link and
reduces as many, in ``2(N−1)`` hops that each pay a latency ``α``. Over the buckets::

    t_ar(N) = 2(N−1)/N · G · (1/B_link + 1/B_reduce) + n_b · 2(N−1) · α        (t_ar(1) = 0)

with ``B_link`` the link bandwidth (bytes/s; 10 Gbit/s = 1.25e9 B/s) and ``B_reduce`` the bandwidth at
which a node takes in and sums the chunks (memory copies, the summation, the transport's software).

**Calibration on one machine** (:func:`alpha_from_small`, :func:`reduce_bandwidth`): two processes on
loopback (N = 2) have no link term worth counting — loopback moves the bytes at memory speed, which is
part of what ``B_reduce`` measures — so

    α        = t_small / 2                       (a 1-float all-reduce: 2(N−1) = 2 hops, no bytes)
    B_reduce = G / (t_loop − n_b · 2α)           (t_loop: the full gradient, bucket by bucket)

**Step time, throughput, efficiency** (:func:`step_seconds`, :func:`throughput`, :func:`efficiency`)::

    T(N) = t_compute + t_ar(N)
    X(N) = N · items / T(N)                       (items: tokens per node per step)
    E(N) = X(N) / (N · X(1)) = T(1) / T(N)

``t_compute`` is the measured step of one node (forward, backward, optimiser). The model does not
overlap communication with the backward pass (DistributedDataParallel does, bucket by bucket), so it
is conservative: a real step is at most this long.

**What helps when E(N) drops**, by the same model:

- a larger batch per node, ``k`` times the measured one (:attr:`Workload.batch_cost` ``c``)::

      t_compute(k) = t_compute · (1 + c · (k − 1)),   items(k) = k · items

  ``c = 1`` is the linear assumption (every item costs the same); a measured ``c = t(2b)/t(b) − 1``
  below 1 means larger batches run more efficiently per item (extrapolated beyond k = 2);
- gradient accumulation over ``k`` micro-steps (one all-reduce per ``k`` micro-batches, the memory of
  one)::

      T(N) = k · t_compute + t_ar(N),   items = k · items

  which divides the communication time per item by ``k``.

Both raise the global batch (k · N · batch), which changes the optimisation (learning rate, steps): they
buy throughput, not the same training.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: the node counts the README predicts
NODES = (1, 2, 4, 8, 16, 32, 64)
#: link bandwidths predicted, Gbit/s
LINKS_GBIT = (10.0, 100.0)
#: efficiency below which data parallelism is said to stop paying
THRESHOLD = 0.8


def _positive(name: str, value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
    return value


@dataclass(frozen=True)
class Network:
    """The interconnect and a node's reduction speed.

    Attributes:
        link_gbit: link bandwidth ``B_link`` in Gbit/s (10, 100 …).
        reduce_bytes_per_s: ``B_reduce``, bytes per second a node takes in and sums (measured on loopback).
        alpha_s: ``α``, the latency of one hop of the ring, seconds (measured on loopback).
    """

    link_gbit: float
    reduce_bytes_per_s: float
    alpha_s: float

    def __post_init__(self) -> None:
        _positive("link_gbit", self.link_gbit)
        _positive("reduce_bytes_per_s", self.reduce_bytes_per_s)
        if not isinstance(self.alpha_s, int | float) or not math.isfinite(self.alpha_s) or self.alpha_s < 0:
            raise ValueError(f"alpha_s must be a number ≥ 0, got {self.alpha_s!r}")

    @property
    def link_bytes_per_s(self) -> float:
        """``B_link`` in bytes per second (Gbit/s · 1e9 / 8)."""
        return self.link_gbit * 1e9 / 8


@dataclass(frozen=True)
class Workload:
    """One model's training step on one node, as measured.

    Attributes:
        name: what it is (``text``, ``compose``).
        grad_bytes: ``G``, the gradient all-reduced per step (float32: 4 bytes a parameter).
        buckets: ``n_b``, the all-reduce calls per step (DistributedDataParallel's buckets).
        step_s: ``t_compute``, one node's measured step at its measured batch, seconds.
        items_per_step: tokens one node trains on per step (at the measured batch).
        batch_cost: ``c`` in ``t_compute(k) = t_compute · (1 + c(k − 1))`` (1: linear in the batch).
    """

    name: str
    grad_bytes: float
    buckets: int
    step_s: float
    items_per_step: float
    batch_cost: float = 1.0

    def __post_init__(self) -> None:
        _positive("grad_bytes", self.grad_bytes)
        _count("buckets", self.buckets)
        _positive("step_s", self.step_s)
        _positive("items_per_step", self.items_per_step)
        _positive("batch_cost", self.batch_cost)


# -- calibration --------------------------------------------------------------------------------------
def alpha_from_small(small_s: float, processes: int = 2) -> float:
    """``α`` from the time of an all-reduce of one float among ``processes``: ``t / (2(N−1))``."""
    _positive("small_s", small_s)
    if _count("processes", processes) < 2:
        raise ValueError(f"processes must be at least 2 to measure a hop, got {processes}")
    return small_s / (2 * (processes - 1))


def reduce_bandwidth(grad_bytes: float, loopback_s: float, alpha_s: float, buckets: int = 1) -> float:
    """``B_reduce = G / (t_loop − n_b · 2α)`` from the loopback all-reduce of the full gradient by two
    processes; ValueError when the latency alone accounts for the measured time."""
    _positive("grad_bytes", grad_bytes)
    _positive("loopback_s", loopback_s)
    moving = loopback_s - _count("buckets", buckets) * 2 * alpha_s
    if moving <= 0:
        raise ValueError(
            f"loopback_s ({loopback_s:.3g} s) is not above the latency of {buckets} bucket(s) "
            f"({buckets} x 2α = {buckets * 2 * alpha_s:.3g} s): no bandwidth can be derived"
        )
    return grad_bytes / moving


# -- the model ----------------------------------------------------------------------------------------
def allreduce_seconds(nodes: int, grad_bytes: float, net: Network, buckets: int = 1) -> float:
    """``t_ar(N) = 2(N−1)/N · G · (1/B_link + 1/B_reduce) + n_b · 2(N−1) · α``; 0 for one node."""
    n = _count("nodes", nodes)
    _positive("grad_bytes", grad_bytes)
    nb = _count("buckets", buckets)
    if n == 1:
        return 0.0
    per_byte = 1 / net.link_bytes_per_s + 1 / net.reduce_bytes_per_s
    return 2 * (n - 1) / n * grad_bytes * per_byte + nb * 2 * (n - 1) * net.alpha_s


def compute_seconds(work: Workload, batch_factor: int = 1) -> float:
    """``t_compute(k) = t_compute · (1 + c · (k − 1))`` for ``k`` times the measured batch."""
    k = _count("batch_factor", batch_factor)
    return work.step_s * (1 + work.batch_cost * (k - 1))


def step_seconds(
    nodes: int, work: Workload, net: Network, batch_factor: int = 1, accumulation: int = 1
) -> float:
    """One optimiser step on ``nodes`` nodes: ``accumulation`` micro-steps of ``t_compute(batch_factor)``
    and one all-reduce of the gradient (no overlap)."""
    k = _count("accumulation", accumulation)
    comm = allreduce_seconds(nodes, work.grad_bytes, net, work.buckets)
    return k * compute_seconds(work, batch_factor) + comm


def items_per_step(nodes: int, work: Workload, batch_factor: int = 1, accumulation: int = 1) -> float:
    """Tokens of one optimiser step over all nodes: ``N · k_batch · k_accumulation · items``."""
    return (
        _count("nodes", nodes)
        * _count("batch_factor", batch_factor)
        * _count("accumulation", accumulation)
        * work.items_per_step
    )


def throughput(
    nodes: int, work: Workload, net: Network, batch_factor: int = 1, accumulation: int = 1
) -> float:
    """``X(N)``: tokens per second over all nodes."""
    return items_per_step(nodes, work, batch_factor, accumulation) / step_seconds(
        nodes, work, net, batch_factor, accumulation
    )


def efficiency(
    nodes: int, work: Workload, net: Network, batch_factor: int = 1, accumulation: int = 1
) -> float:
    """``E(N) = T(1) / T(N)``: the share of N times one node's throughput (at the same batch and
    accumulation) that N nodes reach."""
    one = step_seconds(1, work, net, batch_factor, accumulation)
    return one / step_seconds(nodes, work, net, batch_factor, accumulation)


def communication_share(
    nodes: int, work: Workload, net: Network, batch_factor: int = 1, accumulation: int = 1
) -> float:
    """The all-reduce's share of the step time, ``t_ar(N) / T(N)`` (= 1 − E(N))."""
    comm = allreduce_seconds(nodes, work.grad_bytes, net, work.buckets)
    return comm / step_seconds(nodes, work, net, batch_factor, accumulation)


def first_below(
    work: Workload,
    net: Network,
    threshold: float = THRESHOLD,
    nodes: Iterable[int] = NODES,
    batch_factor: int = 1,
    accumulation: int = 1,
) -> int | None:
    """The first node count of ``nodes`` whose efficiency is below ``threshold``; None when none is."""
    _positive("threshold", threshold)
    for n in nodes:
        if efficiency(n, work, net, batch_factor, accumulation) < threshold:
            return n
    return None


def factor_needed(
    nodes: int,
    work: Workload,
    net: Network,
    how: str,
    threshold: float = THRESHOLD,
    factors: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
) -> int | None:
    """The smallest of ``factors`` that keeps ``nodes`` nodes at or above ``threshold``, by a larger
    batch per node (``how="batch"``) or gradient accumulation (``how="accumulation"``); None when none
    does."""
    if how not in ("batch", "accumulation"):
        raise ValueError(f"how must be 'batch' or 'accumulation', got {how!r}")
    _positive("threshold", threshold)
    for k in factors:
        args = (k, 1) if how == "batch" else (1, k)
        if efficiency(nodes, work, net, *args) >= threshold:
            return k
    return None


@dataclass(frozen=True)
class Prediction:
    """One node count's prediction."""

    nodes: int
    step_s: float
    allreduce_s: float
    tokens_per_s: float
    efficiency: float


def predict(
    work: Workload, net: Network, nodes: Iterable[int] = NODES, batch_factor: int = 1, accumulation: int = 1
) -> list[Prediction]:
    """Step time, all-reduce time, throughput and efficiency at every node count."""
    out = []
    for n in nodes:
        out.append(
            Prediction(
                n,
                step_seconds(n, work, net, batch_factor, accumulation),
                allreduce_seconds(n, work.grad_bytes, net, work.buckets),
                throughput(n, work, net, batch_factor, accumulation),
                efficiency(n, work, net, batch_factor, accumulation),
            )
        )
    return out
