"""Energy meter: window bookkeeping and the sampler against closed forms, sampler cost, Zeus on a GPU for real
(the zeus meter against fake counters: test_zeus.py)."""
from __future__ import annotations

import json
import time

import psutil
import pytest

from tests.benchmarks._fake_power import NAME, LinearPower, ManualClock, SinePower, install
from benchmarks.measurement import (ESTIMATE_TDP, TOTAL, UNAVAILABLE, EnergyBackend, EnergyMeter, EnergyUnavailable,
                                    PowerSampler, auto_order, get_energy_backend, list_energy_backends)
from benchmarks.measurement.backends import BackendUnavailable
from benchmarks.measurement.nvidia import parse_cuda_visible_devices, parse_power_line, physical_devices
from recipes import MeasurementConfig, catalog, section_fields


@pytest.fixture
def clock():
    return ManualClock()


@pytest.fixture
def fake(clock):
    """Register the fake backend: 2 devices, power 300 W + 10 W/s each."""
    backends = []

    def make(devices, cfg, clk):
        backends.append(LinearPower(clk, devices=2, base=300.0, slope=10.0))
        return backends[-1]

    remove = install(make)
    yield backends
    remove()


def test_builtin_backends_registered():
    assert {"zeus", "nvidia-smi", ESTIMATE_TDP, UNAVAILABLE} <= set(list_energy_backends())
    assert auto_order("gpu") == ("zeus", "nvidia-smi") and auto_order("cpu") == ("zeus",)


@pytest.mark.parametrize("name", catalog.names("meters"))
def test_every_catalog_meter_opens_or_says_why_not(name):
    """The catalog is the one registry of meters: each entry's public factory opens its backend here or raises
    BackendUnavailable with the reason (this host has no GPU meter)."""
    entry = catalog.get("meters", name)
    factory = get_energy_backend(name)
    assert factory is entry.load() and not factory.__name__.startswith("_")
    devices = [0] if "gpu" in entry.devices.split(",") else []
    try:
        backend = factory(devices, MeasurementConfig(), time.monotonic)
    except BackendUnavailable as err:
        assert str(err)
        return
    try:
        assert isinstance(backend, EnergyBackend) and backend.name == name
    finally:
        backend.close()


def test_a_meter_registered_in_process_is_an_energy_source(clock, fake):
    assert NAME in section_fields("measurement")["energy_source"]["choices"]  # a recipe may name it
    with EnergyMeter(MeasurementConfig(energy_source=NAME), [0], clock=clock) as meter:
        assert meter.source == NAME


def test_windows_nest_accumulate_and_integrate_exactly(clock, fake):
    """Windows against the closed-form integral of 2 x (300 + 10 t) W; total = union, not the sum."""
    cfg = MeasurementConfig(sample_hz=50.0)

    def joules(a, b):  # energy of the fake between meter-relative times a and b
        return 2 * (300.0 * (b - a) + 5.0 * (b * b - a * a))

    with EnergyMeter(cfg, source=NAME, clock=clock) as meter:
        assert meter.source == NAME
        with meter.window("train") as first:          # t 0..10
            clock.advance(10)
        clock.advance(5)                              # outside every window: counted nowhere
        with meter.window("eval") as ev:              # t 15..19
            clock.advance(1)
            with meter.window("attack") as att:       # t 16..18, nested
                clock.advance(2)
            clock.advance(1)
        with meter.window("train") as second:         # t 19..21
            clock.advance(2)
    w = meter.totals()["windows"]
    assert first.seconds == 10 and first.energy_j == pytest.approx(joules(0, 10))
    assert second.energy_j == pytest.approx(joules(19, 21))
    assert w["train"]["seconds"] == 12 and w["train"]["count"] == 2
    assert w["train"]["energy_j"] == pytest.approx(joules(0, 10) + joules(19, 21))
    assert att.energy_j == pytest.approx(joules(16, 18)) and w["attack"]["seconds"] == 2
    assert ev.energy_j == pytest.approx(joules(15, 19))
    assert w[TOTAL]["seconds"] == 16 and w[TOTAL]["count"] == 3   # train, eval (attack inside), train
    assert w[TOTAL]["energy_j"] == pytest.approx(joules(0, 10) + joules(15, 21))
    # The trapezoid rule is exact for linear power: the sampler's integral matches the counter per window.
    for name in ("train", "eval", "attack", TOTAL):
        assert w[name]["sampler_energy_j"] == pytest.approx(w[name]["energy_j"], rel=1e-12)
    assert w["train"]["mean_power_w"] == pytest.approx(w["train"]["energy_j"] / 12)
    json.dumps(meter.totals())


def test_totals_include_open_windows_and_restore_resumes(clock, fake):
    cfg = MeasurementConfig()
    with EnergyMeter(cfg, source=NAME, clock=clock) as meter:
        with meter.window("train"):
            clock.advance(4)
            saved = meter.totals()                   # checkpoint mid-window
        assert saved["windows"]["train"]["seconds"] == 4
        assert saved["windows"]["train"]["energy_j"] == pytest.approx(2 * 300 * 4 + 10 * 16)
        assert meter.windows["train"].seconds == 4   # and the open window carried on undisturbed
    # The job is requeued: the next attempt restores the totals and keeps accumulating.
    with EnergyMeter(cfg, source=NAME, restore=json.loads(json.dumps(saved)), clock=clock) as meter2:
        with meter2.window("train"):
            clock.advance(3)
    w = meter2.totals()["windows"]
    assert w["train"]["seconds"] == 7 and w["train"]["count"] == 2
    assert w["train"]["energy_j"] == pytest.approx(saved["windows"]["train"]["energy_j"] + 2 * (300 * 3 + 5 * 9))
    assert w[TOTAL]["seconds"] == 7


def test_restore_from_an_unmeasured_attempt_leaves_energy_unknown(clock, fake):
    previous = {"windows": {"train": {"seconds": 5.0, "energy_j": None, "sampler_energy_j": None, "count": 1,
                                      "source": UNAVAILABLE}}}
    with EnergyMeter(MeasurementConfig(), source=NAME, restore=previous, clock=clock) as meter:
        with meter.window("train"):
            clock.advance(1)
    train = meter.totals()["windows"]["train"]
    assert train["seconds"] == 6 and train["energy_j"] is None and train["mean_power_w"] is None
    assert train["source"] == f"{NAME}+{UNAVAILABLE}"


def test_window_rules(clock, fake):
    meter = EnergyMeter(MeasurementConfig(), source=NAME, clock=clock)
    with pytest.raises(RuntimeError, match="started meter"):
        with meter.window("train"):
            pass
    with meter:
        with pytest.raises(ValueError, match="reserved"):
            with meter.window(TOTAL):
                pass
        with pytest.raises(RuntimeError, match="already open"):
            with meter.window("eval"), meter.window("eval"):
                pass


def test_sampler_trapezoid_on_a_curved_power_in_real_time():
    """Real thread, real clock: the integral of a sine at 200 Hz is within 1 % of the closed form."""
    backend = SinePower(time.monotonic)
    sampler = PowerSampler(backend, hz=200.0, clock=time.monotonic).start()
    t0, e0, i0 = time.monotonic(), backend.energy_j(), sampler.sample()
    time.sleep(0.6)
    integral, e1 = sampler.sample(), backend.energy_j()
    sampler.stop()
    assert sampler.samples >= 0.25 * 200 * (time.monotonic() - t0)   # loose: a loaded CI box delays wake-ups
    assert integral - i0 == pytest.approx(e1 - e0, rel=0.01)


def _thread_cpu_seconds(native_id: int) -> float:
    for th in psutil.Process().threads():
        if th.id == native_id:
            return th.user_time + th.system_time
    raise AssertionError("sampler thread not found")


def test_sampler_costs_under_one_percent_of_a_core():
    """At the configured rate the background sampler uses < 1 % of one core (its thread's CPU time)."""
    cfg = MeasurementConfig()
    sampler = PowerSampler(LinearPower(time.monotonic), hz=cfg.sample_hz, clock=time.monotonic).start()
    while sampler.native_id is None:
        time.sleep(0.001)
    wall0 = time.monotonic()
    time.sleep(1.5)
    os_cpu = _thread_cpu_seconds(sampler.native_id)   # kernel's per-thread accounting (10 ms ticks)
    wall = time.monotonic() - wall0
    sampler.stop()
    assert sampler.samples >= 0.8 * cfg.sample_hz * wall
    assert sampler.cpu_seconds / wall < 0.01          # the thread's own CLOCK_THREAD_CPUTIME_ID
    assert os_cpu / wall < 0.01 + 0.0101              # within one scheduler tick of the same bound


def test_unavailable_measures_time_and_leaves_energy_unknown(clock):
    with EnergyMeter(MeasurementConfig(energy_source="none"), device_indices=[], clock=clock) as meter:
        with meter.window("train") as win:
            clock.advance(2)
    assert meter.source == UNAVAILABLE and meter.sampler is None
    assert win.seconds == 2 and win.energy_j is None and win.mean_power_w is None


def test_tdp_estimate_only_when_asked(clock):
    cfg = MeasurementConfig(energy_source="none", tdp_watts=250.0)
    with EnergyMeter(cfg, device_indices=[], clock=clock) as meter:
        with meter.window("train") as win:
            clock.advance(4)
    assert meter.source == ESTIMATE_TDP and win.energy_j == pytest.approx(250.0 * 4)
    with EnergyMeter(MeasurementConfig(energy_source="none", tdp_watts=250.0), device_indices=[0, 1],
                     clock=clock) as meter:
        with meter.window("train") as win:
            clock.advance(1)
    assert win.energy_j == pytest.approx(2 * 250.0)


def test_forced_backend_that_cannot_measure_is_an_error():
    with pytest.raises(EnergyUnavailable, match="energy_source is 'nvidia-smi'"):
        EnergyMeter(MeasurementConfig(energy_source="nvidia-smi"), device_indices=[99]).start()


def test_auto_on_a_cpu_run_names_what_it_tried():
    with EnergyMeter(MeasurementConfig(), device_indices=[]) as meter:
        pass
    if meter.source == UNAVAILABLE:
        assert "zeus" in meter.tried
    else:
        assert meter.source == "zeus"


# ---------------------------------------------------------------- NVIDIA

def test_cuda_visible_devices_parsing(monkeypatch):
    assert parse_cuda_visible_devices(None) is None
    assert parse_cuda_visible_devices("2,3") == ["2", "3"]
    assert parse_cuda_visible_devices("0,-1,1") == ["0"]
    assert parse_cuda_visible_devices("") == []
    assert parse_cuda_visible_devices("GPU-8a1b,1") == ["GPU-8a1b", "1"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert physical_devices([1], count=8) == ["7"]   # logical 1 is physical 7; the other GPUs are never read
    assert physical_devices(None, count=8) == ["5", "7"]
    with pytest.raises(BackendUnavailable):
        physical_devices([2], count=8)


def test_nvidia_smi_power_lines():
    assert parse_power_line("GPU-1234, 312.45\n") == ("GPU-1234", 312.45)
    assert parse_power_line("GPU-1234, [N/A]") is None


@pytest.mark.gpu
def test_zeus_on_a_gpu_for_real():
    import torch

    with EnergyMeter(MeasurementConfig(sample_hz=20.0), device_indices=[0]) as meter:
        assert meter.source == "zeus" and "gpu" in meter.totals()["readings"]
        with meter.window("train") as win:
            a = torch.randn(8192, 8192, device="cuda")
            end = time.monotonic() + 3
            while time.monotonic() < end:
                a = (a @ a).clamp_(-1, 1)
            torch.cuda.synchronize()
    assert win.kinds_j["gpu"] > 0 and 20 < win.kinds_j["gpu"] / win.seconds < 1500
