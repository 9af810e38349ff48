"""Training that goes wrong: divergence, impossible limits, bad training options."""

from __future__ import annotations

from . import Case

SMOKE = ("train", "--task", "text", "--preset", "smoke", "--no-progress", "--out-dir", "runs", "--name", "r")
#: SGD at lr 1e6 without clipping: the loss blows up (or overflows) within a few steps
BLOW_UP = ("--set", "optim.optimizer=sgd", "--set", "optim.lr=1e6", "--set", "optim.clip_norm=none",
           "--set", "optim.warmup_steps=0", "--steps", "200", "--set", "run.checkpoint_every=1")  # fmt: skip

CASES = [
    Case(
        "diverging-run-stops",
        argv=(*SMOKE, *BLOW_UP),
        names=("training diverged at step", "optim.lr", "diverged.safetensors"),
        code=3,
        may_change=("runs", "runs/*"),  # the run itself; what it keeps is checked in test_train_reliability
    ),
    Case(
        "on-divergence-bad-choice",
        argv=(*SMOKE, "--on-divergence", "maybe"),
        names=("--on-divergence", "maybe"),
    ),
    Case(
        "on-divergence-bad-key-value",
        argv=(*SMOKE, "--set", "optim.on_divergence=ignore"),
        names=("optim.on_divergence", "'stop'", "ignore"),
    ),
    Case(
        "divergence-factor-below-one",
        argv=(*SMOKE, "--set", "optim.divergence_factor=0.5"),
        names=("optim.divergence_factor", ">= 1", "0.5"),
    ),
    Case(
        "divergence-steps-zero",
        argv=(*SMOKE, "--set", "optim.divergence_steps=0"),
        names=("optim.divergence_steps", ">= 1"),
    ),
    Case("steps-zero", argv=(*SMOKE, "--steps", "0"), names=("optim.max_steps", ">= 1", "0")),
    Case("steps-not-a-number", argv=(*SMOKE, "--steps", "many"), names=("--steps", "many")),
    Case("negative-lr", argv=(*SMOKE, "--set", "optim.lr=-1e-3"), names=("optim.lr", ">= 0")),
    Case("lr-not-finite", argv=(*SMOKE, "--set", "optim.lr=inf"), names=("optim.lr", "finite")),
    Case(
        "warmup-negative",
        argv=(*SMOKE, "--set", "optim.warmup_steps=-5"),
        names=("optim.warmup_steps", ">= 0"),
    ),
    Case("eval-every-zero", argv=(*SMOKE, "--set", "run.eval_every=0"), names=("run.eval_every", ">= 1")),
    Case(
        "unknown-optimizer",
        argv=(*SMOKE, "--set", "optim.optimizer=adagrad"),
        names=("optim.optimizer", "adamw", "adagrad"),
    ),
    Case("fp16-on-cpu", argv=(*SMOKE, "--set", "run.amp=fp16", "--device", "cpu"), names=("run.amp", "cuda")),
    Case("cuda-missing", argv=(*SMOKE, "--device", "cuda"), names=("run.device", "cuda", "not available")),
    Case("bad-device-name", argv=(*SMOKE, "--device", "tpu:0"), names=("run.device", "tpu:0")),
    Case("threads-zero", argv=(*SMOKE, "--threads", "0"), names=("run.threads", ">= 1")),
]
