"""Per-epoch energy from the meter's cumulative train window: kind by kind, across a resumed session, the epochs
add up to the run's training energy (the fast twin of tests/benchmarks/run/test_epoch_energy.py)."""
from __future__ import annotations

import pytest

from tests.benchmarks._fake_power import ManualClock
from tests.benchmarks.measurement._fake_zeus import FakeGPU, Powercap, install, reset
from benchmarks.measurement import EnergyMeter, summarize
from benchmarks.measurement.epochs import EPOCH_KEYS, epoch_energy, epoch_series
from recipes import MeasurementConfig


def test_epochs_add_up_to_the_training_energy_across_a_resume(tmp_path, monkeypatch):
    clock, cap, gpu = ManualClock(), Powercap(str(tmp_path / "powercap")), FakeGPU("NVIDIA A100-SXM4-40GB")
    history = []

    def epoch(meter, gpu_j, cpu_j, seconds, finish=True):
        with meter.window("train"):
            gpu.mj += round(gpu_j * 1000)
            cap.add("package-0", cpu_j)
            cap.add("dram-0", cpu_j / 10)
            clock.advance(seconds)
        with meter.window("eval"):  # the epoch's check: not training energy
            gpu.mj += 50_000
            clock.advance(1.0)
        if finish:
            history.append({"epoch": len(history) + 1, **epoch_energy(meter.totals()["windows"]["train"], history)})

    install(monkeypatch, cap, [gpu])
    with EnergyMeter(MeasurementConfig(), device_indices=[0], clock=clock) as meter:
        epoch(meter, 300.0, 30.0, 10.0)
        with meter.window("train"):  # epoch 2, first part, then a checkpoint and a kill
            gpu.mj += 100_000
            clock.advance(4.0)
        saved = meter.totals()
    install(monkeypatch, cap, [gpu])
    with EnergyMeter(MeasurementConfig(), device_indices=[0], restore=saved, clock=clock) as meter:
        epoch(meter, 200.0, 20.0, 6.0)   # the rest of epoch 2
        epoch(meter, 600.0, 60.0, 20.0)
        totals = meter.totals()
    reset()
    assert [set(EPOCH_KEYS) <= set(h) for h in history] == [True] * 3
    assert [h["train_gpu_j"] for h in history] == pytest.approx([300.0, 300.0, 600.0])
    assert [h["train_energy_seconds"] for h in history] == pytest.approx([10.0, 10.0, 20.0])
    assert history[0]["train_power_w"] == pytest.approx((300.0 + 30.0 + 3.0) / 10.0)
    train = summarize(totals, MeasurementConfig(), "NVIDIA A100-SXM4-40GB", 1)["energy"]["train_j"]
    assert sum(h["train_energy_j"] for h in history) == pytest.approx(train, rel=0.01)
    series = epoch_series(history)
    assert [row[0] for row in series] == [1, 2, 3] and series[2][2:] == pytest.approx([600.0, 60.0, 6.0])


def test_an_unmetered_run_has_seconds_but_no_energy():
    row = epoch_energy({"seconds": 5.0, "energy_j": None, "kinds_j": None}, [])
    assert row["train_energy_seconds"] == 5.0 and row["train_energy_j"] is None and row["train_power_w"] is None
    assert epoch_energy(None, []) == {key: None for key in EPOCH_KEYS}
