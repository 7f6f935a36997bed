"""Cost of each training method relative to standard training (issue 13): ``methods_overhead``.

WRN-16-1 on a batch of 128 random 3x32x32 images, CPU, one intra-op thread. Every method's real
``Trainer.train_step`` (its attack, its loss, its optimizer step or replays) runs side by side with the others in
one process, interleaved round-robin in rotating order, each on its own trainer; the figure per method is the
median over rounds of its step's CPU time / ``standard``'s step CPU time in the same round. Next to it, the
FLOP ratio the suite reports for the same step: DeepSpeed's count of the executed forward FLOPs / standard's
(training FLOPs = 3 x forward for every pass, the reference study's convention). ``methods_overhead_tracking``
is the largest |time ratio / FLOP ratio - 1| over the methods (target <= 0.25): how well the FLOP accounting
predicts measured cost. Attack passes back-propagate to the input only (no weight gradients), so a method
dominated by attack steps costs somewhat less time than its FLOPs under the 3x convention say.
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
    from recipes.schema import RunConfig

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
            flops[name] = count_forward_flops(trainer.model, lambda: trainer.train_step(x, y))  # also warms up
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
    out, worst = {}, 0.0
    for name in names[1:]:
        time_ratio = statistics.median(ratios[name])
        flop_ratio = flops[name] / flops["standard"]
        out[f"methods_overhead_{name}"] = round(time_ratio, 3)
        out[f"methods_overhead_{name}_flops"] = round(flop_ratio, 3)
        worst = max(worst, abs(time_ratio / flop_ratio - 1))
    out["methods_overhead_tracking"] = round(worst, 3)
    return out
