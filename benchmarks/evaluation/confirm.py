"""The confirmation of a benchmark run's target checkpoint on the test set (``to_target.confirmation``).

The per-epoch check that found the target ran a cheap attack on held-out training images; the weights of that
epoch (``checkpoint-target.pt``) are then attacked with the benchmark's own evaluation - AutoAttack (Croce & Hein,
ICML 2020, https://arxiv.org/abs/2003.01690), the version or attacks the definition names, on its first ``n``
test points, the run's eps, norm and seed - through the suite's resumable adapter (its state in
``evaluation/target/autoattack-state.json``: a run killed here continues where it was). The target is confirmed
when the robust accuracy is at least the target less the benchmark's tolerance; a result whose confirmation fails
is not ranked (the rules of ``robustperf check``).

The confirmation's time is reported; its energy is not metered into the run's (it is neither training nor the
run's own evaluation).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, Optional

from recipes.benchmark import Benchmark

from .. import load_model
from ..attacks import eval_mode
from ..autoattack import SAVE_EVERY_S, run_autoattack
from ..datasets.base import eval_set
from .evaluate import AUTOATTACK_STATE_FILE, evaluation_dir

__all__ = ["CONFIRMATION_CHECKPOINT", "confirm_target"]

logger = logging.getLogger("robustperf.evaluation")

#: the checkpoint the confirmation evaluates (``checkpoint-target.pt``)
CONFIRMATION_CHECKPOINT = "target"


def confirm_target(run_dir: str, run_config, benchmark: Benchmark, *, epoch: int, device: str = "cpu",
                   log: Optional[Callable[[str], None]] = None, save_every_s: float = SAVE_EVERY_S
                   ) -> Dict[str, Any]:
    """Evaluate ``run_dir/checkpoint-target.pt`` with ``benchmark``'s confirmation; the record's
    ``to_target.confirmation``.

    Args:
        run_dir: the run's folder.
        run_config: the run's :class:`recipes.RunConfig` (eps, norm, seed, evaluation batch size).
        benchmark: the run's benchmark.
        epoch: the epoch the target checkpoint comes from.
        device: where to attack.
        log: one line per result, for the run's log.

    Returns:
        ``{attack, n, robust_accuracy, clean_accuracy (percent), robust_ci (95 % Wilson, percent), confirmed,
        target, tolerance, checkpoint, epoch, seconds, warnings}``.

    Raises:
        benchmarks.interruption.EvaluationInterrupted: SIGTERM / SIGUSR1 (its state is saved; a rerun continues).
    """
    say = log or logger.info
    rule = benchmark.confirmation
    model = load_model(run_dir, CONFIRMATION_CHECKPOINT, device)
    data = eval_set(run_config.data, "test")
    n = min(rule.n, data.n)
    version = rule.autoattack if isinstance(rule.autoattack, str) else list(rule.autoattack)
    state_path = os.path.join(evaluation_dir(run_dir, CONFIRMATION_CHECKPOINT), AUTOATTACK_STATE_FILE)
    os.makedirs(os.path.dirname(state_path), exist_ok=True)
    with eval_mode(model):
        aa = run_autoattack(model, data.head(n), eps=run_config.attack.eps, norm=run_config.attack.norm,
                            version=version, seed=run_config.seed, batch_size=run_config.evaluation.batch_size,
                            state_path=state_path, save_every_s=save_every_s)
    robust, clean = 100.0 * aa.robust_accuracy, 100.0 * aa.clean_accuracy
    threshold = benchmark.target - rule.tolerance
    warnings = list(aa.warnings)
    if n < rule.n:
        warnings.append(f"the benchmark confirms on {rule.n} test points but the test set has {data.n}")
    name = aa.version if aa.version != "custom" else "+".join(aa.attacks)  # autoattack-standard, autoattack-apgd-ce
    out = {"attack": f"autoattack-{name}", "n": aa.n, "robust_accuracy": robust, "clean_accuracy": clean,
           "robust_ci": [100.0 * aa.ci[0], 100.0 * aa.ci[1]], "confirmed": robust >= threshold,
           "target": benchmark.target, "tolerance": rule.tolerance, "checkpoint": CONFIRMATION_CHECKPOINT,
           "epoch": epoch, "seconds": aa.seconds, "warnings": warnings}
    say(f"target confirmation ({benchmark.id}, epoch {epoch}): AutoAttack {name} {robust:.2f}% robust, "
        f"{clean:.2f}% clean on {aa.n} test points: "
        + ("confirmed" if out["confirmed"] else "NOT confirmed")
        + f" (needs >= {threshold:g}% = target {benchmark.target:g}% - tolerance {rule.tolerance:g})")
    return out
