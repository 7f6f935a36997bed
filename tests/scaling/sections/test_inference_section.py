"""The inference analysis section (issue 14): latency / energy per image against robust accuracy per precision,
from records carrying `robustperf infer`'s evaluation.inference section; skipped with a reason without one."""
from __future__ import annotations

import json

import numpy as np
import pytest

import robustperf
from results import COMPLETED, new_record, write_record
from scaling.table import collect, inference_column, inference_precisions


def _inference(rng, robust: float):
    def entry(latency, energy, rob, method, drop):
        return {"status": "measured", "backend": "test",
                "SingleStream": {"latency_ms_p50": latency, "latency_ms_p99": 1.5 * latency,
                                 "energy_j_per_image": None},
                "Offline": {"images_per_s": 1e3 / latency, "batch_size": 256, "energy_j_per_image": energy},
                "accuracy": {"clean": 90.0, "robust": rob, "robust_method": method, "robust_drop_vs_fp32": drop}}

    fp32 = entry(float(rng.uniform(2, 4)), float(rng.uniform(0.5, 1)), robust, "autoattack (standard: apgd-ce)", 0.0)
    int8 = entry(float(rng.uniform(1, 2)), None, robust - 1.0, "transfer of the fp32 model's AutoAttack examples",
                 1.0)
    return {"setup": {"device": "cpu", "command": "robustperf infer"}, "fp32": fp32, "int8": int8,
            "fp16": {"status": "unsupported", "reason": "no fp16 here"}}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    rng = np.random.default_rng(0)
    for i in range(12):
        rec = new_record(f"run{i:02d}", f"r{i}", {"seed": i, "model": {"width": 1 + i % 3}})
        flops = 1e15 * (1 + i)
        acc = 40 * (flops / 1e15) ** 0.03 + rng.normal(0, 0.3)
        rec.update({"status": COMPLETED})
        rec["flops"]["train_total"] = flops
        rec["accuracy"]["autoattack"] = acc
        if i < 9:  # three runs were never benchmarked
            rec["evaluation"]["inference"] = _inference(rng, acc)
        write_record(str(root), rec)
    return root


def test_table_has_inference_columns_per_precision(results):
    table, _ = collect(str(results))
    assert inference_precisions(table) == ["fp32", "int8"]  # an unsupported precision has no latency column
    assert inference_column("int8", "latency_ms_p50") == "evaluation.inference.int8.SingleStream.latency_ms_p50"
    assert table[inference_column("fp32", "images_per_s")].notna().sum() == 9


def test_analyze_reports_latency_and_energy_against_robust_accuracy(results, tmp_path):
    assert robustperf.main(["analyze", str(results), "-o", str(tmp_path), "--bootstrap", "20"]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    part = report["inference"]
    table, _ = collect(str(results))
    fp32 = part["precisions"]["fp32"]
    assert fp32["runs"] == 9 and part["points"] == 18
    assert fp32["latency_ms_p50_median"] == pytest.approx(
        table[inference_column("fp32", "latency_ms_p50")].dropna().median())
    assert fp32["energy_j_per_image_median"] == pytest.approx(
        table[inference_column("fp32", "energy_j_per_image")].dropna().median())
    assert part["precisions"]["int8"]["robust_method"] == "transfer"
    assert part["precisions"]["int8"]["energy_j_per_image_median"] is None  # nothing measured: null, not 0
    assert (tmp_path / "inference_latency.png").exists() and (tmp_path / "inference_energy.pdf").exists()
    md = (tmp_path / "report.md").read_text()
    assert "## Inference cost against robust accuracy" in md and "transfer" in md


def test_section_skipped_with_a_reason_without_inference(tmp_path):
    root = tmp_path / "results"
    for i in range(6):
        rec = new_record(f"run{i}", f"r{i}", {"seed": i})
        rec.update({"status": COMPLETED})
        rec["flops"]["train_total"] = 1e15 * (1 + i)
        rec["accuracy"]["autoattack"] = 40.0 + i
        write_record(str(root), rec)
    assert robustperf.main(["analyze", str(root), "-o", str(tmp_path / "out"), "--no-figures",
                            "--bootstrap", "20"]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert "robustperf infer" in report["inference"]["skipped"]
