"""One training loop for every task.

The :class:`Trainer` knows nothing of a model's insides: it takes a model, a loss function
``loss_fn(model, batch, state) -> LossOutput`` and batch sources (see :mod:`rnnkit.train.sources`).
Each step: learning rate from the schedule (a function of the step and the run's plan only, see
:mod:`rnnkit.train.plan`) → forward (optionally under bf16/fp16 autocast) → backward →
the total gradient norm measured BEFORE clipping (logged every step) → clip by value and/or by norm →
optimiser step. With ``tbptt=True`` the loss function's returned ``state`` is detached and passed to the
next batch (truncated back-propagation through time over a long stream, char-rnn style); it is reset at
every epoch. In a ``torchrun`` group (``dist=``) the model trains under ``DistributedDataParallel`` on
this process's rows of each batch, and rank 0 alone evaluates and writes (see
:mod:`rnnkit.train.distributed`).

A run that diverges stops with a :class:`DivergenceError` naming the step (see
:mod:`rnnkit.train.divergence`): the ``last`` and ``best`` checkpoints stay as they were and the diverged
state goes to ``checkpoints/diverged.safetensors`` for a post-mortem.

Example::

    def loss_fn(model, batch, state):
        x, y = batch
        logits = model(x)
        return LossOutput(F.cross_entropy(logits, y), count=len(y))

    trainer = Trainer(model, loss_fn, train_batches, val_batches,
                      optim=OptimConfig(max_steps=500, clip_norm=1.0), run=RunConfig(seed=0),
                      run_dir="runs/demo")
    result = trainer.fit()                 # or trainer.fit(resume="runs/demo") after a crash
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import distributed as D
from .callbacks import Callback, CurvePlotter, JSONLLogger, ProgressBar
from .checkpoint import check_weights, load_checkpoint, read_meta, rng_state, save_checkpoint, set_rng_state
from .clipping import clip_gradients
from .config import OptimConfig, RunConfig
from .divergence import DivergenceMonitor
from .evaluation import evaluate_source, to_device
from .interrupt import StopOnSignal
from .optim import LRSchedule, build_optimizer
from .outputs import DivergenceError, FitResult, LossFn, LossOutput
from .plan import StepPlan, plan_step, replan, steps_plan, timed_plan
from .sources import as_source


def detach_state(state: Any) -> Any:
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple | list):
        return type(state)(detach_state(s) for s in state)
    return state


class _LossModule(nn.Module):
    """``loss_fn(model, batch, carry)`` as a module, so DistributedDataParallel wraps the whole step
    (loss functions may call any method of the model, e.g. ``model.loss``)."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model, self.loss_fn = model, loss_fn

    def forward(self, batch: Any, carry: Any) -> LossOutput:
        return self.loss_fn(self.model, batch, carry)


class _Diverged(Exception):
    """Raised inside a step; :meth:`Trainer.fit` turns it into a :class:`DivergenceError`."""

    def __init__(self, what: str, lr: float) -> None:
        super().__init__(what)
        self.what, self.lr = what, lr


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(f"run.device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"run.device is {name!r} but CUDA is not available on this machine")
    return device


class Trainer:
    """Train ``model`` by minimising ``loss_fn`` over ``train_data``; see the module docstring.

    Args:
        monitor, mode: the validation metric that picks the ``best`` checkpoint and drives early stopping
            (``mode="min"`` or ``"max"``).
        evaluate_fn: ``(model, max_batches) -> {metric: value}`` replacing the default evaluation (the
            count-weighted mean of ``loss_fn``'s loss and metrics over ``val_data``).
        run_dir: where checkpoints (``checkpoints/last|best.safetensors``), ``metrics.jsonl`` and
            ``curves.png`` go; None keeps everything in memory.
        extra: JSON-serialisable dict stored in every checkpoint (e.g. the config and a vocabulary).
        item_name, references: shown by the progress bar / drawn on the metric plot.
        dist: this process's place in a ``torchrun`` group (joined already, see
            :func:`rnnkit.train.distributed.init`); ``train_data`` then yields the GLOBAL batches, of which
            this process trains on its own rows. None: a single process.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: LossFn,
        train_data: Any,
        val_data: Any = None,
        *,
        optim: OptimConfig | None = None,
        run: RunConfig | None = None,
        run_dir: str | Path | None = None,
        evaluate_fn: Callable[[nn.Module, int | None], dict[str, float]] | None = None,
        monitor: str = "loss",
        mode: str = "min",
        tbptt: bool = False,
        callbacks: Sequence[Callback] = (),
        extra: dict[str, Any] | None = None,
        item_name: str = "items",
        references: dict[str, float] | None = None,
        dist: D.DistContext | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.optim, self.run = optim or OptimConfig(), run or RunConfig()
        self.device = resolve_device(self.run.device)
        if self.run.amp == "fp16" and self.device.type != "cuda":
            raise ValueError("run.amp='fp16' needs a CUDA device; use run.amp='bf16' on CPU")
        self.model = model.to(self.device)
        self.loss_fn, self.evaluate_fn = loss_fn, evaluate_fn
        self.dist = dist or D.SINGLE
        self.train_source = as_source(train_data, self.run.seed)
        self._ddp: nn.Module | None = None
        if self.dist.active:
            from torch.nn.parallel import DistributedDataParallel

            self.train_source = D.ShardSource(self.train_source, self.dist)
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(_LossModule(self.model, loss_fn), device_ids=ids)
        self.val_source = None if val_data is None else as_source(val_data, self.run.seed)
        self.monitor, self.mode, self.tbptt = monitor, mode, tbptt
        self.optimizer = build_optimizer(self.model, self.optim)
        self.schedule = LRSchedule(self.optim)
        self.scaler = torch.amp.GradScaler("cuda") if self.run.amp == "fp16" else None
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.extra = extra or {}
        self.step = self.epoch = self.batch_index = self.items_seen = self.bad_evals = 0
        self.elapsed = 0.0
        self.carry: Any = None
        self.best: float | None = None
        self.best_step: int | None = None
        self.last_eval_step: int | None = None
        self.last_val: dict[str, float] | None = None
        self._stop_reason: str | None = None
        self._iter: Iterator[Any] | None = None
        # the step plan (None until a time-budgeted run has measured its speed), see rnnkit.train.plan
        self.plan: StepPlan | None = (
            None if self.optim.max_minutes else steps_plan(self.optim.max_steps, self.optim.warmup_steps)
        )
        self.divergence = DivergenceMonitor(self.optim.divergence_factor, self.optim.divergence_steps)
        self.warnings: list[str] = []
        self._eval_seconds = 0.0  # time spent evaluating (kept out of the measured step time)
        self._eval_count = 0
        self._mark: tuple[int, float, float] | None = None  # (step, elapsed, eval seconds) after 1st step
        self._save_pending = False
        #: the wall clock (seconds); a time budget reads only this, so a test can drive it
        self.clock: Callable[[], float] = time.perf_counter
        self.callbacks: list[Callback] = []
        if self.run.progress and self.dist.is_main:
            self.callbacks.append(ProgressBar(item_name, monitor if monitor != "loss" else None))
        if self.run_dir is not None and self.dist.is_main:
            self.callbacks.append(JSONLLogger(self.run_dir / "metrics.jsonl"))
            if self.run.plot:
                self.callbacks.append(
                    CurvePlotter(
                        self.run_dir / "metrics.jsonl", self.run_dir / "curves.png", monitor, references
                    )
                )
        self.callbacks += list(callbacks)

    # -- public API ------------------------------------------------------------------------------------
    def checkpoint_path(self, kind: str = "last") -> Path:
        if self.run_dir is None:
            raise ValueError("this trainer has no run_dir, so it writes no checkpoints")
        return self.run_dir / "checkpoints" / f"{kind}.safetensors"

    def request_stop(self, reason: str = "interrupted") -> None:
        """Stop cleanly after the current step (a checkpoint is written)."""
        self._stop_reason = self._stop_reason or reason

    def fit(self, resume: str | Path | None = None) -> FitResult:
        """Train until max_steps / max_epochs / max_minutes / early stopping / an interrupt.

        ``resume``: a run directory or checkpoint file to continue from; the result is the same as if
        the run had never stopped (same weights, data order and random numbers).
        """
        if resume is not None:
            self.load(resume)
        for cb in self.callbacks:
            cb.on_fit_start(self)
        load_backends(self.model)
        t0, base = self.clock(), self.elapsed
        # in a group, SIGTERM is torchrun tearing it down (a peer failed): leave at once, no collective
        with StopOnSignal(self, terminate=not self.dist.active):
            try:
                while True:
                    self.elapsed = base + self.clock() - t0
                    reason = self._limit_reached()
                    if self.dist.active:
                        reason = D.agree_stop(reason)
                    if reason:
                        self._stop_reason = self._stop_reason or reason
                        break
                    batch = self._next_batch()
                    if batch is None:
                        self._stop_reason = "max_epochs"
                        break
                    self._train_step(batch, t0, base)
                    if self._mark is None:
                        self._mark = (self.step, self.elapsed, self._eval_seconds)
                    if self.plan is None and self.step >= plan_step(self.optim.warmup_steps):
                        self._make_plan(t0, base)
                    if self._can_evaluate() and self.step % self.run.eval_every == 0:
                        self._evaluate_and_track()
                    if self.run_dir is not None and (
                        self._save_pending or self.step % self.run.checkpoint_every == 0
                    ):
                        # never over a good checkpoint while the loss is blown up (see divergence.py)
                        self._save_pending = self.divergence.blown_up
                        if not self._save_pending:
                            self.save(self.checkpoint_path("last"))
                # a finished run ends with an evaluation; an interrupted one will be resumed instead (an
                # extra evaluation would change the early-stopping state and break resume ≡ uninterrupted)
                finished = self._stop_reason != "interrupted"
                if finished and self._can_evaluate() and self.last_eval_step != self.step:
                    self._evaluate_and_track()
            except _Diverged as e:
                error = self._divergence_error(e)
                for cb in self.callbacks:
                    cb.on_fit_end(self, self._result())
                raise error from None
            except BaseException:
                # a group may have lost a peer: rank 0 saves alone when nothing of the others is needed
                alone = not self.dist.active or (self.dist.is_main and not self.tbptt)
                if alone and self.run_dir is not None and self.step > 0 and not self.divergence.blown_up:
                    self._write(self.checkpoint_path("last"), self.carry)
                for cb in self.callbacks:
                    cb.on_fit_end(self, self._result())
                raise
        self.elapsed = base + self.clock() - t0
        if self._stop_reason == "max_minutes" and (self.plan is None or self.step < self.plan.steps):
            planned = (
                "before its plan was made" if self.plan is None else f"of the {self.plan.steps:,} planned"
            )
            self._warn(
                f"the time budget ran out at step {self.step:,} {planned} (the machine ran slower than "
                "measured), so the learning rate had not finished annealing"
            )
        self._warn_if_plan_was_short()
        if self.run_dir is not None and not (
            self.divergence.blown_up and self.checkpoint_path("last").exists()
        ):
            self.save(self.checkpoint_path("last"))
        result = self._result()
        for cb in self.callbacks:
            cb.on_fit_end(self, result)
        return result

    def _warn_if_plan_was_short(self) -> None:
        """A timed plan finished well inside its budget: the steps it was measured on ran slower than
        the rest (a busy machine at the start). The plan is kept (that is what makes the run exact and
        resumable); the summary says so, so that a figure from the run is not taken for the budget's."""
        plan, budget = self.plan, self.optim.max_minutes
        if plan is None or not plan.timed or budget is None or self.step < plan.steps or not plan.planned_at:
            return
        if self._stop_reason != "max_minutes" or self.elapsed >= 0.8 * 60 * budget:
            return
        after = (self.elapsed - (plan.elapsed_at or 0.0)) / max(1, self.step - plan.planned_at)
        self._warn(
            f"the run finished its {plan.steps:,} planned steps after {self.elapsed / 60:.1f} of its "
            f"{budget:g} minutes: the plan was measured at {1e3 * (plan.step_seconds or 0.0):.1f} ms a step, "
            f"the steps after it took {1e3 * after:.1f} ms (evaluations included) — the machine was busier "
            "while the plan was measured; train on an idle machine (or set the steps with --steps) for a "
            "run that fills its budget"
        )

    @torch.no_grad()
    def evaluate(self, max_batches: int | None = None) -> dict[str, float]:
        """Metrics on the validation data (or ``evaluate_fn``), in eval mode."""
        was_training = self.model.training
        self.model.eval()
        try:
            if self.evaluate_fn is not None:
                return dict(self.evaluate_fn(self.model, max_batches))
            if self.val_source is None:
                raise ValueError("no val_data and no evaluate_fn were given")
            with self._autocast():
                return evaluate_source(
                    self.model,
                    self.loss_fn,
                    self.val_source,
                    max_batches=max_batches,
                    tbptt=self.tbptt,
                    device=self.device,
                )
        finally:
            self.model.train(was_training)

    def _shared_evaluation(self, max_batches: int | None) -> dict[str, float]:
        """:meth:`evaluate` on rank 0, its result on every process of a group."""
        if not self.dist.active:
            return self.evaluate(max_batches)
        return D.broadcast(self.evaluate(max_batches) if self.dist.is_main else None)

    # -- checkpoints -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        keys = ("step", "epoch", "batch_index", "elapsed", "items_seen", "best", "best_step", "bad_evals")
        out = {k: getattr(self, k) for k in keys}
        out |= {"last_eval_step": self.last_eval_step, "last_val": self.last_val, "monitor": self.monitor}
        out["scaler"] = self.scaler.state_dict() if self.scaler is not None else None
        out["plan"] = None if self.plan is None else self.plan.to_dict()
        out["divergence"] = self.divergence.state_dict()
        out["warnings"] = list(self.warnings)
        out["world_size"] = self.dist.world_size
        return out

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint (in a group: every process calls this; rank 0 writes every process's
        carried state, in rank order)."""
        carry = self.carry
        if self.dist.active:
            carry = D.gather_to_main(self.carry, self.dist) if self.tbptt else None
        return self._write(path, carry)

    def _write(self, path: str | Path, carry: Any) -> Path:
        if not self.dist.is_main:
            return Path(path)
        return save_checkpoint(
            path, self.model, self.optimizer, carry=carry, trainer=self.state(), extra=self.extra
        )

    def load(self, path: str | Path) -> None:
        """Restore everything from a checkpoint file or a run directory's ``last`` checkpoint."""
        path = Path(path)
        if path.is_dir():
            path = path / "checkpoints" / "last.safetensors"
        ck = load_checkpoint(path)
        check_weights(self.model, ck.model, path)  # a foreign checkpoint names the parameter that differs
        self.model.load_state_dict(ck.model)
        if ck.optimizer is None:
            raise ValueError(f"{str(path)!r} holds no optimiser state, so training cannot resume from it")
        self.optimizer.load_state_dict(ck.optimizer)
        t = ck.meta["trainer"]
        world = t.get("world_size", 1)
        if world != self.dist.world_size:
            raise ValueError(
                f"{str(path)!r} was trained by {world} process(es) and this run has {self.dist.world_size}: "
                f"the global batch (data.batch_size x processes) would change; resume it with {world} "
                f"(torchrun --nproc_per_node, or rnnkit train --nproc {world})"
            )
        for k in ("step", "epoch", "batch_index", "elapsed", "items_seen", "best", "best_step", "bad_evals"):
            setattr(self, k, t[k])
        self.last_eval_step, self.last_val = t["last_eval_step"], t["last_val"]
        if self.scaler is not None and t.get("scaler"):
            self.scaler.load_state_dict(t["scaler"])
        if t.get("plan") is not None:  # the recorded plan; changed limits re-plan from its timings
            self.plan = replan(
                StepPlan.from_dict(t["plan"]),
                max_steps=self.optim.max_steps,
                max_minutes=self.optim.max_minutes,
                eval_every=self.run.eval_every if self._can_evaluate() else None,
            )
        elif "plan" in t or not self.optim.max_minutes:  # planned at max_steps, or not planned yet
            self.plan = (
                None if self.optim.max_minutes else steps_plan(self.optim.max_steps, self.optim.warmup_steps)
            )
        if t.get("divergence") is not None:
            self.divergence.load_state_dict(t["divergence"])
        self.warnings = list(t.get("warnings", []))
        self._mark = None
        carry = ck.carry[self.dist.rank] if self.dist.active and ck.carry is not None else ck.carry
        self.carry = to_device(carry, self.device)
        self._iter = None
        if ck.rng:
            set_rng_state(ck.rng)

    # -- the loop --------------------------------------------------------------------------------------
    def _can_evaluate(self) -> bool:
        return self.val_source is not None or self.evaluate_fn is not None

    def _limit_reached(self) -> str | None:
        if self._stop_reason:
            return self._stop_reason
        if self.step >= self.optim.max_steps:
            return "max_steps"
        if self.plan is not None and self.step >= self.plan.steps:
            return "max_minutes" if self.plan.timed else "max_steps"
        if self.optim.max_minutes is not None and self.elapsed >= 60 * self.optim.max_minutes:
            return "max_minutes"
        if self.optim.max_epochs is not None and self.epoch >= self.optim.max_epochs:
            return "max_epochs"
        return None

    def _next_batch(self) -> Any:
        while True:
            if self._iter is None:
                self._iter = iter(self.train_source.epoch(self.epoch, self.batch_index))
            try:
                batch = next(self._iter)
            except StopIteration:
                if self.batch_index == 0:
                    raise ValueError(f"train_data yielded no batches in epoch {self.epoch}") from None
                self.epoch, self.batch_index, self._iter, self.carry = self.epoch + 1, 0, None, None
                if self.optim.max_epochs is not None and self.epoch >= self.optim.max_epochs:
                    return None
                continue
            self.batch_index += 1
            return batch

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.run.amp == "off":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.run.amp == "bf16" else torch.float16
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def _train_step(self, batch: Any, t0: float, base: float) -> None:
        start = self.clock()
        self.model.train()
        lr = self.schedule.apply(self.optimizer, self.step, self.plan)
        count = None  # the items of the step (all processes')
        if self._ddp is not None:
            D.seed_step(self.run.seed, self.dist.rank, self.step)
            with self._autocast():
                out = self._ddp(to_device(batch, self.device), self.carry)
            loss_value, count = D.global_loss(float(out.loss.detach()), int(out.count))
            loss = out.loss * D.loss_scale(int(out.count), count, self.dist.world_size)
        else:
            with self._autocast():
                out = self.loss_fn(self.model, to_device(batch, self.device), self.carry)
            loss = out.loss
            loss_value = float(loss.detach())
        count = int(out.count) if count is None else count
        if not math.isfinite(loss_value):
            raise _Diverged(f"the loss became {loss_value}", lr)
        self.optimizer.zero_grad(set_to_none=True)
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        grad_norm, clipped = clip_gradients(
            self.model.parameters(), self.optim.clip_norm, self.optim.clip_value
        )
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if not math.isfinite(grad_norm):
                raise _Diverged(f"the gradient norm became {grad_norm}", lr)
            self.optimizer.step()
        self.carry = detach_state(out.state) if self.tbptt else None
        self.step += 1
        if self.divergence.update(loss_value):
            what = (
                f"the training loss has stayed above {self.divergence.factor:g}x its lowest running median "
                f"({self.divergence.reference:.4g}) for {self.divergence.run} steps (now {loss_value:.4g})"
            )
            if self.optim.on_divergence == "stop":
                raise _Diverged(what, lr)
            self._warn(f"step {self.step}: {what}; going on (optim.on_divergence=warn)")
        self.items_seen += count
        now = self.clock()
        self.elapsed = base + now - t0
        row = {
            "split": "train",
            "step": self.step,
            "epoch": self.epoch,
            "lr": lr,
            "loss": loss_value,
        }
        row |= {"grad_norm": grad_norm, "clipped": clipped, "items": count}
        row |= {"items_per_s": count / max(now - start, 1e-9), "time": round(self.elapsed, 3)}
        row |= {k: float(v) for k, v in out.metrics.items()}
        if self.divergence.blown_up:
            row["blown_up"] = True
        for cb in self.callbacks:
            cb.on_step_end(self, row)

    def _make_plan(self, t0: float, base: float) -> None:
        """Fix the step count of a time-budgeted run (see :mod:`rnnkit.train.plan`): time the steps since
        the first one of this process and one evaluation (random generators restored afterwards, so the
        measurement changes nothing the run computes)."""
        mark_step, mark_elapsed, mark_eval = self._mark or (0, 0.0, 0.0)
        if self.step > mark_step:
            step_seconds = (self.elapsed - mark_elapsed - (self._eval_seconds - mark_eval)) / (
                self.step - mark_step
            )
        else:
            step_seconds = self.elapsed / max(1, self.step)
        eval_seconds, eval_every = 0.0, None
        if self._can_evaluate():
            rng = rng_state()
            start = self.clock()
            self._shared_evaluation(self.run.eval_batches)
            timed = self.clock() - start
            set_rng_state(rng)
            # periodic evaluations also draw plots and save 'best': use their full cost if one was seen
            seen = self._eval_seconds / self._eval_count if self._eval_count else 0.0
            eval_seconds, eval_every = max(timed, seen), self.run.eval_every
        self.elapsed = base + self.clock() - t0
        assert self.optim.max_minutes is not None
        if self.dist.active:  # rank 0's timings plan for the group
            step_seconds, eval_seconds, self.elapsed = D.broadcast((step_seconds, eval_seconds, self.elapsed))
        self.plan = timed_plan(
            max_steps=self.optim.max_steps,
            max_minutes=self.optim.max_minutes,
            eval_every=eval_every,
            planned_at=self.step,
            elapsed_at=self.elapsed,
            step_seconds=max(step_seconds, 1e-6),
            eval_seconds=eval_seconds,
        )
        self._note(
            f"plan: {self.plan.steps:,} steps in the {self.optim.max_minutes:g}-minute budget "
            f"({step_seconds * 1e3:.1f} ms a step, {eval_seconds:.1f} s an evaluation, measured over "
            f"steps {mark_step + 1}-{self.step}); the learning rate anneals over them"
        )

    def _note(self, message: str) -> None:
        """A one-line message on stderr that does not break the progress bar (rank 0 only)."""
        if not self.dist.is_main:
            return
        if self.run.progress:
            from tqdm.auto import tqdm

            tqdm.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self._note(f"warning: {message}")

    def _divergence_error(self, e: _Diverged) -> DivergenceError:
        step = self.step + 1 if "became" in e.what else self.step
        kept = "nothing was saved"
        path = None
        if self.run_dir is not None:
            path = self.save(self.checkpoint_path("diverged"))
            last = self.checkpoint_path("last")
            good = f"'last' (step {self._saved_step(last)})" if last.exists() else "no 'last' checkpoint yet"
            kept = f"{good} and 'best' are unchanged; the diverged state is in {path}"
        hint = f"try a lower optim.lr (it was {e.lr:.3g} at this step)"
        if self.optim.clip_norm is None and self.optim.clip_value is None:
            hint += " or gradient clipping (optim.clip_norm=1.0)"
        return DivergenceError(f"training diverged at step {step}: {e.what}; {kept}; {hint}", step, path)

    @staticmethod
    def _saved_step(path: Path) -> int | str:
        try:
            return read_meta(path)["trainer"]["step"]
        except (OSError, ValueError, KeyError):
            return "?"

    def _evaluate_and_track(self) -> None:
        for cb in self.callbacks:
            hook = getattr(cb, "on_eval_start", None)  # a newer hook: callbacks written before it lack it
            if hook is not None:
                hook(self)
        start = self.clock()
        metrics = self._shared_evaluation(self.run.eval_batches)
        self._eval_seconds += self.clock() - start
        self._eval_count += 1
        if self.monitor not in metrics:
            raise KeyError(f"monitor={self.monitor!r} is not among the validation metrics {sorted(metrics)}")
        value = float(metrics[self.monitor])
        d = self.run.min_delta
        # a best is finite and from a step whose loss was not blown up
        eligible = math.isfinite(value) and not self.divergence.blown_up
        improved = eligible and (
            self.best is None or (value < self.best - d if self.mode == "min" else value > self.best + d)
        )
        self.last_eval_step, self.last_val = self.step, {k: float(v) for k, v in metrics.items()}
        if improved:
            self.best, self.best_step, self.bad_evals = value, self.step, 0
            if self.run_dir is not None:
                self.save(self.checkpoint_path("best"))
        else:
            self.bad_evals += 1
            if self.run.patience is not None and self.bad_evals >= self.run.patience:
                self.request_stop("early_stopping")
        row = {"split": "val", "step": self.step, "epoch": self.epoch, "time": round(self.elapsed, 3)}
        row |= self.last_val | {"best": improved}
        for cb in self.callbacks:
            cb.on_eval_end(self, row)

    def _result(self) -> FitResult:
        return FitResult(
            self.step,
            self.epoch,
            self._stop_reason or "unknown",
            self.elapsed,
            self.best,
            self.best_step,
            self.last_val,
            self.run_dir,
            None if self.plan is None else self.plan.to_dict(),
            list(self.warnings),
        )


def load_backends(model: nn.Module) -> None:
    """Load the backends the model's recurrent layers can run on before a time budget starts counting.

    The fused CPU kernels are compiled for the machine on their first use (about a minute, once per
    machine); inside the training loop that minute came out of ``optim.max_minutes`` and out of the
    step time the plan is measured on (a 1.5-minute run lost more than half its steps to it).
    """
    from ..layers.base import LayerBase
    from ..scan.backends import backend_status

    layers = [m for m in model.modules() if isinstance(m, LayerBase) and m.uses_backend]
    if any(m.backend in ("auto", "cpu") for m in layers):
        backend_status()  # probes every backend: builds (or loads) the fused kernels, cached per process
