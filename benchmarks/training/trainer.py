"""Training of one run: the method ``training.loss`` names, EMA, timm optimizer and schedule, resumable.

Laid out as ``torchtitan/train.py``: :meth:`Trainer.train` loops over epochs and batches, :meth:`Trainer.train_step`
runs one batch through the method (:mod:`benchmarks.training.methods`: its attack, its loss, its own step with
replays or weight perturbation), :meth:`Trainer.apply_gradients` takes each optimizer step. Components come from
builders picked by name (the method registry, :func:`benchmarks.attacks.create_attack`, timm's
``create_optimizer_v2`` / ``create_scheduler_v2``, :func:`benchmarks.models.create_model`); every number comes
from the run config.

FLOPs: every distinct step shape (the method's phase, such as AWP on or off, and the batch size) is profiled
once, on the first step that has it (:meth:`TrainHooks.count_flops`); the executed steps of each shape are
counted, and the run's forward FLOPs are the sum over shapes, over resumed sessions (both live in the
checkpoint) and over ranks.

Determinism: the batch order, augmentation, synthetic draws and attack random starts are drawn from generators
seeded by (seed, epoch, step, rank), and the checkpoint (:meth:`Trainer.state_dict`) holds everything else that
changes during training (weights, EMA, optimizer, schedule, global RNG states, epoch/step, the epoch's running
sums, history). Resuming from any checkpoint therefore replays exactly the steps an uninterrupted run takes.

Papers: Madry et al. 2018 (PGD-AT, https://arxiv.org/abs/1706.06083); Zhang et al. 2019 (TRADES,
https://arxiv.org/abs/1901.08573); Rice et al. 2020 (early stopping on robust accuracy, hence ``best``).
"""
from __future__ import annotations

import contextlib
import gc
import math
import random
import sys
import time
import warnings
from typing import Any, Callable, ContextManager, Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from recipes.errors import UserError

from ..interruption import Preempted

from ..attacks import create_attack
from ..models import final_logits
from ..data import FOLDER_DATASETS, DatasetInfo, split_size, TrainBatches, dataset_info, load_raw, load_synthetic, seed_of
from ..models import create_model, model_spec
from .checkpoint import get_rng_state, set_rng_state
from .distributed import DistInfo, all_gather_object, all_reduce_sum, broadcast_buffers
from .methods import get_method
from ..folder_data import split_validation
from ..eval_data import TensorSet, as_eval_set, eval_set

__all__ = ["Diverged", "ResumeError", "Stopped", "TrainHooks", "Trainer", "forward_backward_step", "autocast_factory",
           "evaluate_subset", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = 1


class ResumeError(UserError):
    """A checkpoint that this run cannot continue from (another world size or batch size)."""


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


class Stopped(Preempted):
    """Training stopped at a safe point after a checkpoint (SIGTERM / SIGUSR1); the run resumes later."""

    def __init__(self, signum: int):
        super().__init__(signum, f"stopped by signal {signum} after a checkpoint")


class TrainHooks:
    """Points where measurement, tracking, logging and tests plug into the loop. The defaults do nothing.

    run.py passes a subclass wired to the energy meter, the FLOPs counter, the tracker and the run's files.
    """

    def window(self, name: str) -> ContextManager:
        """Context around the ``train`` part and the ``eval`` part of each epoch (energy windows)."""
        return contextlib.nullcontext()

    def count_flops(self, model: nn.Module, step: Callable[[], Any]) -> Optional[int]:
        """Runs the first step of each step shape; must call ``step()`` once. Returns the forward FLOPs that
        ``model`` executed in it, or None when FLOPs are not counted."""
        step()
        return None

    def checkpoint(self, trainer: "Trainer", which: str, state: Dict[str, Any]) -> None:
        """Persist ``state`` (called on rank 0 only); ``which`` is ``last`` or ``best``."""

    def epoch_end(self, trainer: "Trainer", metrics: Dict[str, Any]) -> None:
        """After the checkpoint of each epoch (rank 0 only): metrics files, tracker, log line."""

    def point(self, name: str) -> None:
        """Named places in the loop (``step``, ``epoch_eval``, ``checkpoint``); tests hook kills here."""

    def stop_requested(self) -> int:
        """A pending stop signal number, 0 when none."""
        return 0


def autocast_factory(precision: str, device: torch.device) -> Callable[[], ContextManager]:
    """``torch.autocast`` in bf16 / fp16 for ``precision`` ``bf16`` / ``fp16`` (CPU autocast too), else a no-op."""
    if precision in ("bf16", "fp16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float16
        return lambda: torch.autocast(device_type=device.type, dtype=dtype)
    return contextlib.nullcontext


def forward_backward_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor, *, loss: str,
                          trades_beta: float, autocast: Callable[[], ContextManager]
                          ) -> Tuple[torch.Tensor, torch.Tensor]:
    """The ``at`` or ``trades`` loss on one batch outside a trainer, back-propagated into ``.grad`` (benchmarks).

    Returns:
        ``(loss, logits)``: the detached scalar loss and the logits on the adversarial examples.
    """
    from .methods.at import at_loss
    from .methods.trades import trades_loss

    if loss == "at":
        with autocast():
            adv_logits = final_logits(model(x_adv)).float()
        value = at_loss(adv_logits, y)
    elif loss == "trades":
        with autocast():
            natural, adv_logits = final_logits(model(torch.cat([x, x_adv]))).float().chunk(2)
        value = trades_loss(natural, adv_logits, y, trades_beta)
    else:
        raise ValueError(f"forward_backward_step knows at and trades, not {loss!r}")
    value.backward()
    return value.detach(), adv_logits.detach()


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, autocast) -> torch.Tensor:
    with autocast():
        return final_logits(model(x)).argmax(1)


def evaluate_subset(model: nn.Module, data, labels: Optional[torch.Tensor], attack, batch_size: int,
                    autocast, device: torch.device, generator: Optional[torch.Generator] = None
                    ) -> Tuple[int, int, int]:
    """Clean and robust correct counts of ``model`` (in eval mode) on a set: ``(clean, robust, n)``.

    ``data``: an :class:`benchmarks.eval_data.EvalSet` (read in batches of ``batch_size``; ``labels`` None) or
    images with their ``labels``.
    """
    data = as_eval_set(data, labels)
    was_training = model.training
    model.eval()
    clean = robust = 0
    try:
        for x, y in data.batches(batch_size):
            x, y = x.to(device), y.to(device)
            clean += int((_predict(model, x, autocast) == y).sum())
            x_adv = attack(x, y, generator=generator)
            robust += int((_predict(model, x_adv, autocast) == y).sum())
    finally:
        model.train(was_training)
    return clean, robust, data.n


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
        self.batches, held_out = self._train_batches()
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
        self.model = create_model(self.spec, self.info.num_classes, self.info.in_chans).to(self.device)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.ddp = None
        if dist.distributed:
            # Buffers are synchronised after each step instead (broadcast_buffers), so that the attack, the EMA and
            # the evaluation all see rank 0's BatchNorm statistics on every rank.
            self.ddp = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[dist.local_rank] if self.device.type == "cuda" else None,
                broadcast_buffers=False)
        self.scaler = None
        if cfg.training.precision == "fp16":
            # fp16 gradients underflow without loss scaling (Micikevicius et al. 2018); bf16 needs none.
            self.scaler = torch.amp.GradScaler(self.device.type)
        # The method (its attack, loss and step) is bound to the unwrapped model, as the attacks must be.
        self.method = get_method(cfg.training.loss)(self)
        self.ema = None
        if cfg.training.ema_decay:
            from timm.utils import ModelEmaV3

            self.ema = ModelEmaV3(self.model, decay=cfg.training.ema_decay)

        self.global_batch_size = data.batch_size * dist.world_size
        self.lr = cfg.training.lr * self.global_batch_size / cfg.training.lr_base_batch_size
        self.optimizer, self.scheduler, self.schedule_per_epoch = self._build_optimizer()
        self.train_attack = self.method.attack

        # progress and results; all of it is in the checkpoint
        self.epoch = 0          # epoch in progress (0-based)
        self.step = 0           # next step inside that epoch
        self.global_step = 0    # optimizer steps done
        self.sums = self._zero_sums()
        self.history: List[Dict[str, Any]] = []
        self.best: Dict[str, Any] = {"epoch": None, "pgd_subset": None}
        self.seconds = {"train": 0.0, "eval": 0.0}
        # FLOPs: forward FLOPs of one step of each shape (this rank), and the steps of each shape executed.
        self.step_flops: Dict[str, Optional[int]] = {}
        self.step_counts: Dict[str, int] = {}
        #: per shape, executed training FLOPs / forward FLOPs (Method.executed_factor; None = not modelled)
        self.step_factors: Dict[str, Optional[float]] = {}
        self.samples_seen = 0   # training samples drawn by this rank (replays count once)
        self._batch_stats: List[float] = [0.0, 0.0, 0]
        self.resumed = False
        self._stop_agreed = self._save_agreed = False
        self._last_save = time.monotonic()

    def close(self) -> None:
        """Drop the DDP wrapper, and with it the reducer's reference to the process group.

        Call before destroying the process group: a gloo group destroyed later, from the reducer's
        deallocation, can deadlock (its destructor joins a worker thread waiting for the GIL).
        """
        if self.ddp is not None:
            self.ddp = None
            gc.collect()

    # ------------------------------------------------------------------ builders

    def _train_batches(self):
        """The training batch stream, and the held-out validation images of the per-epoch check.

        In memory (digits, CIFAR, synthetic mixing) or streamed from image folders. With
        ``training.select_on: validation``, ``training.val_size`` training images chosen by the seed are held out:
        never trained on, they are the check's images (an :class:`benchmarks.eval_data.EvalSet`, streamed for
        folder datasets); with ``test`` the second value is None and the check reads the first test images.
        """
        cfg, data, dist, t = self.cfg, self.cfg.data, self.dist, self.cfg.training
        if data.name in FOLDER_DATASETS:
            from ..folder_data import FolderBatches

            batches = FolderBatches(data.name, data.root, data.image_size, data.batch_size, cfg.seed, dist.rank,
                                    dist.world_size, num_workers=data.num_workers, augment=data.augment,
                                    held_out=t.val_size if t.select_on == "validation" else 0)
            return batches, batches.held_out_set(limit=cfg.training.select_subset)
        images, labels, scale = load_raw(data.name, "train", data.root)
        if data.holdout_fraction > 0:   # held out for calibration (e.g. early-exit thresholds), never trained on
            from ..data import holdout_split

            kept, _ = holdout_split(len(labels), data.holdout_fraction)
            images, labels = images[kept], labels[kept]
        held = None
        if t.select_on == "validation":
            keep, val = split_validation(len(labels), t.val_size, cfg.seed, data.batch_size * dist.world_size)
            held = TensorSet(images[val].float().div_(scale), labels[val])
            images, labels = images[keep], labels[keep]
        synthetic = load_synthetic(data.synthetic, self.info.num_classes) if data.synthetic_fraction > 0 else None
        if synthetic is not None and tuple(synthetic[0].shape[1:]) != tuple(images.shape[1:]):
            from ..data import DataError

            raise DataError(f"synthetic images are {tuple(synthetic[0].shape[1:])}, the {data.name} images "
                            f"{tuple(images.shape[1:])}; they must match")
        batches = TrainBatches(images, labels, scale, data.batch_size, cfg.seed, dist.rank, dist.world_size,
                               synthetic=synthetic, synthetic_fraction=data.synthetic_fraction,
                               augment=data.augment and self.info.size == 32)
        return batches, held

    def _build_optimizer(self):
        from timm.optim import create_optimizer_v2
        from timm.scheduler import create_scheduler_v2

        t = self.cfg.training
        optimizer = create_optimizer_v2(self.model, opt=t.optimizer, lr=self.lr, weight_decay=t.weight_decay,
                                        momentum=t.momentum)
        if t.scheduler == "none":
            return optimizer, None, False
        per_epoch = t.scheduler == "plateau"
        kwargs = dict(sched=t.scheduler, num_epochs=t.epochs, warmup_epochs=t.warmup_epochs, min_lr=0.0,
                      step_on_epochs=per_epoch, updates_per_epoch=len(self.batches) * self.method.updates_per_batch(),
                      # step: decay by 10x every third of training; multistep: at 50 % and 75 % (Madry / Rice).
                      decay_epochs=max(1, t.epochs // 3),
                      decay_milestones=sorted({max(1, t.epochs // 2), max(1, (3 * t.epochs) // 4)}))
        if per_epoch:
            kwargs["plateau_mode"] = "max"
        with warnings.catch_warnings():
            # timm warns that PlateauLRScheduler's metric state is not checkpointed; _scheduler_state saves it.
            warnings.simplefilter("ignore", FutureWarning)
            scheduler, _ = create_scheduler_v2(optimizer, **kwargs)
        return optimizer, scheduler, per_epoch

    def _scheduler_state(self) -> Optional[Dict[str, Any]]:
        if self.scheduler is None:
            return None
        state = {"timm": self.scheduler.state_dict()}
        inner = getattr(self.scheduler, "lr_scheduler", None)  # plateau: torch's ReduceLROnPlateau holds the state
        if inner is not None:
            state["plateau"] = inner.state_dict()
        return state

    def _load_scheduler_state(self, state: Dict[str, Any]) -> None:
        self.scheduler.load_state_dict(state["timm"])
        if "plateau" in state:
            self.scheduler.lr_scheduler.load_state_dict(state["plateau"])

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
            "scheduler": self._scheduler_state(),
            "progress": {"epoch": self.epoch, "step": self.step, "global_step": self.global_step},
            "data_order": {"seed": self.cfg.seed, "world_size": self.dist.world_size,
                           "batch_size": self.cfg.data.batch_size, "steps_per_epoch": len(self.batches)},
            "sums": dict(self.sums),
            "history": [dict(h) for h in self.history],
            "best": dict(self.best),
            "seconds": dict(self.seconds),
            "flops": {"step_flops": dict(self.step_flops), "step_counts": dict(self.step_counts),
                      "step_factors": dict(self.step_factors), "samples_seen": self.samples_seen},
            "method": all_gather_object(self.method.state_dict(), self.dist),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng,
            "extra": self.hooks_state(),
        }

    def hooks_state(self) -> Dict[str, Any]:
        """Hook-owned state saved in checkpoints (e.g. energy totals); set by run.py."""
        getter = getattr(self.hooks, "state", None)
        return getter() if getter is not None else {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        order = state["data_order"]
        mine = {"seed": self.cfg.seed, "world_size": self.dist.world_size, "batch_size": self.cfg.data.batch_size,
                "steps_per_epoch": len(self.batches)}
        if order != mine:
            raise ResumeError(f"the checkpoint was written by a run with data order {order}, this one has {mine}; "
                              "resume with the same number of processes (torchrun --nproc_per_node)")
        self.model.load_state_dict(state["model"])
        if self.ema is not None:
            self.ema.module.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self._load_scheduler_state(state["scheduler"])
        progress = state["progress"]
        self.epoch, self.step, self.global_step = progress["epoch"], progress["step"], progress["global_step"]
        self.sums = dict(state["sums"])
        self.history = [dict(h) for h in state["history"]]
        self.best = dict(state["best"])
        self.seconds = dict(state["seconds"])
        flops = state.get("flops")
        if flops is None:  # written before FLOPs were counted per step shape: every step had the first one's
            per_step = state.get("forward_flops_per_step")
            key = f"plain|b{self.cfg.data.batch_size}"
            flops = {"step_flops": {key: per_step} if per_step is not None else {},
                     "step_counts": {key: self.global_step} if per_step is not None else {},
                     "samples_seen": self.global_step * self.cfg.data.batch_size}
        self.step_flops = dict(flops["step_flops"])
        self.step_counts = dict(flops["step_counts"])
        self.step_factors = dict(flops.get("step_factors") or {})  # absent before: executed FLOPs stay unknown
        self.samples_seen = int(flops["samples_seen"])
        method_state = state.get("method") or [{}]
        self.method.load_state_dict(method_state[self.dist.rank] if len(method_state) == self.dist.world_size
                                    else method_state[0])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        rng = state["rng"]
        set_rng_state(rng[self.dist.rank] if len(rng) == self.dist.world_size else rng[0])
        self.resumed = True

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
        self.samples_seen += len(y)
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
        if self.ema is not None:
            self.ema.update(self.model, step=self.global_step)
        if self.scheduler is not None and not self.schedule_per_epoch:
            self.scheduler.step_update(num_updates=self.global_step)
        self._stop_agreed = self._stop_agreed or float(stats[3]) > 0
        self._save_agreed = self._save_agreed or float(stats[4]) > 0
        self._batch_stats[0] += total_loss
        self._batch_stats[1] += float(stats[1])
        self._batch_stats[2] += int(stats[2])

    # ------------------------------------------------------------------ FLOPs

    def _counted_step(self, x: torch.Tensor, y: torch.Tensor) -> Tuple[float, float, int]:
        """Run one batch; profile it when its step shape is new (once per shape per run)."""
        key = f"{self.method.shape_key()}|b{len(y)}"
        if key in self.step_flops:
            result = self.train_step(x, y)
        else:
            box: List[Any] = []
            self.step_factors[key] = self.method.executed_factor()
            flops = self.hooks.count_flops(self.model, lambda: box.append(self.train_step(x, y)))
            self.step_flops[key] = None if flops is None else int(flops)
            result = box[0]
        self.step_counts[key] = self.step_counts.get(key, 0) + 1
        return result

    def forward_flops_executed(self) -> Tuple[Optional[int], int]:
        """``(forward FLOPs, training samples)`` this rank executed so far; FLOPs None when a shape was not
        counted."""
        total = 0
        for key, count in self.step_counts.items():
            flops = self.step_flops.get(key)
            if flops is None:
                return None, self.samples_seen
            total += flops * count
        return total, self.samples_seen

    def training_flops_estimate(self) -> Optional[float]:
        """Forward and backward FLOPs this rank executed so far, estimated per shape from its measured forward
        FLOPs and the method's :meth:`~benchmarks.training.methods.Method.executed_factor`; None when a shape was
        not counted or not modelled."""
        total = 0.0
        for key, count in self.step_counts.items():
            flops, factor = self.step_flops.get(key), self.step_factors.get(key)
            if flops is None or factor is None:
                return None
            total += flops * factor * count
        return total

    def sum_flops(self) -> None:
        """Collective: sum the executed forward FLOPs (and the executed training FLOPs estimate) and samples over
        ranks into :attr:`flops_total`."""
        flops, samples = self.forward_flops_executed()
        executed = self.training_flops_estimate()
        t = torch.tensor([float(flops or 0), float(flops is None), float(samples), float(executed or 0),
                          float(executed is None)], dtype=torch.float64, device=self.device)
        t = all_reduce_sum(t, self.dist).cpu()
        self.flops_total = {"forward": None if float(t[1]) > 0 else int(round(float(t[0]))),
                            "samples": int(round(float(t[2]))),
                            "executed": None if float(t[4]) > 0 else float(t[3])}

    # ------------------------------------------------------------------ the loop

    flops_total: Optional[Dict[str, Any]] = None

    def evaluate(self) -> Tuple[float, float]:
        """Clean and PGD accuracy (%) of :attr:`eval_model` on the first ``training.select_subset`` test images:
        the per-epoch check that chooses the ``best`` checkpoint (``training.select_*``)."""
        t = self.cfg.training
        model = self.eval_model
        attack = create_attack("pgd", model, norm=self.cfg.attack.norm, eps=self.cfg.attack.eps,
                               steps=t.select_pgd_steps, step_size=self.cfg.select_step_size,
                               random_start=self.cfg.attack.random_start, autocast=self.autocast)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed_of(self.cfg.seed, 5, self.epoch, self.dist.rank))
        clean, robust, n = evaluate_subset(model, self.check_set, None, attack, t.select_batch_size,
                                           self.autocast, self.device, generator)
        counts = all_reduce_sum(torch.tensor([clean, robust, n], dtype=torch.float64, device=self.device),
                                self.dist).cpu()
        return 100.0 * float(counts[0]) / float(counts[2]), 100.0 * float(counts[1]) / float(counts[2])

    def _checkpoint_due(self) -> bool:
        # The time-based decision is rank 0's, agreed on in train_step's all-reduce (save() is collective).
        return bool(self.checkpoint_steps and self.step % self.checkpoint_steps == 0) or self._save_agreed

    def train(self) -> None:
        """Train from the current state to ``training.epochs``.

        Raises:
            Diverged: non-finite loss (nothing is saved).
            Stopped: a stop signal arrived; the state was checkpointed at the next step boundary.
        """
        epochs = self.cfg.training.epochs
        steps = len(self.batches)
        self._stop_agreed = False
        while self.epoch < epochs:
            if self.step < steps:
                self._train_epoch_steps(steps)
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
            from tqdm import tqdm

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
        self.history.append(metrics)
        improved = self.best["pgd_subset"] is None or pgd > self.best["pgd_subset"]
        if self.scheduler is not None and self.schedule_per_epoch:
            self.scheduler.step(self.epoch + 1, metric=pgd)
        if improved:
            self.best = {"epoch": self.epoch + 1, "pgd_subset": pgd}
            if self.dist.is_main:
                self.hooks.checkpoint(self, "best", self.best_state())
        self.epoch += 1
        self.step = 0
        self.sums = self._zero_sums()
        self.save()
        self.hooks.point("checkpoint")
        if self.dist.is_main:
            self.hooks.epoch_end(self, metrics)
