"""The devices section (the cost-aware study's Figures 3-6): hand-made records on two devices and two datasets,
collected and analysed by the real commands; the figure files are written and report.json's numbers equal the
group means computed here; one device and one dataset skip it with the reason."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import results
from robustperf import main

DEVICES = ("NVIDIA L4", "Tesla V100-SXM2-16GB")
DATASETS = ("cifar10", "mnist")


def _records(root, devices=DEVICES, datasets=DATASETS, seeds=3):
    rng = np.random.default_rng(1)
    made = []
    for i, (dev, data, seed) in enumerate((d, s, k) for d in devices for s in datasets for k in range(seeds)):
        run_id = f"{i:012x}"
        record = results.new_record(run_id, "n", {"seed": seed, "data": {"name": data}}, recipe="r")
        record.update(status=results.COMPLETED)
        values = {"clean": 90 - 20 * (data == "mnist") + rng.normal(), "autoattack": 40 + rng.normal(),
                  "train_seconds": (100 if dev == DEVICES[0] else 60) * (1 + 0.1 * rng.random()),
                  "power": (72 if dev == DEVICES[0] else 250) * (1 + 0.1 * rng.random()),
                  "usd": rng.random()}
        record["accuracy"].update(clean=values["clean"], autoattack=values["autoattack"])
        record["timing"]["train_seconds"] = values["train_seconds"]
        record["energy"]["mean_power_w"] = values["power"]
        record["cost"].update(cloud_usd_low=values["usd"], device_model=dev)
        record["hardware"].update(gpus=[dev], cpu="Some CPU", count=1)
        results.write_record(str(root), record)
        made.append(dict(values, device=dev, dataset=data))
    return pd.DataFrame(made)


def test_figures_and_group_means_from_records(tmp_path, capsys):
    truth = _records(tmp_path / "runs")
    table = tmp_path / "table.csv"
    assert main(["collect", str(tmp_path / "runs"), "-o", str(table)]) == 0
    out = tmp_path / "out"
    assert main(["analyze", str(table), "-o", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    part = report["devices"]
    assert part["devices"] == list(DEVICES) and part["datasets"] == list(DATASETS)
    means = truth.groupby(["device", "dataset"]).mean()
    sds = truth.groupby(["device", "dataset"]).std(ddof=1)
    for short, column in (("clean", "clean"), ("adversarial", "autoattack"), ("train_seconds", "train_seconds"),
                          ("power_w", "power"), ("cost_usd", "usd")):
        groups = part["groups"][short]["groups"]
        assert len(groups) == 4
        for g in groups:
            assert g["n"] == 3
            assert g["mean"] == pytest.approx(means.loc[(g["device"], g["dataset"]), column], rel=1e-9)
            assert g["sd"] == pytest.approx(sds.loc[(g["device"], g["dataset"]), column], rel=1e-9)
    for stem in ("device_accuracy", "device_train_time", "device_power", "device_cost"):
        for ext in ("png", "pdf"):
            path = out / f"{stem}.{ext}"
            assert path.exists() and path.stat().st_size > 1000
    assert "by device and dataset" in (out / "report.md").read_text()


def test_one_device_and_one_dataset_is_skipped_with_the_reason(tmp_path):
    from scaling.analysis import Options, run_analysis
    from scaling.mapping import Mapping

    _records(tmp_path / "runs", devices=DEVICES[:1], datasets=DATASETS[:1])
    assert main(["collect", str(tmp_path / "runs"), "-o", str(tmp_path / "t.csv")]) == 0
    report, _ = run_analysis(pd.read_csv(tmp_path / "t.csv"), Mapping(), Options(figures=False),
                             sections=["devices"])
    assert report["skipped_sections"]["devices"] == ("one device (NVIDIA L4) and one dataset (cifar10): nothing "
                                                     "to compare")


def test_two_datasets_on_one_device_are_drawn(tmp_path):
    from scaling.analysis import Options, run_analysis
    from scaling.mapping import Mapping
    _records(tmp_path / "runs", devices=DEVICES[1:])
    assert main(["collect", str(tmp_path / "runs"), "-o", str(tmp_path / "t.csv")]) == 0
    report, _ = run_analysis(pd.read_csv(tmp_path / "t.csv"), Mapping(), Options(figures=False),
                             sections=["devices"])
    assert report["devices"]["devices"] == [DEVICES[1]] and len(report["devices"]["groups"]["clean"]["groups"]) == 2
