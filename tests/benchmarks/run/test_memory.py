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
