"""The survival analysis's duration on a results folder written to disk: FLOPs to failure by default (the seconds
of a shared machine measure its load), seconds on request or for old tables (saying so), and TRASH's energy
labelled with each record's own energy.source."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import results
from results.keys import SURVIVAL_TABLE
from scaling.analysis import Options, analyze
from scaling.mapping import Mapping
from scaling.survival import ATTACK_FLOPS, SurvivalMapping, energy_provenance, fit_survival
from scaling.table import load_table

RUNS = 12
POINTS = 80
STEPS = 20
FORWARD_FLOPS = 2.0e6  # the model's forward FLOPs per sample, the same model in every run


def _points(rng, run: int, old: bool) -> pd.DataFrame:
    """PGD-20 on one model: the iterate that breaks a point does not depend on the run, but the machine's load
    does (46x slower per pass in the last run than in the first, as the issue measured on a shared machine)."""
    first = np.floor(8.0 * (-np.log(rng.uniform(size=POINTS))) ** (1 / 1.5)).astype(int)
    event = first < STEPS
    iterate = np.where(event, first, STEPS)
    forwards, backwards = iterate + 1.0, iterate.astype(float)
    load = 46.0 ** (run / (RUNS - 1))
    seconds = 1e-3 * load * (forwards + backwards)
    clean = np.ones(POINTS, dtype=bool)
    clean[:3] = False  # misclassified without attack: zero effort
    zero = ~clean
    frame = {"run_id": _rid(run), "which": "best", "config": f"pgd-{STEPS}", "point": np.arange(POINTS),
             "clean_correct": clean, "event": event | zero, "attack": np.where(event, "pgd", None),
             "seconds": np.where(zero, 0.0, seconds), "iterations": np.where(zero, 0, iterate),
             "forward_passes": np.where(zero, 0.0, forwards), "backward_passes": np.where(zero, 0.0, backwards),
             "eps": 0.1}
    if old:  # the table the evaluation wrote before the backward passes were counted
        del frame["backward_passes"]
    return pd.DataFrame(frame)


def _rid(run: int) -> str:
    return f"{0xabc000000000 + run:012x}"


def _results(root, *, old: bool = False, sources=("estimate-tdp",) * RUNS, seed: int = 0):
    rng = np.random.default_rng(seed)
    for run in range(RUNS):
        record = results.new_record(_rid(run), f"n{run}", {"seed": run, "training": {"lr": 0.01 * (1 + run),
                                                                                      "epochs": 10}}, recipe="r")
        record.update(status=results.COMPLETED)
        record["flops"].update(forward_per_sample=FORWARD_FLOPS, train_executed=3.0e12, train_total=3.3e12 * (1 + run),
                               train_samples=10_000)
        record["timing"].update(train_seconds=50.0, attack_seconds=20.0)
        record["energy"].update(source=sources[run], train_kwh=0.002, attack_kwh=0.001)
        record["accuracy"].update(autoattack=20.0 + run, clean=80.0)
        record["cost"].update(device_model="NVIDIA L4")
        record["survival"].update(file=SURVIVAL_TABLE, rows=POINTS, configs=[f"pgd-{STEPS}"], events={})
        results.write_record(str(root), record)
        _points(rng, run, old).to_parquet(root / _rid(run) / SURVIVAL_TABLE, index=False)
    return root


def _survival(root, tmp_path, **options):
    table, _ = load_table(str(root))
    survival = {"covariates": ["config.training.lr"], "families": ["weibull"], **options}
    out = tmp_path / "out"
    report = analyze(table, Mapping(sections={"survival": survival}), str(out),
                     Options(n_bins=3, n_boot=10, figures=False), sections=["envelope", "survival"])
    assert "survival" in report["sections"], report["skipped_sections"]
    return json.loads((out / "report.json").read_text())["survival"]


def test_the_default_duration_is_flops_to_failure_not_the_machines_load(tmp_path):
    root = _results(tmp_path / "runs")
    flops = _survival(root, tmp_path)
    assert flops["duration"] == ATTACK_FLOPS and flops["duration_unit"] == "FLOPs"
    assert any(n.startswith("duration attack_flops (FLOPs to failure") for n in flops["notes"]), flops["notes"]
    # the learning rate does nothing to the iterate that breaks a point: FLOPs see no effect ...
    coef = flops["models"]["weibull"]["coefficients"]["config.training.lr"]
    lo, hi = flops["models"]["weibull"]["coefficients_ci"]["config.training.lr"]
    assert lo < 0 < hi and abs(coef) < 3.0
    # FLOPs are the passes x one constant per model: the same fit, its intercept shifted by ln F, calibrated alike
    # (the calibration spline is fitted in a unit near t0, not at t ~ 1e7)
    passes = _survival(root, tmp_path, duration="attack_passes")
    p_coef = passes["models"]["weibull"]["coefficients"]
    assert coef == pytest.approx(p_coef["config.training.lr"], rel=1e-3, abs=1e-3)
    assert flops["models"]["weibull"]["coefficients"]["Intercept"] == pytest.approx(
        p_coef["Intercept"] + np.log(FORWARD_FLOPS), abs=1e-3)
    assert flops["models"]["weibull"]["ici"] == pytest.approx(passes["models"]["weibull"]["ici"], abs=0.01)
    # ... the seconds see the load of the machine the later runs were evaluated on, as if lr lengthened survival
    seconds = _survival(root, tmp_path, duration="seconds")
    assert seconds["duration"] == "seconds" and "depend on the machine" in seconds["duration_source"]
    assert seconds["models"]["weibull"]["coefficients"]["config.training.lr"] > 20.0
    # TRASH follows the duration: training FLOPs per distinct sample / expected attack FLOPs per point
    trash = flops["trash"]
    assert trash["unit"] == "flops" and trash["n"] > 0
    row = trash["runs"][0]
    assert row["train_flops_per_sample"] == pytest.approx(3.0e12 / (10_000 / 10))
    assert row["train_flops_source"] == "flops.train_executed"
    assert row["trash"] == pytest.approx(row["train_flops_per_sample"] / row["attack_flops_per_sample"])
    # the attack's FLOPs are its passes x the measured forward FLOPs: 2 F per PGD step, at most STEPS of them
    assert FORWARD_FLOPS < row["attack_flops_per_sample"] < (2 * STEPS + 1) * FORWARD_FLOPS
    assert "usd" not in json.dumps(row)  # $ and energy need seconds: survival.duration: seconds
    assert trash["energy_source"] is None


def test_trash_energy_says_where_each_records_energy_came_from(tmp_path):
    sources = ("estimate-tdp",) * 8 + ("nvml",) * 4
    root = _results(tmp_path / "runs", sources=sources)
    part = _survival(root, tmp_path, duration="seconds")
    trash = part["trash"]
    by_run = {r["run_id"]: r["energy_source"] for r in trash["runs"]}
    assert by_run == {_rid(r): sources[r] for r in range(RUNS) if _rid(r) in by_run}
    assert trash["unit"] == "seconds"
    assert "measured" not in json.dumps(trash["runs"])  # estimate-tdp is an estimate
    assert trash["energy_source"] == energy_provenance(by_run.values())
    assert len(set(by_run.values())) == 2, "the held-out points must cover runs of both sources"
    assert trash["energy_source"].startswith("mixed: estimate-tdp (") and ", nvml (" in trash["energy_source"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"Energy from: {trash['energy_source']}." in md


def test_energy_provenance_of_one_source_a_mix_and_none():
    assert energy_provenance(["estimate-tdp"] * 3) == "estimate-tdp"
    assert energy_provenance(["nvml", "estimate-tdp", "nvml", None]) == "mixed: estimate-tdp (1 run), nvml (2 runs)"
    assert energy_provenance([None, float("nan")]) is None


def test_old_survival_tables_are_analysed_in_seconds_saying_so(tmp_path):
    root = _results(tmp_path / "runs", old=True)
    part = _survival(root, tmp_path)
    assert part["duration"] == "seconds"
    note = next(n for n in part["notes"] if n.startswith("duration seconds"))
    assert "depend on the machine" in note and "written before the passes were recorded" in note
    # the numbers of before: the same fit as naming seconds explicitly
    explicit = _survival(root, tmp_path, duration="seconds")
    assert part["models"] == explicit["models"]


def test_a_run_without_measured_flops_falls_back_to_passes(tmp_path):
    table = pd.concat([_points(np.random.default_rng(1), run, False).assign(
        **{"flops.forward_per_sample": FORWARD_FLOPS if run else np.nan, "config.training.lr": 0.01 * (1 + run)})
        for run in range(RUNS)], ignore_index=True)
    fit = fit_survival(table, SurvivalMapping(covariates=("config.training.lr",), families=("weibull",)),
                       calibrate=False)
    assert fit.mapping.duration == "attack_passes"
    assert any(f"not attack_flops: {POINTS} of {RUNS * POINTS} rows lack it" in n for n in fit.data.notes)


def test_collect_survival_writes_the_passes_and_flops_to_failure(tmp_path):
    from robustperf import main

    root = _results(tmp_path / "runs")
    out = tmp_path / "survival.parquet"
    assert main(["collect", str(root), "--survival", "-o", str(out)]) == 0
    table = pd.read_parquet(out)
    assert np.allclose(table["attack_passes"], table["forward_passes"] + table["backward_passes"])
    assert np.allclose(table["attack_flops"], table["attack_passes"] * FORWARD_FLOPS)
    assert (table.loc[~table["clean_correct"], "attack_flops"] == 0).all()
