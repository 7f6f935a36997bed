"""Property tests of checkpoint validation (issue 22): every entry of a real checkpoint, dropped or replaced by a
value of another type, dtype, shape or range, either still works or is refused in one line naming the file and
the entry - before any of it is used (the trainer, the global RNGs unchanged), never a traceback.

* resume (``robustperf run``: :meth:`benchmarks.training.Trainer.resume`): the checkpoints of trainers with SGD,
  AdamW with EMA, an fp16 scaler and the plateau schedule, free AT (its perturbation buffer) and an SDN in its IC
  phase (its own Adam state);
* the model of a run (``robustperf evaluate``: ``benchmarks._loading.load_model`` with the run's config), on the
  ``checkpoint-best.pt`` of a real run folder.

The CLI's exit 2 and the untouched run folder are test_checkpoint_validation.py's."""
from __future__ import annotations

import copy
import json
import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.training import DistInfo, Trainer
from benchmarks.training.checkpoint import DamagedCheckpointError, save_checkpoint
from benchmarks.training.errors import Diverged, ResumeError
from recipes import RunConfig, load_recipe
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture
from tests.conftest import ROOT

# the slow tier (make test-all): hypothesis over real checkpoints of four trainers (minutes)
pytestmark = pytest.mark.slow

DIGITS, SLOTH = ROOT / "recipes" / "tiny-digits.yaml", ROOT / "recipes" / "deepsloth-digits.yaml"
CONFIGS = {
    "at-sgd": (DIGITS, []),
    "adamw-ema-fp16-plateau": (DIGITS, ["training.optimizer=adamw", "training.ema_decay=0.9",
                                        "training.precision=fp16", "training.scheduler=plateau"]),
    "free": (DIGITS, ["training.loss=free"]),
    "sdn-ic-phase": (SLOTH, ["training.epochs=2", "training.sdn_ic_epochs=1", "model.depth=10"]),
}


class _Trainers(dict):
    def __repr__(self):  # hypothesis prints the arguments of a failing example
        return f"trainers({', '.join(self)})"


@pytest.fixture(scope="module")
def trainers():
    """One trainer per configuration in its second epoch (the SDN's IC phase), and the state it wrote after one
    training step there (optimizer and method state filled)."""
    torch.set_num_threads(1)
    out = _Trainers()
    for name, (recipe, overrides) in CONFIGS.items():
        cfg = load_recipe(str(recipe), overrides + ["training.select_subset=16", "attack.steps=1"]).run(0)
        trainer = Trainer(cfg.run_config(), DistInfo(), progress=False)
        trainer.epoch = 1  # one epoch done (its history entry below)
        _, x, y = next(iter(trainer.batches.epoch(1)))
        trainer.train_step(x, y)
        trainer.history.append({"epoch": 1, "pgd_subset": 10.0, "clean_subset": 50.0, "train_loss": 2.0})
        trainer.best = {"epoch": 1, "pgd_subset": 10.0}
        out[name] = (trainer, copy.deepcopy(trainer.state_dict()), (x, y))  # a copy: the live tensors change
    assert out["sdn-ic-phase"][1]["method"][0]["ic_optimizer"]["state"]  # the SDN's Adam moments are there
    assert out["free"][1]["method"][0]["delta"] is not None               # free AT's perturbation buffer too
    return out


def _paths(value, prefix=()):
    """Every (path, value) of a nested checkpoint (dicts and lists)."""
    yield prefix, value
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, prefix + (key,))


def _like(value, fill):
    return torch.full_like(value, fill) if isinstance(value, torch.Tensor) and value.numel() else fill


REPLACEMENTS = {
    "string": lambda v: "abc", "none": lambda v: None, "float": lambda v: 1.5, "negative": lambda v: -3,
    "huge": lambda v: 10**30, "nan": lambda v: float("nan"), "list": lambda v: [1, "x"], "dict": lambda v: {"x": 1},
    "tensor": lambda v: torch.zeros(3), "bool": lambda v: True,
    "shape": lambda v: torch.zeros(tuple(v.shape) + (2,)) if isinstance(v, torch.Tensor) else torch.zeros(2, 2),
    "dtype": lambda v: v.to(torch.float64 if v.dtype != torch.float64 else torch.int32)
    if isinstance(v, torch.Tensor) else torch.tensor([1], dtype=torch.int8),
    "empty": lambda v: torch.empty(0),
    # the same shape and dtype, other values (an RNG state of the right size that is no generator's state)
    "zeros": lambda v: _like(v, 0), "sevens": lambda v: _like(v, 7),
}
HOW = st.sampled_from(["drop"] + sorted(REPLACEMENTS))


def _mutate(state, data, how, sections):
    """Drop or replace one entry (drawn) of ``state``; its path."""
    section = data.draw(st.sampled_from(sections))
    path = data.draw(st.sampled_from([p for p, _ in _paths(state[section], (section,))]))
    parent = state
    for key in path[:-1]:
        parent = parent[key]
    if how == "drop":
        parent.pop(path[-1])
    else:
        parent[path[-1]] = REPLACEMENTS[how](parent[path[-1]])
    return path


def _snapshot(trainer):
    return copy.deepcopy((trainer.model.state_dict(), trainer.optimizer.state_dict(), trainer.epoch, trainer.step,
                          trainer.global_step, trainer.history, trainer.best, trainer.method.state_dict(),
                          torch.get_rng_state(), np.random.get_state()[1], random.getstate()))


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype and (
            torch.equal(a, b) or (a.is_floating_point() and torch.allclose(a, b, rtol=0, atol=0, equal_nan=True)))
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)


SNAPSHOT = ("model", "optimizer", "epoch", "step", "global_step", "history", "best", "method", "torch RNG",
            "numpy RNG", "python RNG")


def _changed(before, after):
    """The parts of the trainer (and the global RNGs) that differ between two snapshots."""
    return [name for name, a, b in zip(SNAPSHOT, before, after) if not _same(a, b)]


def _one_line(message, file):
    assert "\n" not in message and file in message, message


@pytest.mark.timeout(600)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data(), config=st.sampled_from(sorted(CONFIGS)), how=HOW)
def test_a_mutated_checkpoint_resumes_or_is_refused_before_anything_changes(trainers, tmp_path, data, config, how):
    trainer, state, (x, y) = trainers[config]
    state = copy.deepcopy(state)
    path = _mutate(state, data, how, sorted(k for k in state if k != "format"))
    file = tmp_path / "checkpoint-last.pt"
    save_checkpoint(str(file), state)
    before = _snapshot(trainer)
    try:
        trainer.resume(str(file))
    except DamagedCheckpointError as err:
        _one_line(str(err), "checkpoint-last.pt")
        assert "--restart" in str(err), str(err)
        changed = _changed(before, _snapshot(trainer))
        assert not changed, f"{path} {how}: the trainer's {changed} changed before the refusal"
    except ResumeError as err:  # another world size or batch size: the user's choice, said as such
        assert path[0] == "data_order" and "\n" not in str(err), (path, str(err))
        changed = _changed(before, _snapshot(trainer))
        assert not changed, f"{path} {how}: the trainer's {changed} changed before the refusal"
    else:  # a harmless change (another number where a number is): the trainer goes on and can checkpoint
        trainer.state_dict()
        try:
            trainer.train_step(x, y)
        except Diverged:  # values that fit but make the loss non-finite (a zero std): the run's own exit and line
            assert how in ("zeros", "sevens", "huge", "negative", "float"), (path, how)
        save_checkpoint(str(file), trainer.state_dict())
    finally:
        trainer.load_state_dict(copy.deepcopy(trainers[config][1]))  # back to the state every example starts from


def test_the_unchanged_checkpoints_resume(trainers, tmp_path):
    for name, (trainer, state, _) in trainers.items():
        save_checkpoint(str(tmp_path / f"{name}.pt"), state)
        trainer.resume(str(tmp_path / f"{name}.pt"))
        assert trainer.resumed and trainer.global_step == state["progress"]["global_step"]


# ---------------------------------------------------------------- the model a run's checkpoint holds (evaluate)

#: the evaluation CLI tests' run, with EMA (two weight sets): one cached training
RUN_ARGS = ["--index", "0", "--no-eval", "--no-flops", "--no-progress", "--set", "training.epochs=1",
            "--set", "training.warmup_epochs=0", "--set", "attack.steps=1", "--set", "training.select_subset=64",
            "--set", "training.ema_decay=0.9"]


@pytest.fixture(scope="module")
def real_run(cached_run, tmp_path_factory):
    """A real run folder, its run's config and the pristine state of its ``checkpoint-best.pt``."""
    results = tmp_path_factory.mktemp("run") / "res"
    cached_run(["run", str(DIGITS), *RUN_ARGS, "--results", str(results)])
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    config = RunConfig.from_dict(json.loads((folder / "result.json").read_text())["config"])
    state = torch.load(folder / "checkpoint-best.pt", weights_only=True)
    assert state.get("ema") is not None
    return folder, config, state


@pytest.mark.timeout(300)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(data=st.data(), how=HOW)
def test_a_mutated_best_checkpoint_evaluates_or_is_refused_in_one_line(real_run, data, how):
    from benchmarks._loading import load_model

    folder, config, pristine = real_run
    state = copy.deepcopy(pristine)
    path = _mutate(state, data, how, ["model", "ema", "model_spec"])
    save_checkpoint(str(folder / "checkpoint-best.pt"), state)
    try:
        model = load_model(str(folder), "best", "cpu", run_config=config, remedy="REMEDY")
    except DamagedCheckpointError as err:
        _one_line(str(err), "checkpoint-best.pt")
        assert str(err).endswith("REMEDY"), str(err)
    else:  # the weights fit: the model runs on the run's images
        with torch.no_grad():
            assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10), path
    finally:
        save_checkpoint(str(folder / "checkpoint-best.pt"), pristine)
