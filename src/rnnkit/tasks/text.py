"""``text``: a character-level language model (char-rnn) on the King James Bible, or on your own text.

One-to-many: embedding → recurrent layers → next-character logits (:class:`rnnkit.models.Generator`),
trained with truncated BPTT over B parallel streams of the corpus. The validation split is by book
(every 10th book from the 6th, see :mod:`rnnkit.data.kjv`); with ``--text FILE`` it is the file's last
``data.val_fraction``. The metric is bits per character on the validation text, reported next to a
unigram and a bigram model (add-1 smoothing) fitted on the training text in the same run.

    rnnkit train --task text                       # ≈15 minutes on 2 CPU cores
    rnnkit train --task text --text my_notes.txt
    rnnkit generate --prime "And God said" --temperature 0.8 --steps 500
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_write_text
from ..baselines.ngram import NGramModel
from ..data.text import CharStream, CharVocab, read_text_file, split_tail
from ..train.config import Config, fraction, option
from ..train.outputs import LossOutput
from .base import Task, TaskData, ValSubset

KJV_PRIME = "And God said"
#: what ``rnnkit generate`` (and ``Run.generate``) samples unless told otherwise
GENERATE_STEPS, GENERATE_TEMPERATURE = 500, 0.8


@dataclass
class TextModelConfig:
    cell: str = option("lstm", "recurrent cell: any registered name (lstm, gru, rnn, urlstm, …)")
    embed_dim: int = option(64, "character embedding size", low=1)
    hidden_size: int = option(512, "hidden units per layer", low=1)
    num_layers: int = option(1, "stacked recurrent layers", low=1)
    dropout: float = option(
        0.0, "dropout on embeddings, between layers and before the output", low=0.0, high=1.0
    )
    tie_weights: bool = option(False, "share the embedding and output matrices (embed_dim == hidden_size)")
    backend: str = option("auto", "scan backend (auto picks the fastest usable)")


@dataclass
class TextDataConfig:
    text_file: str | None = option(None, "your own UTF-8 text file (default: the King James Bible)")
    val_fraction: float = fraction(0.1, "held-out tail of text_file used for validation")
    seq_len: int = option(100, "characters per truncated-BPTT chunk", low=1)
    batch_size: int = option(32, "parallel streams per training batch", low=1)
    eval_batch_size: int = option(64, "parallel streams when evaluating", low=1)
    train_chars: int | None = option(None, "use only the first N training characters (quick runs)", low=2)
    val_chars: int | None = option(None, "use only the first N validation characters (quick runs)", low=2)


def load_texts(cfg: Config) -> tuple[str, str, str]:
    """(training text, validation text, a description of the source)."""
    d = cfg.data
    if d.text_file:
        train, val = split_tail(read_text_file(d.text_file), d.val_fraction)
        source = f"{Path(d.text_file).name} (last {d.val_fraction:.0%} held out)"
    else:
        from ..data import kjv

        train, val = kjv.split_text()
        source = "King James Bible (validation: " + ", ".join(kjv.split_books()[1]) + ")"
    return train, val, source


class TextTask(Task):
    name = "text"
    summary = "character language model on the King James Bible or --text FILE (bits per character)"
    ModelConfig, DataConfig = TextModelConfig, TextDataConfig
    monitor, mode, tbptt, item_name = "bpc", "min", True, "chars"
    cli_flags: ClassVar[dict[str, tuple[str, str]]] = {
        "--text": ("data.text_file", "train the text task on your own UTF-8 text file")
    }
    defaults: ClassVar[dict[str, Any]] = {
        "optim.lr": 3e-3,
        "optim.max_steps": 100_000,
        "optim.max_minutes": 13.5,
        "optim.warmup_steps": 100,
        "optim.weight_decay": 0.0,
        "optim.clip_norm": 1.0,
        "run.eval_every": 200,
        "run.eval_batches": 10,
        "run.patience": 5,
        "run.checkpoint_every": 250,
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "tour": {  # ≈2 minutes in all: a smaller, faster-learning model on a 100k-character validation slice
            "model.hidden_size": 256,
            "data.seq_len": 64,
            "optim.lr": 4e-3,
            "optim.max_minutes": 1.5,
            "run.eval_every": 150,
            "run.eval_batches": 10,
            "data.val_chars": 100_000,
        },
        "smoke": {
            "model.hidden_size": 32,
            "model.embed_dim": 16,
            "data.seq_len": 20,
            "data.batch_size": 4,
            "data.eval_batch_size": 4,
            "data.train_chars": 20_000,
            "data.val_chars": 2_000,
            "optim.max_steps": 10,
            "optim.max_minutes": None,
            "optim.warmup_steps": 2,
            "run.eval_every": 5,
            "run.eval_batches": None,
        },
    }

    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        d = cfg.data
        train, val, source = load_texts(cfg)
        vocab = CharVocab(state["chars"]) if state else CharVocab.from_text(train, val)
        if d.train_chars:
            train = train[: d.train_chars]
        if d.val_chars:
            val = val[: d.val_chars]
        train_ids, val_ids = (
            vocab.encode(train, "the training text"),
            vocab.encode(val, "the validation text"),
        )
        eval_streams = max(1, min(d.eval_batch_size, (len(val_ids) - 1) // (d.seq_len + 1)))
        default_prime = KJV_PRIME if not d.text_file else (train.split() or [train[:1]])[0]
        return TaskData(
            train=CharStream(train_ids, d.batch_size, d.seq_len, train=True, seed=cfg.run.seed),
            val=CharStream(val_ids, eval_streams, d.seq_len, train=False),
            state={"chars": vocab.chars, "default_prime": default_prime},
            info={
                "source": source,
                "train_chars": len(train_ids),
                "val_chars": len(val_ids),
                "vocab": len(vocab),
            },
        )

    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        from ..models import Generator

        m = cfg.model
        return Generator(
            len(state["chars"]),
            m.embed_dim,
            m.hidden_size,
            m.num_layers,
            m.cell,
            m.dropout,
            m.tie_weights,
            m.backend,
        )

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        x, y = batch  # (B, T) each
        logits, state = model(x, carry)  # (B, T, V)
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), y.reshape(-1))
        return LossOutput(
            loss, count=y.numel(), metrics={"bpc": float(loss.detach()) / math.log(2)}, state=state
        )

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        """Unigram and bigram bits per character on exactly the characters the model is scored on."""
        if split != "val":
            return {}
        segments, out = scored_segments(data.val), {}
        for name, model in self._ngrams(data).items():
            total, count = 0.0, 0
            for seg in segments:  # every character after the first, given the ones before it
                total += model.nll([seg])[0] - model.nll([seg[:1]])[0]
                count += len(seg) - 1
            bpc = total / count / math.log(2)
            out[name] = {"bpc": bpc, "loss": bpc * math.log(2)}
        return out

    def _ngrams(self, data: TaskData) -> dict[str, NGramModel]:
        """Unigram and bigram (add-1) fitted on ``data.train``'s text, once per training source."""
        fitted = getattr(self, "_fitted", None)
        if fitted is None or fitted[0]() is not data.train:
            V, train = len(data.state["chars"]), data.train.ids.tolist()
            models = {
                name: NGramModel(order, V, alpha=1.0).fit([train])
                for name, order in (("unigram", 1), ("bigram", 2))
            }
            self._fitted = (weakref.ref(data.train), models)
            fitted = self._fitted
        return fitted[1]

    def val_subset(self, cfg: Config, data: TaskData, batches: int) -> ValSubset:
        sub = FirstChunks(data.val, batches)
        return ValSubset(sub, f"{sum(len(s) - 1 for s in scored_segments(sub)):,}-character")

    def after_training(self, model: nn.Module, cfg: Config, data: TaskData, run_dir: Path) -> dict[str, Any]:
        text = text_sample(
            model, CharVocab(data.state["chars"]), data.state["default_prime"], 400, cfg.run.seed
        )
        atomic_write_text(run_dir / "sample.txt", text + "\n")
        return {"sample": text}

    def generate(self, run: Any, args: argparse.Namespace) -> int:
        vocab = CharVocab(run.state["chars"])
        prime = args.prime if args.prime is not None else run.state["default_prime"]
        steps = GENERATE_STEPS if args.steps is None else args.steps
        temperature = GENERATE_TEMPERATURE if args.temperature is None else args.temperature
        out = sys.stdout
        pieces = []
        prime = prime.replace("\\n", "\n")
        stream = stream_text(
            run.model, vocab, prime, steps, temperature, args.top_k, args.top_p, args.seed, name="--prime"
        )
        for piece in stream:
            pieces.append(piece)
            out.write(piece)
            out.flush()
        out.write("\n")
        if args.out:
            atomic_write_text(args.out, "".join(pieces) + "\n")
            print(f"wrote {args.out}", file=sys.stderr)
        return 0


def stream_text(
    model: nn.Module,
    vocab: CharVocab,
    prime: str,
    steps: int = GENERATE_STEPS,
    temperature: float = GENERATE_TEMPERATURE,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
    *,
    name: str = "prime",
) -> Iterator[str]:
    """``prime``, then each character sampled after it as it comes, carrying the recurrent state (what
    ``rnnkit generate`` streams and ``Run.generate`` joins); ``name`` is the argument errors name."""
    if not prime:
        raise ValueError(f"{name} must not be empty")
    ids = vocab.encode(prime, name).tolist()
    tokens = model.generate(ids, steps, temperature, top_k, top_p, seed=seed)  # checks its arguments now
    return itertools.chain([vocab.decode(ids)], (vocab.chars[t] for t in tokens))


class FirstChunks(CharStream):
    """The first ``chunks`` chunks of every stream of an evaluation :class:`CharStream`: what periodic
    evaluations capped at ``run.eval_batches`` batches score (the same batches, in the same order)."""

    def __init__(self, stream: CharStream, chunks: int) -> None:
        super().__init__(stream.ids, stream.B, stream.T, train=False)
        self.chunks = chunks

    def __len__(self) -> int:
        return min(self.chunks, super().__len__())

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return itertools.islice(super().epoch(epoch, start), max(0, len(self) - start))


def scored_segments(stream: CharStream) -> list[list[int]]:
    """Per stream of an evaluation :class:`CharStream` (or :class:`FirstChunks`), the characters it scores
    preceded by the one before the first: stream b reads ``ids[b·L : (b+1)·L]`` (L = ⌊(N−1)/B⌋) and
    scores the next character after each of its first m = min(L, chunks·T)."""
    L = (len(stream.ids) - 1) // stream.B
    m = min(L, len(stream) * stream.T)
    return [stream.ids[b * L : b * L + m + 1].tolist() for b in range(stream.B)]


def text_sample(model: nn.Module, vocab: CharVocab, prime: str, steps: int, seed: int = 0) -> str:
    """``prime`` followed by ``steps`` characters sampled at temperature 0.8 (``sample.txt``, the tour)."""
    with torch.no_grad():
        return prime + vocab.decode(
            model.eval().sample(vocab.encode(prime, "prime").tolist(), steps, 0.8, seed=seed)
        )
