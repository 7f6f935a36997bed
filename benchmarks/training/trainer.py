"""Training of one run: the method ``training.loss`` names, EMA, timm optimizer and schedule, resumable.

Laid out as ``torchtitan/train.py``: :meth:`Trainer.train` loops over epochs and batches, :meth:`Trainer.train_step`
runs one batch through the method (:mod:`benchmarks.training.methods`: its attack, its loss, its own step with
replays or weight perturbation), :meth:`Trainer.apply_gradients` takes each optimizer step. The parts live beside
it: the batch stream (:mod:`.batches`), the optimizer and schedule (:mod:`.optimizer`), the precision
(:mod:`.precision`), the FLOP accounting (:mod:`.step_flops`), the per-epoch check (:mod:`.check`), the hooks
(:mod:`.hooks`) and the ways training stops (:mod:`.errors`). Components come from builders picked by name (the
method plug-in, :func:`benchmarks.attacks.create_attack`, timm's ``create_optimizer_v2`` / ``create_scheduler_v2``,
:func:`benchmarks.models.create_model`); every number comes from the run config.

Determinism: the batch order, augmentation, synthetic draws and attack random starts are drawn from generators
seeded by (seed, epoch, step, rank), and the checkpoint (:meth:`Trainer.state_dict`) holds everything else that
changes during training (weights, EMA, optimizer, schedule, global RNG states, epoch/step, the epoch's running
sums, history). Resuming from any checkpoint therefore replays exactly the steps an uninterrupted run takes.

Papers: Madry et al. 2018 (PGD-AT, https://arxiv.org/abs/1706.06083); Zhang et al. 2019 (TRADES,
https://arxiv.org/abs/1901.08573); Rice et al. 2020 (early stopping on robust accuracy, hence ``best``).
"""
from __future__ import annotations

import gc
import math
import random
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from ..datasets import DatasetInfo, dataset_info, eval_set, get_dataset, seed_of, split_size
from ..models import create_model, model_spec
from ..models.fits import check_fits, footprint
from .check import check_accuracy
from .checkpoint import CHECKPOINT_FORMAT, DamagedCheckpointError, get_rng_state, load_checkpoint, set_rng_state
from .checkpoint_check import CheckpointMismatch, built, check_training_state
from .distributed import DistInfo, all_gather_object, all_reduce_sum, broadcast_buffers
from .errors import Diverged, ResumeError, Stopped
from .averaging import SwaAverage, build_average
from .hooks import TrainHooks
from .init import load_init
from .methods import get_method
from .optimizer import build_optimizer, load_scheduler_state, scheduler_state
from .precision import autocast_factory, grad_scaler
from .step_flops import StepFlops
from .target import TargetCheck

__all__ = ["Trainer", "CHECKPOINT_FORMAT"]


class Trainer:
    """Everything one run trains: data stream, model (DDP-wrapped when distributed), EMA, optimizer, schedule.

    Args:
        cfg: the run's :class:`recipes.RunConfig`.
        dist: this process's place (:func:`benchmarks.training.distributed.init_distributed`).
        hooks: measurement / tracking / file hooks (:class:`TrainHooks`).
        checkpoint_steps: also checkpoint every this many steps inside an epoch (0 = only at epoch ends).
        checkpoint_seconds: also checkpoint when this long has passed since the last one (0 = never).
        progress: show tqdm bars (a terminal) instead of one line per epoch.
    """

    def __init__(self, cfg, dist: DistInfo, hooks: Optional[TrainHooks] = None, *, checkpoint_steps: int = 0,
                 checkpoint_seconds: float = 0.0, progress: Optional[bool] = None):
        self.cfg, self.dist = cfg, dist
        self.hooks = hooks or TrainHooks()
        self.checkpoint_steps, self.checkpoint_seconds = checkpoint_steps, checkpoint_seconds
        self.progress = (sys.stderr.isatty() and dist.is_main) if progress is None else progress
        self.device = dist.device
        if self.device.type == "cuda":
            # Fastest conv algorithms for the fixed input shape; bit-exact resume is promised on the CPU only.
            torch.backends.cudnn.benchmark = True
        self.autocast = autocast_factory(cfg.training.precision, self.device)
        data = cfg.data
        self.info: DatasetInfo = dataset_info(data.name, data.root, data.image_size)
        subset = cfg.training.select_subset
        self.select_on = cfg.training.select_on
        t = cfg.training
        # the dataset plug-in's own stream; with select_on: validation it holds out val_size images for the check
        self.batches, held_out = get_dataset(cfg.data.name).train_batches(
            cfg.data, seed=cfg.seed, rank=dist.rank, world_size=dist.world_size,
            val_size=t.val_size if t.select_on == "validation" else None, check_limit=t.select_subset)
        if held_out is None:
            held_out = eval_set(data, "test", limit=subset)
        n_eval = min(subset, held_out.n)
        # Each rank checks its share of the subset (read in batches, as every evaluation set); the counts are summed.
        self.check_set = held_out.head(n_eval)
        if dist.world_size > 1:
            self.check_set = self.check_set.subset(range(dist.rank, n_eval, dist.world_size))
        self.eval_n = n_eval
        self.test_n = split_size(data.name, "test", data.root)  # the final evaluation covers the whole test split

        # Seed every global RNG (the same initial weights on every rank; python/numpy for anything that uses them).
        random.seed(cfg.seed)
        np.random.seed(cfg.seed % 2**32)
        torch.manual_seed(cfg.seed)
        self.spec = model_spec(cfg.model, self.info.num_classes, self.info.in_chans, self.info.mean, self.info.std,
                               image_size=self.info.size)
        # A model (or batch) past this machine's memory is refused before it is allocated (an estimate, models/fits.py)
        check_fits(f"model {self.spec['name']} at batch size {data.batch_size}",
                   footprint(lambda: create_model(self.spec, self.info.num_classes, self.info.in_chans),
                             (self.info.in_chans, self.info.size, self.info.size), batch=data.batch_size),
                   training=True, device=self.device)
        self.model = create_model(self.spec, self.info.num_classes, self.info.in_chans).to(self.device)
        #: a pre-trained start (model.init, .init): what was loaded, for the record; None without one
        self.init = load_init(cfg.model.init, self.model) if cfg.model.init else None
        self.params = sum(p.numel() for p in self.model.parameters())
        self.ddp = None
        if dist.distributed:
            # Buffers are synchronised after each step instead (broadcast_buffers), so that the attack, the EMA and
            # the evaluation all see rank 0's BatchNorm statistics on every rank.
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[dist.local_rank] if self.device.type == "cuda" else None,
                broadcast_buffers=False)
        self.scaler = grad_scaler(cfg.training.precision, self.device)
        # The method (its attack, loss and step) is bound to the unwrapped model, as the attacks must be.
        self.method = get_method(cfg.training.loss)(self)
        self.global_batch_size = data.batch_size * dist.world_size
        self.lr = cfg.training.lr * self.global_batch_size / cfg.training.lr_base_batch_size
        self.optimizer, self.scheduler, self.schedule_per_epoch = build_optimizer(
            cfg.training, self.model, self.lr, len(self.batches) * self.method.updates_per_batch())
        self.ema = build_average(self)  # EMA, SWA or None: its .module is what is evaluated and kept
        self.train_attack = self.method.attack
        #: states as built, what a checkpoint's must look like (checkpoint_check; a resumed trainer holds what it read)
        self.fresh_states = {"scheduler": scheduler_state(self.scheduler), "optimizer": built(self.optimizer),
                             "scaler": self.scaler.state_dict() if self.scaler is not None else None}

        # progress and results; all of it is in the checkpoint
        self.epoch = 0          # epoch in progress (0-based)
        self.step = 0           # next step inside that epoch
        self.global_step = 0    # optimizer steps done
        self.sums = self._zero_sums()
        self.history: List[Dict[str, Any]] = []
        self.best: Dict[str, Any] = {"epoch": None, "pgd_subset": None}
        self.seconds = {"train": 0.0, "eval": 0.0}
        self.flops = StepFlops()  # this rank's FLOPs per step shape and samples drawn
        self.target = TargetCheck.of(cfg)  # the benchmark's target, when the run enters one (.target)
        #: summed over ranks by sum_flops(): {"forward", "samples", "executed"}
        self.flops_total: Optional[Dict[str, Any]] = None
        self._batch_stats: List[float] = [0.0, 0.0, 0]
        self.resumed = False
        self._stop_agreed = self._save_agreed = False
        self._last_save = time.monotonic()

    def close(self) -> None:
        """Drop the DDP wrapper, and with it the reducer's reference to the process group. Call before destroying
        the process group: a gloo group destroyed later, from the reducer's deallocation, can deadlock."""
        if self.ddp is not None:
            self.ddp = None
            gc.collect()

    # ------------------------------------------------------------------ views

    def _zero_sums(self) -> Dict[str, float]:
        return {"loss": 0.0, "correct": 0.0, "n": 0.0, "steps": 0.0, "seconds": 0.0}

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are evaluated and kept: the EMA when the run uses one."""
        return self.ema.module if self.ema is not None else self.model

    @property
    def forward_model(self) -> nn.Module:
        """The module training forwards go through: the DDP wrapper when distributed, else the model."""
        return self.ddp or self.model

    @property
    def lr_now(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    # ------------------------------------------------------------------ state

    def state_dict(self) -> Dict[str, Any]:
        """Everything needed to continue exactly (collective under DDP: gathers every rank's RNG states)."""
        rng = all_gather_object(get_rng_state(), self.dist)
        return {
            "format": CHECKPOINT_FORMAT,
            "model_spec": self.spec,
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict() if self.ema is not None else None,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": scheduler_state(self.scheduler),
            "progress": {"epoch": self.epoch, "step": self.step, "global_step": self.global_step},
            "data_order": {"seed": self.cfg.seed, "world_size": self.dist.world_size,
                           "batch_size": self.cfg.data.batch_size, "steps_per_epoch": len(self.batches)},
            "sums": dict(self.sums),
            "history": [dict(h) for h in self.history],
            "best": dict(self.best),
            "seconds": dict(self.seconds),
            "flops": self.flops.state_dict(),
            "method": all_gather_object(self.method.state_dict(), self.dist),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng,
            "extra": self.hooks_state(),
            "target": self.target.state_dict() if self.target is not None else None,
            **({"swa": self.ema.state_dict()} if isinstance(self.ema, SwaAverage) else {}),
        }

    def hooks_state(self) -> Dict[str, Any]:
        """Hook-owned state saved in checkpoints (e.g. energy totals; :meth:`TrainHooks.state`)."""
        getter = getattr(self.hooks, "state", None)
        return getter() if getter is not None else {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continue from ``state`` (:meth:`state_dict`), validated whole before any of it is used.

        Raises:
            CheckpointMismatch: an entry does not fit this run (nothing has changed).
            ResumeError: the checkpoint was written with another world size or batch size.
        """
        check_training_state(state, self)
        order = state["data_order"]
        mine = {"seed": self.cfg.seed, "world_size": self.dist.world_size, "batch_size": self.cfg.data.batch_size,
                "steps_per_epoch": len(self.batches)}
        if order != mine:
            raise ResumeError(f"the checkpoint was written by a run with data order {order}, this one has {mine}; "
                              "resume with the same number of processes (torchrun --nproc_per_node)")
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            if isinstance(self.ema, SwaAverage):
                self.ema.load_state_dict(state.get("swa"))
            self.ema.module.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            load_scheduler_state(self.scheduler, state["scheduler"])
        progress = state["progress"]
        self.epoch, self.step, self.global_step = progress["epoch"], progress["step"], progress["global_step"]
        self.sums = dict(state["sums"])
        self.history = [dict(h) for h in state["history"]]
        self.best = dict(state["best"])
        self.seconds = dict(state["seconds"])
        self.flops.load_state_dict(state, batch_size=self.cfg.data.batch_size, global_step=self.global_step)
        method_state = state.get("method") or [{}]
        self.method.load_state_dict(method_state[self.dist.rank] if len(method_state) == self.dist.world_size
                                    else method_state[0])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        rng = state["rng"]
        set_rng_state(rng[self.dist.rank] if len(rng) == self.dist.world_size else rng[0])
        if self.target is not None:
            self.target.load_state_dict(state.get("target"))
        self.resumed = True

    def resume(self, path: str) -> Dict[str, Any]:
        """Load the checkpoint file ``path`` and continue from it; returns its state.

        Raises:
            DamagedCheckpointError: it cannot be read or does not fit this run (one line, the --restart remedy).
        """
        state = load_checkpoint(path, map_location=self.device)
        try:
            self.load_state_dict(state)
        except CheckpointMismatch as err:
            raise DamagedCheckpointError(path, str(err), fits=False) from None
        return state

    def save(self, which: str = "last") -> None:
        """Checkpoint now (collective under DDP; rank 0 writes through the hooks)."""
        state = self.state_dict()
        if self.dist.is_main:
            self.hooks.checkpoint(self, which, state)
        self._last_save = time.monotonic()

    def best_state(self) -> Dict[str, Any]:
        """The weights kept as ``best``: model, EMA and enough to rebuild and report them."""
        return {"format": CHECKPOINT_FORMAT, "model_spec": self.spec, "model": self.model.state_dict(),
                "ema": self.ema.module.state_dict() if self.ema is not None else None,
                "epoch": self.best["epoch"], "metrics": dict(self.history[-1]) if self.history else None}

    # ------------------------------------------------------------------ one step

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[float, float, int]:
        """One training batch through the method: its attack, its loss, and its optimizer step(s).

        Returns:
            The ``(loss sum, correct predictions, samples)`` of the batch over all ranks (summed over replays).
        """
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed_of(self.cfg.seed, 4, self.epoch, self.step, self.dist.rank))
        self._batch_stats = [0.0, 0.0, 0]
        self._stop_agreed = self._save_agreed = False
        self.method.step(x, y, generator)
        self.flops.samples_seen += len(y)
        loss, correct, n = self._batch_stats
        return loss, correct, n

    def backward(self, loss: torch.Tensor) -> None:
        """Back-propagate a training loss (scaled by the fp16 gradient scaler when there is one)."""
        (self.scaler.scale(loss) if self.scaler is not None else loss).backward()

    def apply_gradients(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor,
                        after_step: Optional[Callable[[], None]] = None) -> None:
        """One optimizer step on the gradients in ``.grad``, then buffers, EMA and schedule.

        One all-reduce carries the loss, the accuracy, a pending stop signal and rank 0's "checkpoint is due", so
        every rank agrees on divergence, on stopping and on saving. ``after_step`` runs right after the
        optimizer's step (AWP removes its weight perturbation there).

        Raises:
            Diverged: the loss is NaN or infinite on some rank (before the step is taken).
        """
        save_due = (self.dist.is_main and self.checkpoint_seconds > 0
                    and time.monotonic() - self._last_save >= self.checkpoint_seconds)
        stats = torch.tensor([float(loss.detach()) * len(y), float((logits.argmax(1) == y).sum()), len(y),
                              float(self.hooks.stop_requested() > 0), float(save_due)], dtype=torch.float64)
        stats = all_reduce_sum(stats.to(self.device), self.dist).cpu()
        total_loss = float(stats[0])
        if not math.isfinite(total_loss):
            raise Diverged(f"non-finite training loss ({total_loss / float(stats[2])}) at epoch {self.epoch + 1}, "
                           f"step {self.step + 1} (lr {self.lr_now:g})")
        clip = self.cfg.training.clip_grad
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        if clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        if after_step is not None:
            after_step()
        broadcast_buffers(self.model, self.dist)
        self.global_step += 1
        if self.scheduler is not None and not self.schedule_per_epoch:
            self.scheduler.step_update(num_updates=self.global_step)
        if self.ema is not None:  # after the schedule: SWA holds its own learning rate
            self.ema.update(self.model, step=self.global_step)
        self._stop_agreed = self._stop_agreed or float(stats[3]) > 0
        self._save_agreed = self._save_agreed or float(stats[4]) > 0
        self._batch_stats[0] += total_loss
        self._batch_stats[1] += float(stats[1])
        self._batch_stats[2] += int(stats[2])

    # ------------------------------------------------------------------ FLOPs

    def _counted_step(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[float, float, int]:
        """Run one batch; profile it when its step shape is new (once per shape per run)."""
        return self.flops.run(f"{self.method.shape_key()}|b{len(y)}", lambda: self.train_step(x, y),
                              self.method.executed_factor, lambda step: self.hooks.count_flops(self.model, step))

    def sum_flops(self) -> None:
        """Collective: sum the executed forward FLOPs (and the executed training FLOPs estimate) and samples over
        ranks into :attr:`flops_total`."""
        self.flops_total = self.flops.summed(self.dist, self.device)

    # ------------------------------------------------------------------ the loop

    def evaluate(self) -> Tuple[float, float]:
        """Clean and robust accuracy (%) of :attr:`eval_model` on the check set: the per-epoch check that chooses
        the ``best`` checkpoint (``training.select_*``; :mod:`.check`)."""
        return check_accuracy(self)

    def _checkpoint_due(self) -> bool:
        # The time-based decision is rank 0's, agreed on in train_step's all-reduce (save() is collective).
        return bool(self.checkpoint_steps and self.step % self.checkpoint_steps == 0) or self._save_agreed

    def train(self) -> None:
        """Train from the current state to ``training.epochs`` (or the benchmark's target with
        ``training.stop_at_target``).

        Raises:
            Diverged: non-finite loss (nothing is saved).
            Stopped: a stop signal arrived; the state was checkpointed at the next step boundary.
        """
        epochs = self.cfg.training.epochs
        steps = len(self.batches)
        self._stop_agreed = False
        while self.epoch < epochs and not (self.target is not None and self.target.stop_now):
            if self.step < steps:
                self._train_epoch_steps(steps)
            if isinstance(self.ema, SwaAverage):  # the epoch's weights into the average: training time
                with self.hooks.window("train"):
                    self._account(self.ema.epoch_end(time.perf_counter()))
            with self.hooks.window("eval"):
                t0 = time.perf_counter()
                self.hooks.point("epoch_eval")
                clean, pgd = self.evaluate()
                eval_seconds = time.perf_counter() - t0
            self.seconds["eval"] += eval_seconds
            self._end_epoch(clean, pgd, eval_seconds)
            if self._stop_agreed or self._stop_now():
                self.sum_flops()
                raise Stopped(self.hooks.stop_requested() or 15)
        self.sum_flops()

    def _stop_now(self) -> bool:
        flag = torch.tensor([float(self.hooks.stop_requested() > 0)], device=self.device)
        return bool(all_reduce_sum(flag, self.dist).item() > 0)

    def _train_epoch_steps(self, steps: int) -> None:
        bar = None
        if self.progress:
            bar = tqdm(total=steps, initial=self.step, desc=f"epoch {self.epoch + 1}/{self.cfg.training.epochs}",
                       leave=False, dynamic_ncols=True)
        try:
            with self.hooks.window("train"):
                t0 = time.perf_counter()
                for step, x, y in self.batches.epoch(self.epoch, self.step, self.device):
                    loss, correct, n = self._counted_step(x, y)
                    self.step = step + 1
                    self.sums["loss"] += loss
                    self.sums["correct"] += correct
                    self.sums["n"] += n
                    self.sums["steps"] += 1
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(loss=f"{loss / n:.3f}", lr=f"{self.lr_now:.3g}")
                    self.hooks.point("step")
                    if self._stop_agreed:
                        t0 = self._account(t0)
                        self.save()
                        self.sum_flops()
                        raise Stopped(self.hooks.stop_requested() or 15)
                    if self.step < steps and self._checkpoint_due():
                        t0 = self._account(t0)
                        self.save()
                        self.hooks.point("checkpoint")
                self._account(t0)
        finally:
            if bar is not None:
                bar.close()

    def _account(self, t0: float) -> float:
        """Add the training time since ``t0`` to the run's and the epoch's totals; return now."""
        now = time.perf_counter()
        self.seconds["train"] += now - t0
        self.sums["seconds"] += now - t0
        return now

    def _end_epoch(self, clean: float, pgd: float, eval_seconds: float) -> None:
        sums = self.sums
        metrics = {"epoch": self.epoch + 1, "step": self.global_step,
                   "train_loss": sums["loss"] / max(sums["n"], 1.0),
                   "train_robust_acc": 100.0 * sums["correct"] / max(sums["n"], 1.0),
                   "clean_subset": clean, "pgd_subset": pgd, "pgd_subset_n": self.eval_n, "lr": self.lr_now,
                   "train_seconds": sums["seconds"], "eval_seconds": eval_seconds}
        metrics.update(self.hooks.epoch_energy(self.history))  # energy per device kind and power of the epoch
        if self.target is not None:  # the epoch's FLOPs and energy, and whether it reached the target
            self.target.end_epoch(self, metrics)
        self.history.append(metrics)
        improved = self.best["pgd_subset"] is None or pgd > self.best["pgd_subset"]
        if self.scheduler is not None and self.schedule_per_epoch:
            self.scheduler.step(self.epoch + 1, metric=pgd)
        if improved:
            self.best = {"epoch": self.epoch + 1, "pgd_subset": pgd}
            if self.dist.is_main:
                self.hooks.checkpoint(self, "best", self.best_state())
        if self.target is not None and self.target.just_reached and self.dist.is_main:
            self.hooks.checkpoint(self, "target", self.target.weights(self, metrics))
        self.epoch += 1
        self.step = 0
        self.sums = self._zero_sums()
        self.save()
        self.hooks.point("checkpoint")
        if self.dist.is_main:
            self.hooks.epoch_end(self, metrics)
