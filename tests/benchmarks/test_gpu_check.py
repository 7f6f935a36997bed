"""`make gpu-check` (issue 14): its smoke mode runs end to end on the CPU and writes gpu-check.json; the device
peak table matches NVML names exactly (no A10 for an A100, no L4 for an L40S, unknown devices stay unknown)."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

from benchmarks.measurement.peaks import device_key, peak_flops

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name,key", [
    ("NVIDIA H200", "h200"), ("NVIDIA H200 NVL", "h200 nvl"), ("NVIDIA H100 80GB HBM3", "h100 80gb hbm3"),
    ("NVIDIA A100-SXM4-80GB", "a100-sxm4"), ("NVIDIA A10", "a10"), ("NVIDIA L4", "l4"), ("NVIDIA L40S", "l40s"),
    ("Tesla V100-SXM2-32GB", "v100-sxm2"), ("NVIDIA GeForce RTX 4090", None), ("", None),
])
def test_device_peaks_match_nvml_names(name, key):
    assert device_key(name) == key


def test_peak_flops_units_and_unknown_precisions():
    assert peak_flops("NVIDIA A100-SXM4-40GB", "bf16") == pytest.approx(312e12)
    assert peak_flops("Tesla V100-SXM2-16GB", "bf16") is None  # V100 has no bf16 tensor cores
    assert peak_flops("Some Future GPU", "fp32") is None


@pytest.mark.slow
def test_gpu_check_smoke_mode_writes_the_report(tmp_path):
    out = tmp_path / "gpu-check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--smoke", "--out", str(out)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "SMOKE MODE" in done.stderr and "SMOKE MODE" in done.stdout  # says so, on the table too
    report = json.loads(out.read_text())
    assert report["mode"] == "smoke" and report["device"] == "cpu"
    sections = report["sections"]
    assert {k: v["status"] for k, v in sections.items()} == {
        "training": "measured", "flops": "measured", "autoattack": "measured", "inference": "measured",
        "two_gpus": "skipped"}
    assert "needs two CUDA devices" in sections["two_gpus"]["reason"]
    rows = sections["training"]["rows"]
    assert [(r["precision"], r["channels_last"]) for r in rows] == [
        (p, c) for p in ("fp32", "bf16", "fp16") for c in (False, True)]
    assert all(r["images_per_s"] > 0 and r["mfu"] is None and "smoke" in r["mfu_note"] for r in rows)
    energy = sections["training"]["energy"]
    assert energy["source"]  # named, even when it is 'unavailable'
    # the host's CPU and DRAM beside the GPU's: measured where RAPL is readable, else null with the reason
    assert "host_j" in energy and (energy["host_j"] is not None or "host CPU and DRAM" in energy["note"])
    aa = sections["autoattack"]
    assert aa["identical_points"] and aa["suite_robust_accuracy"] == aa["direct_robust_accuracy"]
    assert aa["time_ratio"] > 0
    # DeepSpeed's count adds batch norm, activations and pooling to the conv/linear MACs: a few percent more
    assert 1.0 <= sections["flops"]["measured_over_analytic"] < 1.1
    inference = sections["inference"]["section"]
    assert [k for k in inference if k != "setup"] == ["fp32", "bf16", "fp16", "int8"]
    assert all(inference[k]["status"] == "measured" for k in ("fp32", "int8"))
    table = (tmp_path / "gpu-check.md").read_text()
    assert "images/s" in table and "MFU" in table and "SingleStream" in table and "host CPU" in table
    assert "two_gpus: skipped: needs two CUDA devices" in table


@pytest.mark.slow
def test_two_gpu_section_measures_ddp_scaling_and_energy_with_gloo_on_the_cpu():
    """The two-GPU section's code, run as it would on two GPUs but with gloo on the CPU (no GPU here): both
    throughputs, the scaling efficiency and the energy of the timed steps (estimate-free: the CPU meter of this
    host, or unavailable) are reported, and the table shows them."""
    from benchmarks.gpu_check import SMOKE
    from benchmarks.gpu_check_ddp import check_two_gpus, render_lines, skip_reason
    from dataclasses import asdict

    import torch

    assert skip_reason(torch.device("cpu")) == "needs two CUDA devices; this check runs on the CPU"
    plan = dict(asdict(SMOKE), warmup_steps=1, timed_steps=2, train_batch=4)
    section = check_two_gpus(plan, "cpu")
    one, two = section["one_gpu"], section["two_gpus"]
    assert (one["gpus"], two["gpus"]) == (1, 2) and two["global_batch"] == 2 * one["global_batch"] == 8
    assert one["images_per_s"] > 0 and two["images_per_s"] > 0
    assert section["scaling_efficiency"] == pytest.approx(two["images_per_s"] / (2 * one["images_per_s"]))
    assert two["energy_source"] and two["energy_seconds"] > 0
    table = "\n".join(render_lines({"status": "measured", **section}))
    assert "Scaling efficiency" in table and "| 2 |" in table
