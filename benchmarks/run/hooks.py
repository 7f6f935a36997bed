"""The run's hooks into the training loop: its files, the energy meter, the FLOPs counter and the tracker."""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Dict

from ..interruption import TestInterrupt
from ..measurement.energy import TOTAL
from ..measurement.epochs import epoch_energy
from ..measurement.flops import count_forward_flops
from ..training.checkpoint import checkpoint_path, save_checkpoint
from ..training.hooks import TrainHooks
from .folder import write_metrics
from .signals import StopFlag

__all__ = ["RunHooks"]


class RunHooks(TrainHooks):
    """Wires the training loop to this run's files, the energy meter, the FLOPs counter and the tracker."""

    def __init__(self, run_dir: str, is_main: bool, stop: StopFlag, kill: TestInterrupt, log: Callable[[str], None],
                 meter=None, tracker=None, count_flops: bool = True):
        self.run_dir, self.is_main, self.stop, self.kill, self.log = run_dir, is_main, stop, kill, log
        self.meter, self.tracker, self.count_flops_enabled = meter, tracker, count_flops
        self.trainer = None  # set once the trainer is built
        self.nodes = None  # the run's :class:`.nodes.NodeEnergy`, set with the meter
        self.layers = None  # a LayerProfiler with measurement.layer_profile (benchmarks.measurement.layers)

    @contextlib.contextmanager
    def window(self, name: str):
        """The energy window of an epoch's ``train`` steps or ``eval``; the MLPerf log brackets them too."""
        with (self.meter.window(name) if self.meter is not None else contextlib.nullcontext()):
            trainer = self.trainer
            tracker = self.tracker if trainer is not None else None
            epoch = trainer.epoch + 1 if trainer is not None else 0
            if tracker is not None:
                tracker.epoch_start(epoch, trainer.step) if name == "train" else tracker.eval_start(epoch)
            profiling = self.layers is not None and name == "train"
            if profiling:
                self.layers.enter(epoch)
            try:
                yield
            finally:
                if profiling:
                    self.layers.leave()
            if tracker is not None:  # not reached when the window ends by an exception (a stop, a divergence)
                tracker.epoch_stop(epoch) if name == "train" else tracker.eval_stop(epoch)

    def count_flops(self, model, step):
        if not self.count_flops_enabled:
            step()
            return None
        return count_forward_flops(model, step)

    def checkpoint(self, trainer, which: str, state: Dict[str, Any]) -> None:
        save_checkpoint(checkpoint_path(self.run_dir, which), state)
        if which == "last":
            write_metrics(self.run_dir, state["history"])

    def epoch_end(self, trainer, metrics: Dict[str, Any]) -> None:
        if self.tracker is not None:
            self.tracker.log_epoch(metrics["epoch"], metrics)
        best = trainer.best
        self.log(f"epoch {metrics['epoch']}/{trainer.cfg.training.epochs}  loss {metrics['train_loss']:.4f}  "
                 f"train-adv-acc {metrics['train_robust_acc']:.1f}%  subset clean {metrics['clean_subset']:.1f}% "
                 f"pgd {metrics['pgd_subset']:.1f}% (best {best['pgd_subset']:.1f}% @{best['epoch']})  "
                 f"lr {metrics['lr']:.4g}  train {metrics['train_seconds']:.1f}s eval {metrics['eval_seconds']:.1f}s")
        target = trainer.target
        if target is not None and target.just_reached:
            flops = f"{target.train_flops:.3g} FLOPs" if target.train_flops is not None else "FLOPs not counted"
            joules = f"{target.device_j:.4g} J ({target.energy_source})" if target.device_j is not None else \
                "energy unmeasured"
            self.log(f"target {target.benchmark.target:g}% {target.benchmark.metric} of {target.benchmark.id} "
                     f"reached at epoch {target.epoch}: {target.seconds:.1f}s, {flops}, {joules}"
                     + ("; training stops here (training.stop_at_target)" if target.stop else ""))

    def point(self, name: str) -> None:
        if name == "step" and self.layers is not None:
            self.layers.step_done()
        self.kill(name)

    def _totals(self):
        """The run's energy totals so far, summed over nodes (collective on several nodes: every rank calls)."""
        if self.nodes is not None:
            return self.nodes.gather()
        return self.meter.totals() if self.meter is not None else None

    def energy(self):
        totals = self._totals()
        if totals is None:
            return None
        total = totals["windows"].get(TOTAL)
        return (total["energy_j"] if total is not None else 0.0), totals["source"]

    def epoch_energy(self, history) -> Dict[str, Any]:
        if self.nodes is not None and self.nodes.multi_node:
            totals = self.nodes.gather()  # every node's meter (collective: every rank ends the epoch here)
        elif self.meter is None:
            return {}
        else:
            totals = self.meter.totals()
        return epoch_energy(totals["windows"].get("train"), history)

    def stop_requested(self) -> int:
        return self.stop.signum

    def state(self) -> Dict[str, Any]:
        return {"energy": self._totals()}
