"""Cost of each training method relative to standard training (issue 13): ``methods_overhead``.

WRN-16-1 on a batch of 128 random 3x32x32 images, CPU, one intra-op thread. Every method's real
``Trainer.train_step`` (its attack, its loss, its optimizer step or replays) runs side by side with the others in
one process, interleaved round-robin in rotating order, each on its own trainer; the figure per method is the
median over rounds of its step's CPU time / ``standard``'s step CPU time in the same round. Next to it, the
FLOP ratios the suite reports for the same step, from DeepSpeed's count of its executed forward FLOPs:
``_flops`` the executed training FLOPs (``flops.train_executed``: each pass's forward plus its backward, 2x the
forward with weight gradients, 1x for attack steps, which back-propagate to the input only) / standard's, and
``_flops_3x`` the reference convention (``flops.train_total``: 3 x forward for every pass). ``methods_overhead_
tracking`` is the largest |time ratio / executed FLOP ratio - 1| over the methods (target <= 0.25): how well the
FLOP accounting predicts measured cost. ``methods_overhead_tracking_3x`` is the same against the convention,
which over-counts attack-dominated methods (about 0.3 for PGD-10 on this CPU).
Set ``BENCH_METHODS_ROUNDS`` for more rounds (default 5).
"""
from __future__ import annotations

import os
import statistics
import tempfile

from tests.bench.bench_harness import _random_cifar, _timed, one_thread

ROUNDS = int(os.environ.get("BENCH_METHODS_ROUNDS", "5"))
#: (figure name, training keys, attack steps)
METHODS = [
    ("standard", {"loss": "standard"}, 10),
    ("fgsm_rs", {"loss": "fgsm_rs"}, 10),
    ("free_m4", {"loss": "free"}, 4),
    ("at_pgd2", {"loss": "at"}, 2),
    ("at_pgd10", {"loss": "at"}, 10),
    ("trades_pgd10", {"loss": "trades"}, 10),
    ("mart_pgd10", {"loss": "mart"}, 10),
    ("at_pgd10_awp", {"loss": "at", "awp_gamma": 0.01}, 10),
]


def run() -> dict:
    return one_thread(_run)


def _run() -> dict:
    from benchmarks.measurement import count_forward_flops
    from benchmarks.training import DistInfo, Trainer
    from recipes import RunConfig

    with tempfile.TemporaryDirectory() as tmp:
        _random_cifar(tmp)
        trainers, batches, flops = {}, {}, {}
        for name, training, steps in METHODS:
            cfg = RunConfig.from_dict({
                "seed": 0, "data": {"name": "cifar10", "root": tmp, "batch_size": 128},
                "model": {"arch": "wrn", "depth": 16, "width": 1},
                "training": {"epochs": 1, "warmup_epochs": 0, "scheduler": "none", "select_on": "test", **training},
                "attack": {"eps": "8/255", "steps": steps}})
            trainer = trainers[name] = Trainer(cfg, DistInfo(), progress=False)
            x, y = batches[name] = trainer.batches.batch(0, 0)
            forward = count_forward_flops(trainer.model, lambda: trainer.train_step(x, y))  # also warms up
            flops[name] = (forward * trainer.method.executed_factor(), 3 * forward)
        names = [m[0] for m in METHODS]
        ratios = {name: [] for name in names}
        for r in range(ROUNDS):
            order = names[r % len(names):] + names[:r % len(names)]
            cpu = {}
            for name in order:
                x, y = batches[name]
                cpu[name], _ = _timed(lambda: trainers[name].train_step(x, y))
            for name in names:
                ratios[name].append(cpu[name] / cpu["standard"])
    out, worst, worst_3x = {}, 0.0, 0.0
    for name in names[1:]:
        time_ratio = statistics.median(ratios[name])
        executed, convention = (flops[name][i] / flops["standard"][i] for i in (0, 1))
        out[f"methods_overhead_{name}"] = round(time_ratio, 3)
        out[f"methods_overhead_{name}_flops"] = round(executed, 3)
        out[f"methods_overhead_{name}_flops_3x"] = round(convention, 3)
        worst = max(worst, abs(time_ratio / executed - 1))
        worst_3x = max(worst_3x, abs(time_ratio / convention - 1))
    out["methods_overhead_tracking"] = round(worst, 3)
    out["methods_overhead_tracking_3x"] = round(worst_3x, 3)
    return out
