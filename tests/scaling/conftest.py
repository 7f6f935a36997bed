"""Fixtures of the scaling tests: the reference study's published table and a results directory of records."""
from __future__ import annotations

import pathlib
import shutil

import numpy as np
import pandas as pd
import pytest

from results import COMPLETED, FAILED, new_record, write_record

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
PUBLISHED = DATA / "timm_adv_training_results.csv"

#: the column mapping of the published table (see tests/data/SOURCE.md)
PUBLISHED_ARGS = ["--flops-col", "train_flops*epochs", "--acc-col", "aa_robust_acc",
                  "--cost-col", "train_electricity_cost*epochs", "--co2-col", "train_emissions*epochs",
                  "--feature", "model_parameters", "--feature", "synthetic_data", "--feature", "at",
                  "--feature", "at_steps", "--feature", "epochs", "--facet", "synthetic_data"]


@pytest.fixture(scope="session")
def published() -> pd.DataFrame:
    return pd.read_csv(PUBLISHED)


def _config(width: int, loss: str, steps: int, synthetic: float, ema, activation: str, seed: int) -> dict:
    return {"seed": seed,
            "data": {"name": "cifar10", "synthetic_fraction": synthetic, "batch_size": 128},
            "model": {"arch": "wrn", "depth": 28, "width": width, "activation": activation},
            "training": {"loss": loss, "epochs": 10, "ema_decay": ema},
            "attack": {"norm": "linf", "eps": 8 / 255, "steps": steps}}


def make_results(root: pathlib.Path, seeds: int = 3, extra_states: bool = True) -> pathlib.Path:
    """Write a results directory of real schema records through results.write_record.

    96 configurations (width x loss x steps x synthetic x EMA) x ``seeds`` seeds, completed; accuracy follows
    ``40 * (FLOPs / 1e15) ** 0.03`` plus factor effects and noise. With ``extra_states``: one running run, one
    failed run and one corrupt record as well.
    """
    rng = np.random.default_rng(0)
    i = 0
    for width in (1, 2, 4):
        for loss in ("at", "trades"):
            for steps in (1, 2, 5, 10):
                for synthetic in (0.0, 0.7):
                    for ema in (None, 0.995):
                        for seed in range(seeds):
                            cfg = _config(width, loss, steps, synthetic, ema, "relu" if width < 4 else "silu", seed)
                            rec = new_record(f"run{i:04d}", f"wrn-28-{width}_{loss}_pgd{steps}_s{seed}", cfg)
                            flops = 1e15 * width ** 2 * (steps + 1) * (1 + 0.1 * rng.random())
                            acc = 40 * (flops / 1e15) ** 0.03 + 3 * synthetic + (1 if loss == "trades" else 0) \
                                + (0.5 if ema else 0) + rng.normal(0, 0.5)
                            kwh = 2e-16 * flops * (1 + 0.05 * rng.random())
                            rec.update({"status": COMPLETED, "params": 1_500_000 * width ** 2, "co2_kg": 0.4 * kwh})
                            rec["flops"]["train_total"] = flops
                            rec["accuracy"]["autoattack"] = acc if steps > 1 else 0.0  # 1-step runs collapse
                            rec["energy"]["kwh"] = kwh
                            rec["cost"]["electricity_usd"] = 0.12 * kwh
                            write_record(str(root), rec)
                            i += 1
    if extra_states:
        running = new_record("zz-running", "still-running", _config(1, "at", 2, 0.0, None, "relu", 9))
        write_record(str(root), running)
        failed = new_record("zz-failed", "oom", _config(4, "at", 2, 0.0, None, "silu", 9))
        failed.update({"status": FAILED, "failure_reason": "CUDA out of memory"})
        write_record(str(root), failed)
        (root / "zz-corrupt").mkdir()
        (root / "zz-corrupt" / "result.json").write_text('{"schema_version": "1.0", "run_id": ')
    return root


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory) -> pathlib.Path:
    return make_results(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="session")
def clean_results_dir(results_dir, tmp_path_factory) -> pathlib.Path:
    """The completed runs of ``results_dir`` only (copied: writing records fsyncs each one, which is slow)."""
    clean = tmp_path_factory.mktemp("clean") / "results"
    shutil.copytree(results_dir, clean, ignore=lambda folder, names: [n for n in names if n.startswith("zz-")])
    return clean
