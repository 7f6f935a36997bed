"""Time, energy and FLOPs to a benchmark's target, from the per-epoch check (the record's ``to_target`` group).

A run whose recipe names a benchmark (``benchmark.id``) measures its quality with the per-epoch check on held-out
training images (:mod:`.check`; the benchmark fixes its attack, steps and images). After each epoch's check,
:class:`TargetCheck` adds the epoch's own figures to its metrics (metrics.jsonl): ``train_flops`` (3 x the
forward FLOPs its steps executed, summed over ranks: ``flops.train_total``'s accounting) and ``device_j`` (the
device energy of its steps and check, before PUE), and the first epoch whose check reaches the target is kept:

* ``epoch`` (1-based) and the check's ``accuracy`` there;
* ``seconds``: the wall seconds of the steps and checks of epochs 1..epoch, summed over resumed sessions - every
  check counted, as MLPerf counts its evaluations; set-up, checkpoint writes and work lost to a killed session
  (redone from the last checkpoint) are not;
* ``train_flops`` and ``device_j``: up to the end of that epoch's check, equal to the sums of the per-epoch
  figures of epochs 1..epoch.

The weights of that epoch are saved once as ``checkpoint-target.pt``; with ``training.stop_at_target`` training
ends there (the learning-rate schedule stays the full run's). Everything lives in the trainer's checkpoint, so a
resumed run reports exactly what an uninterrupted one does. kWh, $ and CO2 are derived from ``device_j`` with
the run's pricing constants by :func:`results.pricing.derive_to_target`, the one place they are applied.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from recipes.benchmark import METRICS, get_benchmark
from results import ToTarget
from results.pricing import derive_to_target

from ..measurement.flops import TRAIN_FLOPS_PER_FORWARD_FLOP

__all__ = ["TargetCheck", "EPOCH_FIGURES"]

#: the per-epoch figures a benchmark run adds to its metrics (metrics.jsonl)
EPOCH_FIGURES = ("train_flops", "device_j")


def _sub(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a - b


class TargetCheck:
    """Watches a benchmark run's per-epoch checks for its target (see the module docstring).

    Args:
        benchmark: the run's :class:`recipes.benchmark.Benchmark`.
        division: the division it enters.
        stop: ``training.stop_at_target``.
    """

    def __init__(self, benchmark, division: str, stop: bool = False):
        self.benchmark, self.division, self.stop = benchmark, division, bool(stop)
        self.metric_key = METRICS[benchmark.metric]
        self.reached = False
        self.epoch: Optional[int] = None
        self.accuracy: Optional[float] = None
        self.seconds: Optional[float] = None
        self.train_flops: Optional[float] = None
        self.device_j: Optional[float] = None
        self.energy_source: Optional[str] = None
        #: cumulative figures at the end of the last epoch's check (the next epoch's figures start there)
        self.last: Dict[str, Optional[float]] = {"forward": 0, "device_j": 0.0}
        self.just_reached = False

    @classmethod
    def of(cls, cfg) -> Optional["TargetCheck"]:
        """The check of a run config (:class:`recipes.RunConfig`) that enters a benchmark, else None."""
        section = getattr(cfg, "benchmark", None)
        if section is None or section.id is None:
            return None
        return cls(get_benchmark(section.id), section.division, cfg.training.stop_at_target)

    @property
    def stop_now(self) -> bool:
        """Training ends here: the target is reached and the run stops at it."""
        return self.reached and self.stop

    def end_epoch(self, trainer, metrics: Dict[str, Any]) -> None:
        """After an epoch's check (every rank; the FLOPs sum is collective): add the epoch's figures to
        ``metrics`` and note the epoch when its check first reaches the target."""
        summed = trainer.flops.summed(trainer.dist, trainer.device)
        forward = summed["forward"]  # an integer count: exact at any size
        energy = trainer.hooks.energy()
        joules, source = (None, None) if energy is None else energy
        metrics["train_flops"] = _times(_sub(forward, self.last["forward"]), TRAIN_FLOPS_PER_FORWARD_FLOP)
        metrics["device_j"] = _sub(joules, self.last["device_j"])
        self.last = {"forward": forward, "device_j": joules}
        self.just_reached = False
        value = metrics[self.metric_key]
        if self.reached or value is None or value < self.benchmark.target:
            return
        self.reached, self.just_reached = True, True
        self.epoch, self.accuracy = metrics["epoch"], float(value)
        self.seconds = trainer.seconds["train"] + trainer.seconds["eval"]
        self.train_flops = _times(forward, TRAIN_FLOPS_PER_FORWARD_FLOP)
        self.device_j, self.energy_source = joules, source

    def weights(self, trainer, metrics: Dict[str, Any]) -> Dict[str, Any]:
        """What ``checkpoint-target.pt`` holds: the evaluated weights of the epoch that reached the target."""
        return {**trainer.best_state(), "epoch": self.epoch, "metrics": dict(metrics)}

    def group(self, measurement) -> Dict[str, Any]:
        """The record's ``to_target`` group, priced with the run's ``measurement`` constants (its
        ``confirmation`` left out: the confirmation fills it, after training)."""
        b = self.benchmark
        out = ToTarget(benchmark=b.id, division=self.division, target=b.target, metric=b.metric,
                       reached=self.reached).to_dict()
        if self.reached:
            out.update(epoch=self.epoch, accuracy=self.accuracy, seconds=self.seconds, train_flops=self.train_flops,
                       device_j=self.device_j, energy_source=self.energy_source,
                       **derive_to_target(self.device_j, measurement))
        out.pop("confirmation")
        return out

    def state_dict(self) -> Dict[str, Any]:
        return {"reached": self.reached, "epoch": self.epoch, "accuracy": self.accuracy, "seconds": self.seconds,
                "train_flops": self.train_flops, "device_j": self.device_j, "energy_source": self.energy_source,
                "last": dict(self.last)}

    def load_state_dict(self, state: Optional[Dict[str, Any]]) -> None:
        if not state:
            return
        for key in ("reached", "epoch", "accuracy", "seconds", "train_flops", "device_j", "energy_source"):
            setattr(self, key, state.get(key))
        self.reached = bool(self.reached)
        self.last = dict(state.get("last") or self.last)


def _times(value: Optional[float], factor: float) -> Optional[float]:
    return None if value is None else value * factor
