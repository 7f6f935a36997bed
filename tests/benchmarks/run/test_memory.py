"""The record's peak-memory group: this process's peak RSS (getrusage), the largest over resumed sessions."""
from __future__ import annotations

import resource

import numpy as np
import torch

from benchmarks.run.record import fill_memory
from results import TEMPLATE
import copy


def test_peak_memory_is_the_process_peak_and_the_largest_over_sessions():
    record = copy.deepcopy(TEMPLATE)
    block = np.ones(64 * 2**20 // 8)  # 64 MiB touched: the peak is at least this process's RSS now
    fill_memory(record, torch.device("cpu"))
    mem = record["memory"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert 64 <= mem["host_peak_rss_mb"] <= peak + 1e-9
    assert mem["device_peak_allocated_mb"] is None and mem["source"] == "getrusage"
    del block
    # an earlier session's larger peak stays; a smaller one is replaced
    record["memory"]["host_peak_rss_mb"] = 10 ** 9
    fill_memory(record, torch.device("cpu"))
    assert record["memory"]["host_peak_rss_mb"] == 10 ** 9
    record["memory"]["host_peak_rss_mb"] = 1.0
    fill_memory(record, torch.device("cpu"))
    assert record["memory"]["host_peak_rss_mb"] >= 64


def test_generated_images_carry_their_amortised_cost_once():
    """data.synthetic_cost per image x the images of data.synthetic, added to the run's own figures; filling
    twice (a resumed run's second session) leaves the same sums."""
    from types import SimpleNamespace

    from benchmarks.run.record import fill_pretraining
    from recipes import RunConfig

    cfg = RunConfig.from_dict({"data": {"name": "digits", "synthetic": "gen.npz", "synthetic_fraction": 0.5,
                                        "synthetic_cost": {"flops_per_image": 2.0e9, "kwh_per_image": 1.0e-6,
                                                           "source": "EDM sampling, measured"}},
                               "model": {"pretraining": {"flops": 1.0e15, "source": "paper"}}})
    images = torch.zeros(1000, 3, 32, 32)
    trainer = SimpleNamespace(cfg=cfg, init=None, batches=SimpleNamespace(synthetic=(images, torch.zeros(1000))))
    record = copy.deepcopy(TEMPLATE)
    record["flops"]["train_total"], record["energy"]["train_kwh"] = 3.0e15, 0.5
    for _ in range(2):
        fill_pretraining(record, trainer)
        pre = record["pretraining"]
        assert pre["synthetic_images"] == 1000 and pre["synthetic_flops"] == 2.0e12
        assert pre["train_flops_with"] == 3.0e15 + 1.0e15 + 2.0e12
        assert pre["train_kwh_with"] == 0.5 + 1000 * 1.0e-6
        assert pre["device_hours_with"] is None and pre["how"] == "declared"
        assert pre["synthetic_source"] == "EDM sampling, measured"
