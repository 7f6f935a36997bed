"""Real adversarial training on digits with a WRN-10-1, through `robustperf run`'s orchestration."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from benchmarks import load_dataset, load_model
from benchmarks._loading import CheckpointError
from benchmarks.attacks import create_attack
from benchmarks.run import EXIT_DIVERGED, EXIT_OK, METRICS_FILE, execute, job_info
from benchmarks.training import load_checkpoint
from recipes import load_recipe
from results import load_record
from tests.benchmarks._training_helpers import one_thread, run_cli  # noqa: F401 - autouse fixture


def _run(recipe, results, index=0, overrides=(), **kwargs):
    spec = load_recipe(str(recipe), list(overrides)).run(index)
    kwargs.setdefault("evaluate", False)
    kwargs.setdefault("count_flops", False)
    code = execute(spec, str(results), recipe_name="test", progress=False, **kwargs)
    return code, spec, load_record(str(results), spec.run_id)


def _accuracy(model, eps=0.1, steps=5):
    x, y = load_dataset("digits", "test")
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item() * 100
    attack = create_attack("pgd", model, norm="linf", eps=eps, steps=steps, step_size=2.5 * eps / steps)
    x_adv = attack(x, y, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        robust = (model(x_adv).argmax(1) == y).float().mean().item() * 100
    return clean, robust


@pytest.mark.parametrize("index,loss", [(0, "at"), (1, "trades")])
def test_adversarial_training_beats_chance(tiny_recipe, tmp_path, index, loss):
    code, spec, record = _run(tiny_recipe, tmp_path, index, count_flops=(loss == "at"))
    assert code == EXIT_OK and spec.config["training"]["loss"] == loss
    assert record["status"] == "completed" and record["failure_reason"] is None
    training = record["training"]
    assert training["epochs_completed"] == 2 and training["global_batch_size"] == 64
    assert training["best_pgd_subset"] > 10.0 and training["best_epoch"] in (1, 2)
    assert record["params"] == 77_562 and record["job"]["attempts"] == 1
    assert record["accuracy"]["pgd"] is None  # the per-epoch subset is not the final accuracy
    run_dir = tmp_path / spec.run_id
    lines = [json.loads(line) for line in (run_dir / METRICS_FILE).read_text().splitlines()]
    assert [m["epoch"] for m in lines] == [1, 2] and max(m["pgd_subset"] for m in lines) == training["best_pgd_subset"]
    model = load_model(str(run_dir), "best")
    assert not model.training
    clean, robust = _accuracy(model)
    assert clean > 60.0, clean
    assert robust > 10.0, robust
    if loss == "at":  # FLOPs of the executed first step, counted by DeepSpeed
        flops = record["flops"]
        assert flops["source"] == "deepspeed" and flops["steps"] == 44
        assert flops["train_total"] == 3 * flops["train_forward_per_sample"] * 64 * 44
        # PGD-2 + the training forward: about 3 forwards per sample (train-mode BN counts a little more)
        assert 2.9 < flops["train_forward_per_sample"] / flops["forward_per_sample"] < 3.3


def test_ema_weights_are_the_evaluated_ones(tiny_recipe, tmp_path):
    code, spec, record = _run(tiny_recipe, tmp_path, 0, ["training.ema_decay=0.9", "training.epochs=1"])
    assert code == EXIT_OK and spec.name.endswith("_ema_syn0_s0")
    state = load_checkpoint(str(tmp_path / spec.run_id / "checkpoint-last.pt"))
    assert state["ema"] is not None
    differing = [k for k in state["model"] if not torch.equal(state["model"][k], state["ema"][k])]
    assert "fc.weight" in differing
    model = load_model(str(tmp_path / spec.run_id), "last")
    for key, value in model.state_dict().items():
        assert torch.equal(value, state["ema"][key]), key
    raw = load_model(str(tmp_path / spec.run_id), "last")
    raw.load_state_dict(state["model"])
    x, _ = load_dataset("digits", "test")
    assert not torch.equal(model(x[:32]), raw(x[:32]))


def test_bf16_autocast_trains(tiny_recipe, tmp_path):
    code, spec, record = _run(tiny_recipe, tmp_path, 0, ["training.precision=bf16", "training.epochs=1"])
    assert code == EXIT_OK and record["training"]["precision"] == "bf16"
    assert np.isfinite(record["training"]["final_train_loss"])


def test_divergence_fails_only_that_run(tiny_recipe, tmp_path):
    code, spec, record = _run(tiny_recipe, tmp_path, 0, ["training.lr=1000", "training.lr_base_batch_size=1", "training.epochs=1"])
    assert code == EXIT_DIVERGED
    assert record["status"] == "failed" and "non-finite training loss" in record["failure_reason"]
    other_code, other, other_record = _run(tiny_recipe, tmp_path, 1, ["training.epochs=1"])
    assert other_code == EXIT_OK and other_record["status"] == "completed"
    assert load_record(str(tmp_path), spec.run_id)["status"] == "failed"


def test_cifar_format_with_synthetic_mixing_trains(tmp_path):
    """32x32 data from python batches, augmentation and 50 % synthetic data, end to end (tiny)."""
    from tests.benchmarks._dataset_fixtures import synthetic_npz as _npz, write_cifar as _write_cifar

    _write_cifar(tmp_path / "cifar", per_file=16)
    synthetic = _npz(tmp_path / "syn.npz", n=40)
    recipe = tmp_path / "cifar.yaml"
    recipe.write_text(f"""
name: tiny-cifar
base:
  data: {{name: cifar10, root: {tmp_path / 'cifar'}, synthetic: {synthetic}, synthetic_fraction: 0.5,
          batch_size: 16}}
  model: {{arch: wrn, depth: 10, width: 1}}
  training: {{epochs: 1, warmup_epochs: 0, lr_base_batch_size: 16, select_subset: 16, select_pgd_steps: 2, select_on: test}}
  attack: {{eps: 8/255, steps: 1}}
  evaluation: {{pgd_steps: 2}}
""")
    code, spec, record = _run(recipe, tmp_path / "runs")
    assert code == EXIT_OK and record["status"] == "completed"
    assert record["training"]["epochs_completed"] == 1
    assert record["flops"]["steps"] == 80 // 16  # the epoch length of the original set


def test_missing_dataset_is_a_user_error_recorded_as_failed(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"base: {{data: {{name: cifar10, root: {tmp_path / 'none'}}}}}\n")
    result = run_cli(["run", recipe, "--index", 0, "--results", tmp_path / "runs", "--no-flops"])
    assert result.returncode == 2, result.stderr
    assert "robustperf run: error:" in result.stderr and "cs.toronto.edu" in result.stderr
    assert "Traceback" not in result.stderr
    spec = load_recipe(str(recipe)).run(0)
    record = load_record(str(tmp_path / "runs"), spec.run_id)
    assert record["status"] == "failed" and "DataError" in record["failure_reason"]


@pytest.mark.slow  # a whole run with its final evaluation, twice (~8 s); the demo and the cached runs cover the path in the fast tier
def test_cli_end_to_end_with_final_evaluation_then_skip(tiny_recipe, tmp_path):
    args = ["run", tiny_recipe, "--index", 0, "--results", tmp_path, "--set", "evaluation.autoattack=null",
            "--set", "training.epochs=1", "--no-flops"]
    first = run_cli(args)
    assert first.returncode == 0, first.stderr
    spec = load_recipe(str(tiny_recipe), ["evaluation.autoattack=null", "training.epochs=1"]).run(0)
    record = load_record(str(tmp_path), spec.run_id)
    assert record["status"] == "completed"
    assert record["accuracy"]["clean"] is not None and record["accuracy"]["pgd"] is not None
    assert "epoch 1/1" in first.stdout and "\r" not in first.stdout  # one line per epoch without a terminal
    assert (tmp_path / spec.run_id / "train.log").is_file()
    again = run_cli(args)
    assert again.returncode == 0 and "already completed" in again.stdout
    assert load_record(str(tmp_path), spec.run_id)["job"]["attempts"] == 1


def test_load_model_errors(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(str(tmp_path), "best")
    with pytest.raises(CheckpointError, match="'best' or 'last'"):
        load_model(str(tmp_path), "first")


@pytest.mark.parametrize("env,expected", [
    ({}, {"scheduler": "local", "job_id": None, "array_job_id": None, "array_task_id": None}),
    ({"SLURM_JOB_ID": "17", "SLURM_ARRAY_JOB_ID": "16", "SLURM_ARRAY_TASK_ID": "3"},
     {"scheduler": "slurm", "job_id": "17", "array_job_id": "16", "array_task_id": "3"}),
    ({"LSB_JOBID": "99", "LSB_JOBINDEX": "4"},
     {"scheduler": "lsf", "job_id": "99", "array_job_id": "99", "array_task_id": "4"}),
    ({"LSB_JOBID": "99", "LSB_JOBINDEX": "0"},
     {"scheduler": "lsf", "job_id": "99", "array_job_id": None, "array_task_id": None}),
])
def test_job_info_from_the_scheduler_environment(env, expected):
    info = job_info(env)
    assert {k: info[k] for k in expected} == expected
    assert info["pid"] == os.getpid() and info["host"]


@pytest.mark.gpu
def test_wrn28_10_pgd10_epoch_slice_fp32_vs_bf16(capsys):
    """Images/s of WRN-28-10 PGD-10 adversarial training steps, fp32 vs bf16 autocast (reported, not asserted)."""
    import time

    from benchmarks.models import create_model
    from benchmarks.training import autocast_factory
    from recipes import ModelConfig

    device = torch.device("cuda")
    torch.backends.cudnn.benchmark = True
    rates = {}
    for precision in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = create_model(ModelConfig(), 10, 3).to(device).to(memory_format=torch.channels_last)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
        autocast = autocast_factory(precision, device)
        attack = create_attack("pgd", model, norm="linf", eps=8 / 255, steps=10, step_size=2 / 255,
                               autocast=autocast)
        x, y = torch.rand(128, 3, 32, 32, device=device), torch.randint(0, 10, (128,), device=device)
        steps, warmup = 20, 3
        for i in range(steps + warmup):
            if i == warmup:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
            x_adv = attack(x, y)
            model.train()
            opt.zero_grad(set_to_none=True)
            with autocast():  # the at method's loss: cross-entropy on the adversarial batch
                logits = model(x_adv).float()
            torch.nn.functional.cross_entropy(logits, y).backward()
            opt.step()
        torch.cuda.synchronize()
        rates[precision] = steps * 128 / (time.perf_counter() - t0)
    with capsys.disabled():
        print(f"\nWRN-28-10 PGD-10 training on {torch.cuda.get_device_name()}: "
              + ", ".join(f"{k} {v:.0f} images/s" for k, v in rates.items())
              + f", bf16 speed-up {rates['bf16'] / rates['fp32']:.2f}x")
    assert rates["bf16"] > 0 and rates["fp32"] > 0


@pytest.mark.parametrize("overrides", [
    ["training.scheduler=step"], ["training.scheduler=multistep"], ["training.scheduler=plateau"],
    ["training.scheduler=none"], ["attack.norm=l2", "attack.eps=0.5", "model.activation=gelu"],
    ["training.optimizer=adamw", "training.lr=0.001", "training.clip_grad=1.0"],
], ids=["step", "multistep", "plateau", "none", "l2-gelu", "adamw-clip"])
def test_recipe_variants_train(tiny_recipe, tmp_path, overrides):
    base = ["training.epochs=2", "training.warmup_epochs=1", "data.batch_size=256", "training.select_subset=64"]
    code, spec, record = _run(tiny_recipe, tmp_path, 0, base + overrides)
    assert code == EXIT_OK and record["training"]["epochs_completed"] == 2
    lrs = [json.loads(line)["lr"] for line in (tmp_path / spec.run_id / METRICS_FILE).read_text().splitlines()]
    if "training.scheduler=none" in overrides:
        assert lrs == [0.1 * 256 / 64] * 2  # lr scaled to the global batch, never scheduled
