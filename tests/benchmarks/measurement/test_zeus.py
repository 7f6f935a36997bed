"""The ``zeus`` meter with the counters Zeus reads replaced at Zeus's own boundary (tests/.../_fake_zeus.py): a
powercap tree on disk read by Zeus's RAPL code, and a GPU object handed out by Zeus's device getter. Windows, the
split by device kind, resumed sessions, the fallback order and the per-rank merge are the suite's own code, run
as they are."""
from __future__ import annotations

import os
import time

import pytest

from tests.benchmarks._fake_power import ManualClock
from tests.benchmarks.measurement._fake_zeus import FakeGPU, Powercap, install, reset
from benchmarks.measurement import TOTAL, EnergyMeter, auto_order, merge_totals, summarize
from recipes import MeasurementConfig


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def cap(tmp_path, monkeypatch):
    powercap = Powercap(str(tmp_path / "powercap"))
    yield powercap
    reset()


def test_auto_tries_zeus_first_on_gpu_and_cpu_runs():
    assert auto_order("gpu")[0] == "zeus" and auto_order("cpu") == ("zeus",)


def test_cpu_run_meters_packages_and_dram_per_kind_in_nested_windows(cap, monkeypatch, clock):
    install(monkeypatch, cap)
    with EnergyMeter(MeasurementConfig(), device_indices=[], clock=clock) as meter:
        assert meter.source == "zeus"
        with meter.window("eval") as ev:
            cap.add("package-0", 10.0)
            cap.add("package-1", 5.0)
            cap.add("dram-0", 2.0)
            cap.add("core-0", 7.0)   # a part of package 0: never counted twice
            clock.advance(2.0)
            with meter.window("attack") as att:
                cap.add("package-1", 4.0)
                cap.add("dram-1", 1.0)
                clock.advance(1.0)
        cap.add("package-0", 100.0)  # between windows: outside the total
        with meter.window("eval"):
            cap.add("package-0", 3.0)
            clock.advance(1.0)
        totals = meter.totals()
    assert att.kinds_j == pytest.approx({"cpu": 4.0, "dram": 1.0}) and att.energy_j == pytest.approx(5.0)
    assert ev.kinds_j == pytest.approx({"cpu": 19.0, "dram": 3.0}) and ev.seconds == 3.0
    win = totals["windows"]
    assert win["eval"]["kinds_j"] == pytest.approx({"cpu": 22.0, "dram": 3.0}) and win["eval"]["count"] == 2
    assert win[TOTAL]["energy_j"] == pytest.approx(25.0) and win[TOTAL]["seconds"] == 4.0
    assert totals["measured"] == {"cpu": ["package-0", "package-1"], "dram": ["package-0/dram", "package-1/dram"]}
    assert totals["readings"]["cpu"].startswith("zeus 0.16") and "rapl" in totals["readings"]["cpu"]
    assert cap.dir in totals["readings"]["cpu"] and totals["readings"]["dram"] == totals["readings"]["cpu"]


def test_a_psys_zone_is_never_added_to_the_packages(tmp_path, monkeypatch, clock):
    cap = Powercap(str(tmp_path / "powercap"), packages=1, psys=True)
    install(monkeypatch, cap)
    with EnergyMeter(MeasurementConfig(), device_indices=[], clock=clock) as meter:
        with meter.window("train") as win:
            cap.add("package-0", 10.0)
            cap.add("psys", 25.0)  # the platform: the package's 10 J and more
            clock.advance(1.0)
    reset()
    assert win.kinds_j == pytest.approx({"cpu": 10.0, "dram": 0.0}) and meter.backend.devices == 1
    assert meter.totals()["measured"]["cpu"] == ["package-0"]


def test_gpu_run_meters_the_host_beside_the_gpus_and_pue_applies_to_the_sum(cap, monkeypatch, clock):
    gpus = [FakeGPU("NVIDIA H100 80GB HBM3"), FakeGPU("NVIDIA H100 80GB HBM3"), FakeGPU("other, not ours")]
    install(monkeypatch, cap, gpus)
    with EnergyMeter(MeasurementConfig(pue=1.5), device_indices=[0, 1], clock=clock) as meter:
        with meter.window("train"):
            gpus[0].mj += 300_000
            gpus[1].mj += 200_000
            gpus[2].mj += 999_000       # not a GPU of this run
            cap.add("package-0", 40.0)
            cap.add("dram-0", 10.0)
            clock.advance(10.0)
        totals = meter.totals()
    train = totals["windows"]["train"]
    assert train["kinds_j"] == pytest.approx({"gpu": 500.0, "cpu": 40.0, "dram": 10.0})
    assert train["energy_j"] == pytest.approx(550.0) and totals["devices"] == 2
    assert totals["measured"]["gpu"] == ["0: NVIDIA H100 80GB HBM3", "1: NVIDIA H100 80GB HBM3"]
    assert totals["readings"]["gpu"].startswith("zeus 0.16") and "total-energy counter" in totals["readings"]["gpu"]
    energy = summarize(totals, MeasurementConfig(pue=1.5), "NVIDIA H100 80GB HBM3", 2)["energy"]
    assert energy["includes"] == ["gpu", "cpu", "dram"]
    assert (energy["gpu_j"], energy["cpu_j"], energy["dram_j"]) == pytest.approx((500.0, 40.0, 10.0))
    assert energy["kwh"] == pytest.approx(550.0 * 1.5 / 3.6e6) and energy["device_j"] == pytest.approx(550.0)
    assert energy["measured"]["cpu"] == ["package-0", "package-1"] and energy["readings"]["gpu"]
    assert energy["missing"] is None


def test_a_gpu_run_without_readable_rapl_says_what_the_kwh_leaves_out(monkeypatch, clock):
    gpu = FakeGPU("NVIDIA H100 80GB HBM3")
    install(monkeypatch, None, [gpu])
    with EnergyMeter(MeasurementConfig(), device_indices=[0], clock=clock) as meter:
        with meter.window("train"):
            gpu.mj += 100_000
            clock.advance(1.0)
        totals = meter.totals()
    energy = summarize(totals, MeasurementConfig(), "NVIDIA H100 80GB HBM3", 1)["energy"]
    assert meter.source == "zeus" and energy["includes"] == ["gpu"] and energy["gpu_j"] == pytest.approx(100.0)
    assert energy["cpu_j"] is None and "RAPL" in energy["missing"]["cpu"]


def test_gpus_without_an_energy_counter_are_integrated_from_zeus_power(cap, monkeypatch, clock):
    install(monkeypatch, cap, [FakeGPU("Tesla P100", counter=False, power_w=150.0)])
    with EnergyMeter(MeasurementConfig(sample_hz=200.0), device_indices=[0], clock=clock) as meter:
        with meter.window("train") as win:
            clock.advance(2.0)
            cap.add("package-1", 8.0)
    assert meter.sampler is not None
    assert win.kinds_j == pytest.approx({"gpu": 300.0, "cpu": 8.0, "dram": 0.0})
    assert "integrated" in meter.totals()["readings"]["gpu"]


def test_a_resumed_run_adds_its_sessions_per_kind(cap, monkeypatch, clock):
    install(monkeypatch, cap)
    with EnergyMeter(MeasurementConfig(), device_indices=[], clock=clock) as meter:
        with meter.window("train"):
            cap.add("package-0", 6.0)
            cap.add("dram-0", 1.0)
            clock.advance(3.0)
            saved = meter.totals()  # a checkpoint mid-window, as the run saves it
            cap.add("package-0", 50.0)  # after the checkpoint: lost with the killed session, as before
    install(monkeypatch, cap)  # a new process: Zeus opens afresh
    with EnergyMeter(MeasurementConfig(), device_indices=[], restore=saved, clock=clock) as meter:
        with meter.window("train"):
            cap.add("package-1", 4.0)
            cap.add("dram-1", 2.0)
            clock.advance(2.0)
        totals = meter.totals()
    for name in ("train", TOTAL):
        w = totals["windows"][name]
        assert w["kinds_j"] == pytest.approx({"cpu": 10.0, "dram": 3.0}), name
        assert w["energy_j"] == pytest.approx(13.0) and w["seconds"] == 5.0 and w["count"] == 2


def test_fallback_order_zeus_then_tdp_estimate_then_unavailable(tmp_path, monkeypatch, clock):
    install(monkeypatch, None)  # no RAPL tree, no GPU library: Zeus finds nothing
    with EnergyMeter(MeasurementConfig(tdp_watts=100.0), device_indices=[], clock=clock) as meter:
        with meter.window("train") as win:
            clock.advance(2.0)
    assert meter.source == "estimate-tdp" and "zeus" in meter.tried and win.kinds_j == {"cpu": 200.0}
    with EnergyMeter(MeasurementConfig(), device_indices=[0], clock=clock) as meter:
        with meter.window("train") as win:
            clock.advance(1.0)
    assert meter.source == "unavailable" and "GPU" in meter.tried["zeus"] and win.energy_j is None
    assert win.kinds_j is None
    cap = Powercap(str(tmp_path / "powercap"))
    install(monkeypatch, cap)  # the counters appear: zeus wins over the estimate
    with EnergyMeter(MeasurementConfig(tdp_watts=100.0), device_indices=[], clock=clock) as meter:
        assert meter.source == "zeus"
    reset()


def test_merge_totals_sums_every_per_kind_field_over_nodes():
    def node(gpu, cpu, dram, name):
        win = {"seconds": 10.0, "energy_j": gpu + cpu + dram, "sampler_energy_j": None, "count": 1,
               "source": "zeus", "kinds_j": {"gpu": gpu, "cpu": cpu, "dram": dram}}
        return {"source": "zeus", "devices": 2, "measured": {"gpu": [f"{name}:0", f"{name}:1"], "cpu": [name]},
                "readings": {"gpu": "zeus 0.16.0: nvml total-energy counter", "cpu": "zeus 0.16.0: rapl"},
                "windows": {"train": dict(win), TOTAL: dict(win)}}

    merged = merge_totals([node(500.0, 40.0, 10.0, "a"), node(300.0, 20.0, 5.0, "b")])
    for name in ("train", TOTAL):
        assert merged["windows"][name]["kinds_j"] == pytest.approx({"gpu": 800.0, "cpu": 60.0, "dram": 15.0})
        assert merged["windows"][name]["energy_j"] == pytest.approx(875.0)
    assert merged["measured"] == {"gpu": ["a:0", "a:1", "b:0", "b:1"], "cpu": ["a", "b"]}
    assert merged["readings"]["cpu"] == "zeus 0.16.0: rapl" and merged["devices"] == 4
    old = node(1.0, 1.0, 1.0, "c")
    del old["windows"]["train"]["kinds_j"]  # saved before the split existed: the sum's split is unknown
    assert merge_totals([node(1.0, 1.0, 1.0, "d"), old])["windows"]["train"]["kinds_j"] is None


_RAPL = "/sys/class/powercap/intel-rapl"


def _real_rapl_readable() -> bool:
    try:
        with open(os.path.join(_RAPL, "intel-rapl:0", "energy_uj")) as fh:
            fh.read()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _real_rapl_readable(), reason=f"no readable RAPL package zone under {_RAPL} (absent in "
                                                       "this VM, or energy_uj root-only)")
def test_zeus_reads_the_real_rapl_counters():
    reset()
    with EnergyMeter(MeasurementConfig(energy_source="zeus"), device_indices=[]) as meter:
        with meter.window("train") as win:
            end = time.monotonic() + 0.5
            while time.monotonic() < end:
                sum(i * i for i in range(1000))
    assert meter.source == "zeus" and win.kinds_j["cpu"] > 0 and 0.1 < win.mean_power_w < 2000
    reset()


def test_gpu_check_reports_the_host_beside_the_gpu(cap, monkeypatch, clock):
    """``make gpu-check``'s energy figures (benchmarks/gpu_check.py): the GPU's counter and sampler, and the host's
    CPU packages and DRAM over the same window."""
    from benchmarks.gpu_check import render
    from benchmarks.measurement import host_and_gpu_energy

    gpu = FakeGPU("NVIDIA H100 80GB HBM3", power_w=400.0)
    install(monkeypatch, cap, [gpu])
    with EnergyMeter(MeasurementConfig(sample_hz=200.0), device_indices=[0], clock=clock) as meter:
        with meter.window("train") as window:
            clock.advance(5.0)
            gpu.mj += 2_000_000   # 400 W x 5 s
            cap.add("package-0", 300.0)
            cap.add("dram-0", 50.0)
        energy = host_and_gpu_energy(window, meter)
    assert energy["gpu_j"] == pytest.approx(2000.0) and energy["counter_over_sampler"] == pytest.approx(1.0)
    assert (energy["host_cpu_j"], energy["host_dram_j"], energy["host_j"]) == pytest.approx((300.0, 50.0, 350.0))
    assert energy["host_w"] == pytest.approx(70.0) and energy["gpu_w"] == pytest.approx(400.0)
    assert energy["includes"] == ["gpu", "cpu", "dram"] and "note" not in energy
    row = {"precision": "fp32", "channels_last": False, "status": "unsupported", "reason": "not run here"}
    train = {"status": "measured", "rows": [row], "energy": energy, "model": "WRN-28-10", "batch": 1, "input": [3, 32, 32],
             "pgd_steps": 10}
    table = render({"mode": "gpu", "device_name": "H100", "sections": {"training": train}, "smoke_reason": None,
                    "torch": "2", "cuda": "12", "seconds": 1.0})
    assert "host CPU 300.0 J + DRAM 50.0 J = 350.0 J" in table


def test_gpu_check_without_rapl_says_why_the_host_is_missing(monkeypatch, clock):
    from benchmarks.measurement import host_and_gpu_energy

    install(monkeypatch, None)
    with EnergyMeter(MeasurementConfig(), device_indices=[], clock=clock) as meter:
        with meter.window("train") as window:
            clock.advance(1.0)
    energy = host_and_gpu_energy(window, meter)
    assert energy["host_j"] is None and "host CPU and DRAM not metered" in energy["note"] and "RAPL" in energy["note"]
