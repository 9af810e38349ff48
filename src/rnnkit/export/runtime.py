"""Driving exported ONNX files with onnxruntime, no PyTorch involved: greedy generation with a
generator's step file and greedy decoding with a seq2seq's encoder and decoder-step files — the loops
``Generator.sample(..., temperature=0)`` and ``Seq2Seq.greedy`` run, written against the files'
input and output names (see :mod:`rnnkit.export.generator` and :mod:`rnnkit.export.seq2seq`).

Shape legend: B = batch, S = source steps, V = vocabulary size.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def onnx_session(path: str | Path, threads: int | None = None) -> Any:
    """An onnxruntime InferenceSession on the CPU (``threads``: intra-op threads, None = ORT's default)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX file {str(path)!r} does not exist")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads is not None:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def zero_state(session: Any, batch: int, names: Sequence[str] = ("h", "c")) -> dict[str, np.ndarray]:
    """Zeros for the state inputs (``h`` and, for LSTM-like cells, ``c``) of a step session."""
    out = {}
    for value in session.get_inputs():
        if value.name in names:
            L, _, H = value.shape  # (L, batch, H)
            out[value.name] = np.zeros((L, batch, H), dtype=np.float32)
    return out


def onnx_generate_greedy(step: Any, prime: Sequence[int], steps: int) -> list[int]:
    """``steps`` tokens after ``prime`` with a generator's step session, argmax at every step (what
    ``Generator.sample(prime, steps, temperature=0)`` returns, for one sequence)."""
    if len(prime) == 0:
        raise ValueError("prime must hold at least one token id, got none")
    state = zero_state(step, 1)
    names = [o.name for o in step.get_outputs()]
    logits = None
    for token in prime:
        out = dict(zip(names, step.run(None, {"token": np.array([token], np.int64), **state}), strict=True))
        logits, state = out["logits"], {n: out[f"{n}_next"] for n in state}
    tokens: list[int] = []
    for i in range(steps):
        token = int(logits[0].argmax())
        tokens.append(token)
        if i < steps - 1:
            feeds = {"token": np.array([token], np.int64), **state}
            out = dict(zip(names, step.run(None, feeds), strict=True))
            logits, state = out["logits"], {n: out[f"{n}_next"] for n in state}
    return tokens


def onnx_greedy_decode(
    encoder: Any,
    decoder: Any,
    src: np.ndarray,
    src_lengths: np.ndarray | None = None,
    *,
    max_len: int,
    bos: int,
    eos: int,
) -> list[list[int]]:
    """Greedy decoding with a seq2seq's encoder and decoder-step sessions, batched; returns per source
    the ids after BOS, ending with EOS unless ``max_len`` came first (as ``Seq2Seq.greedy``).

    Args:
        src: (B, S) int64 source ids; ``src_lengths`` (B,) when the encoder takes them.
    """
    src = np.asarray(src, dtype=np.int64)
    feeds = {"src": src}
    takes_lengths = any(i.name == "src_lengths" for i in encoder.get_inputs())
    if takes_lengths:
        if src_lengths is None:
            src_lengths = np.full(src.shape[0], src.shape[1], dtype=np.int64)
        feeds["src_lengths"] = np.asarray(src_lengths, dtype=np.int64)
    elif src_lengths is not None and not (np.asarray(src_lengths) == src.shape[1]).all():
        raise ValueError(
            "src_lengths must all equal the source length: this encoder takes no lengths (see its sidecar's "
            f"notes), got {np.asarray(src_lengths).tolist()} for S={src.shape[1]}"
        )
    enc = dict(zip([o.name for o in encoder.get_outputs()], encoder.run(None, feeds), strict=True))
    dec_inputs = [i.name for i in decoder.get_inputs()]
    dec_outputs = [o.name for o in decoder.get_outputs()]
    state_names = [n for n in ("h", "c") if n in dec_inputs]
    state = {n: enc[n] for n in state_names}
    memory = {n: enc[n] for n in ("memory", "keys", "mask") if n in dec_inputs}
    B = src.shape[0]
    token = np.full(B, bos, dtype=np.int64)
    done = np.zeros(B, dtype=bool)
    steps = []
    for _ in range(max_len):
        out = dict(zip(dec_outputs, decoder.run(None, {"token": token, **state, **memory}), strict=True))
        state = {n: out[f"{n}_next"] for n in state_names}
        token = out["logits"].argmax(-1).astype(np.int64)  # (B,)
        token[done] = eos
        steps.append(token)
        done |= token == eos
        if done.all():
            break
    rows = np.stack(steps, axis=1).tolist()  # (B, n)
    return [row[: row.index(eos) + 1] if eos in row else row for row in rows]
