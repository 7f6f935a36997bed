"""Checkpoints that load under ``weights_only`` but do not fit the run (issue 22): another model's weights, string
RNG entries, wrong shapes, types or dtypes anywhere. The whole checkpoint is validated before any of it is used:
``robustperf run`` (resume) and ``robustperf evaluate`` answer one line naming the checkpoint, the entry and the
shapes, exit 2, with the ``--restart`` hint; ``--restart`` sets such a checkpoint aside. Fuzzed over mutated
checkpoints of several trainers (optimizers, EMA, fp16 scaler, plateau schedule, method state)."""
from __future__ import annotations

import copy
import glob
import json

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.training import DistInfo, Trainer
from benchmarks.training.checkpoint import DamagedCheckpointError, save_checkpoint
from recipes import load_recipe
from tests.benchmarks._training_helpers import one_thread, run_cli  # noqa: F401 - autouse fixture
from tests.conftest import ROOT

RECIPE = ROOT / "recipes" / "tiny-digits.yaml"
#: the evaluation CLI tests' run (tests/benchmarks/evaluation/test_evaluation_cli.py): one cached training
RUN_ARGS = ["--index", "0", "--no-eval", "--no-flops", "--no-progress", "--set", "training.epochs=1",
            "--set", "training.warmup_epochs=0", "--set", "attack.steps=1", "--set", "training.select_subset=64"]


@pytest.fixture
def run_dir(cached_run, tmp_path):
    results = tmp_path / "res"
    cached_run(["run", str(RECIPE), "--index", "0", "--results", str(results), *RUN_ARGS[2:]])
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


def _cli_run(run_dir, *extra):
    return run_cli(["run", RECIPE, *RUN_ARGS, "--results", run_dir.parent, *extra])


def _one_error_line(proc):
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    (line,) = [line for line in proc.stderr.splitlines() if "error" in line]
    return line


def _other_model_weights(width=2):
    from benchmarks.models import create_model

    spec_cfg = load_recipe(str(RECIPE), [f"model.width={width}"]).run(0).run_config().model
    return create_model(spec_cfg, 10, 1).state_dict()


# ---------------------------------------------------------------- robustperf run (resume)

@pytest.mark.timeout(300)
def test_resume_from_another_models_checkpoint_is_one_line_and_restart_starts_over(run_dir):
    last = run_dir / "checkpoint-last.pt"
    state = torch.load(last, weights_only=True)
    state["model"] = _other_model_weights()
    save_checkpoint(str(last), state)
    (run_dir / "result.json").unlink()  # the run is to resume, not completed
    line = _one_error_line(_cli_run(run_dir))
    assert "checkpoint-last.pt" in line and "--restart" in line, line
    assert "model['" in line and "(32, 16, 3, 3)" in line and "(16, 16, 3, 3)" in line, line
    proc = _cli_run(run_dir, "--restart")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checkpoint-last.pt" in proc.stdout and "starts over" in proc.stdout, proc.stdout
    assert len(glob.glob(str(last) + ".damaged-*")) == 1
    assert json.loads((run_dir / "result.json").read_text())["status"] == "completed"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mutation", ["rng_string", "optimizer_shape", "missing_progress"])
def test_resume_from_a_mutated_checkpoint_is_one_line(run_dir, mutation):
    last = run_dir / "checkpoint-last.pt"
    state = torch.load(last, weights_only=True)
    if mutation == "rng_string":
        state["rng"][0]["torch"] = "not a state"
        where = "rng"
    elif mutation == "optimizer_shape":
        first = next(iter(state["optimizer"]["state"]))
        state["optimizer"]["state"][first]["momentum_buffer"] = torch.zeros(7)
        where = "optimizer"
    else:
        del state["progress"]
        where = "progress"
    save_checkpoint(str(last), state)
    (run_dir / "result.json").unlink()
    line = _one_error_line(_cli_run(run_dir))
    assert "checkpoint-last.pt" in line and where in line and "--restart" in line, line


# ---------------------------------------------------------------- robustperf evaluate

@pytest.mark.timeout(300)
@pytest.mark.parametrize("mutation", ["other_model", "string_weight", "bad_spec"])
def test_evaluate_a_checkpoint_that_does_not_fit_is_one_line(run_dir, mutation):
    best = run_dir / "checkpoint-best.pt"
    state = torch.load(best, weights_only=True)
    if mutation == "other_model":
        state["model"] = _other_model_weights()
    elif mutation == "string_weight":
        state["model"]["fc.weight"] = "weights"
    else:
        state["model_spec"]["num_classes"] = "ten"
    save_checkpoint(str(best), state)
    proc = run_cli(["evaluate", run_dir, "--device", "cpu"])
    line = _one_error_line(proc)
    assert "checkpoint-best.pt" in line and "model" in line, line
    assert "--which last" in line or "--restart" in line, line


@pytest.mark.timeout(300)
def test_evaluate_refuses_a_checkpoint_of_another_model_than_the_runs(run_dir):
    """A self-consistent checkpoint of a WRN-10-2 copied into a WRN-10-1 run: evaluating it would write another
    model's accuracy into this run's record."""
    best = run_dir / "checkpoint-best.pt"
    state = torch.load(best, weights_only=True)
    state["model"] = _other_model_weights()
    state["model_spec"] = dict(state["model_spec"], name="wrn10_2", width=2,
                               params=dict(state["model_spec"]["params"], width=2))
    save_checkpoint(str(best), state)
    line = _one_error_line(run_cli(["evaluate", run_dir, "--device", "cpu"]))
    assert "checkpoint-best.pt" in line and "wrn10_2" in line and "wrn10_1" in line, line


# ---------------------------------------------------------------- every mutation, in process

CONFIGS = {
    "at-sgd": [],
    "adamw-ema-fp16-plateau": ["training.optimizer=adamw", "training.ema_decay=0.9", "training.precision=fp16",
                               "training.scheduler=plateau"],
    "free": ["training.loss=free"],
}


@pytest.fixture(scope="module")
def trainers():
    """One trainer per configuration, and the state it wrote after one training step (optimizer state filled)."""
    torch.set_num_threads(1)
    out = {}
    for name, overrides in CONFIGS.items():
        cfg = load_recipe(str(RECIPE), overrides + ["training.select_subset=16", "attack.steps=1"]).run(0)
        trainer = Trainer(cfg.run_config(), DistInfo(), progress=False)
        _, x, y = next(iter(trainer.batches.epoch(0)))
        trainer.train_step(x, y)
        trainer.history.append({"epoch": 1, "pgd_subset": 10.0, "clean_subset": 50.0, "train_loss": 2.0})
        trainer.best = {"epoch": 1, "pgd_subset": 10.0}
        out[name] = (trainer, trainer.state_dict(), (x, y))
    return out


def _paths(value, prefix=()):
    """Every (path, value) of a nested checkpoint (dicts and lists)."""
    yield prefix, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, prefix + (key,))


REPLACEMENTS = {
    "string": lambda v: "abc", "none": lambda v: None, "float": lambda v: 1.5, "negative": lambda v: -3,
    "huge": lambda v: 10**30, "nan": lambda v: float("nan"), "list": lambda v: [1, "x"], "dict": lambda v: {"x": 1},
    "tensor": lambda v: torch.zeros(3), "bool": lambda v: True,
    "shape": lambda v: torch.zeros(tuple(v.shape) + (2,)) if isinstance(v, torch.Tensor) else torch.zeros(2, 2),
    "dtype": lambda v: v.to(torch.float64 if v.dtype != torch.float64 else torch.int32)
    if isinstance(v, torch.Tensor) else torch.tensor([1], dtype=torch.int8),
    "empty": lambda v: torch.empty(0),
}


def _snapshot(trainer):
    return copy.deepcopy((trainer.model.state_dict(), trainer.optimizer.state_dict(), trainer.epoch, trainer.step,
                          trainer.global_step, trainer.history, trainer.best))


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


@pytest.mark.timeout(600)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data(), config=st.sampled_from(sorted(CONFIGS)), how=st.sampled_from(["drop"] + sorted(REPLACEMENTS)))
def test_a_mutated_checkpoint_resumes_or_is_refused_before_anything_changes(trainers, tmp_path, data, config, how):
    trainer, state, (x, y) = trainers[config]
    state = copy.deepcopy(state)
    section = data.draw(st.sampled_from(sorted(k for k in state if k != "format")))
    paths = [p for p, _ in _paths(state[section], (section,))]
    path = data.draw(st.sampled_from(paths))
    parent = state
    for key in path[:-1]:
        parent = parent[key]
    if how == "drop":
        if isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent.pop(path[-1])
    else:
        parent[path[-1]] = REPLACEMENTS[how](parent[path[-1]])
    file = tmp_path / "checkpoint-last.pt"
    save_checkpoint(str(file), state)
    before = _snapshot(trainer)
    try:
        trainer.resume(str(file))
    except DamagedCheckpointError as err:
        message = str(err)
        assert "\n" not in message and "checkpoint-last.pt" in message and "--restart" in message, message
        assert _same(before, _snapshot(trainer)), f"{path} {how}: the trainer changed before the refusal"
    else:  # a harmless change (another number where a number is): the trainer goes on
        trainer.state_dict()
        trainer.train_step(x, y)
    finally:
        trainer.load_state_dict(copy.deepcopy(trainers[config][1]))  # back to the state every example starts from


def test_the_unchanged_checkpoints_resume(trainers, tmp_path):
    for name, (trainer, state, _) in trainers.items():
        save_checkpoint(str(tmp_path / f"{name}.pt"), state)
        trainer.resume(str(tmp_path / f"{name}.pt"))
        assert trainer.resumed and trainer.global_step == state["progress"]["global_step"]

