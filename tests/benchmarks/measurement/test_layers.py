"""Time by layer type (measurement.layer_profile): the categories sum to the profiled steps' time, which is the
steps' wall time less the profiler's overhead (tolerance stated below), and robust training spends more time in
convolutions per step than standard training."""
from __future__ import annotations

import pytest

from benchmarks.measurement.layers import CATEGORIES, LayerProfiler, category_of
from benchmarks.training import DistInfo, Trainer
from recipes import RunConfig
from results import load_record
from tests.benchmarks._training_helpers import one_thread, run_cli  # noqa: F401 - autouse fixture
from tests.conftest import ROOT

#: profiled time / wall time of the profiled steps: the profiler's range covers the whole window, so only its own
#: start-up and bookkeeping between the range's ends and the clock reads are missing (at most 25 % here); the
#: profiler's clock and perf_counter differ by microseconds (1 % slack above)
TOLERANCE = 0.25


def test_operator_names_map_to_layer_types():
    cases = {"aten::conv2d": "convolution", "ConvolutionBackward0": "convolution",
             "aten::mkldnn_convolution": "convolution", "aten::batch_norm": "normalisation",
             "NativeBatchNormBackward0": "normalisation", "aten::native_layer_norm": "normalisation",
             "aten::relu_": "activation", "GeluBackward0": "activation", "aten::silu": "activation",
             "aten::linear": "linear", "aten::addmm": "linear", "AddmmBackward0": "linear", "aten::mm": "linear",
             "aten::sign": None, "Optimizer.step#SGD.step": None, "aten::linalg_vector_norm": None,
             "aten::cross_entropy_loss": None}
    for name, category in cases.items():
        assert category_of(name) == category, name


def _profile(loss, steps=3):
    cfg = RunConfig.from_dict({"seed": 0, "data": {"name": "digits", "batch_size": 32},
                               "model": {"arch": "wrn", "depth": 10, "width": 1},
                               "training": {"loss": loss, "epochs": 1, "warmup_epochs": 0, "val_size": 64},
                               "attack": {"eps": 0.1, "steps": 3}})
    trainer = Trainer(cfg, DistInfo(), progress=False)
    x, y = trainer.batches.batch(0, 0)
    trainer.train_step(x, y)  # warm-up outside the profile (first-call allocations)
    profiler = LayerProfiler(1, steps, trainer.device)
    profiler.enter(2)
    assert profiler._prof is None  # another epoch: not profiled
    profiler.enter(1)
    for _ in range(steps):
        trainer.train_step(x, y)
        profiler.step_done()
    return profiler.result


def test_layer_times_sum_to_the_profiled_step_time_and_robust_training_convolves_more():
    standard, robust = _profile("standard"), _profile("at")
    for result in (standard, robust):
        assert set(result["seconds"]) == set(CATEGORIES) and result["steps"] == 3 and result["clock"] == "cpu"
        assert sum(result["seconds"].values()) == pytest.approx(result["profiled_seconds"], rel=1e-9)
        assert (1 - TOLERANCE) * result["wall_seconds"] <= result["profiled_seconds"] <= 1.01 * result["wall_seconds"]
        assert all(result["seconds"][c] > 0 for c in CATEGORIES)
        assert sum(result["share"].values()) == pytest.approx(1.0)
    # PGD-3 adds three forward+backward passes: convolutions take far more time per step
    assert robust["seconds"]["convolution"] > 2 * standard["seconds"]["convolution"]


@pytest.mark.slow
def test_a_run_with_layer_profile_records_it(tmp_path):
    args = ["run", ROOT / "recipes" / "tiny-digits.yaml", "--index", 0, "--no-eval", "--no-progress", "--no-flops",
            "--results", tmp_path, "--set", "training.epochs=1", "--set", "measurement.layer_profile=1",
            "--set", "measurement.layer_profile_steps=2"]
    done = run_cli(args)
    assert done.returncode == 0, done.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.name.startswith("_")]
    record = load_record(str(tmp_path), run_dir.name)
    profile = record["timing"]["layer_profile"]
    assert profile["epoch"] == 1 and profile["steps"] == 2 and profile["source"] == "torch.profiler"
    assert sum(profile["seconds"].values()) == pytest.approx(profile["profiled_seconds"])
    assert record["memory"]["host_peak_rss_mb"] > 0
