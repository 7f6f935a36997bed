"""Checkpoints that load under ``weights_only`` but do not fit the run (issue 22), through real ``robustperf``
processes on a real run folder: another model's weights, RNG states that are strings or no generator's state,
wrong shapes. ``robustperf run`` (resume) and ``robustperf evaluate`` answer one line naming the checkpoint and
the entry, exit 2, with the ``--restart`` hint (``evaluate`` of a completed run: the other checkpoint); nothing in
the run folder is lost or overwritten. ``--restart`` sets such a checkpoint aside and the run starts over.

Every entry of the checkpoints, mutated every way, is the property test's (test_checkpoint_fuzz.py)."""
from __future__ import annotations

import glob
import json

import pytest
import torch

from benchmarks.training.checkpoint import save_checkpoint
from recipes import load_recipe
from tests.benchmarks._training_helpers import one_thread, run_cli  # noqa: F401 - autouse fixture
from tests.conftest import ROOT

# the slow tier (make test-all): real robustperf runs resumed from altered checkpoints (10-30 s each)
pytestmark = pytest.mark.slow

RECIPE = ROOT / "recipes" / "tiny-digits.yaml"
#: the evaluation CLI tests' run (tests/benchmarks/evaluation/test_evaluation_cli.py): one cached training
RUN_ARGS = ["--index", "0", "--no-eval", "--no-flops", "--no-progress", "--set", "training.epochs=1",
            "--set", "training.warmup_epochs=0", "--set", "attack.steps=1", "--set", "training.select_subset=64"]
#: files a refused command may write: its log line and the record's status (failed, with the reason)
WRITTEN = {"train.log", "result.json"}


@pytest.fixture
def run_dir(cached_run, tmp_path):
    results = tmp_path / "res"
    cached_run(["run", str(RECIPE), "--index", "0", "--results", str(results), *RUN_ARGS[2:]])
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


def _cli_run(run_dir, *extra):
    return run_cli(["run", RECIPE, *RUN_ARGS, "--results", run_dir.parent, *extra])


def _to_resume(run_dir):
    """The run is to resume: its record says preempted (as a stopped run's does); the record, as it is now."""
    path = run_dir / "result.json"
    record = json.loads(path.read_text())
    record["status"] = "preempted"
    path.write_text(json.dumps(record))
    return record


def _files(run_dir):
    return {p.name: p.read_bytes() for p in sorted(run_dir.iterdir()) if p.is_file() and p.name != "run.lock"}


def _nothing_lost(before, run_dir, record=None):
    after = _files(run_dir)
    assert set(before) <= set(after), f"files gone: {set(before) - set(after)}"
    changed = [name for name in before if before[name] != after[name] and name not in WRITTEN]
    assert not changed, f"overwritten: {changed}"
    if record is not None:  # the record keeps every field; only its status and job say what happened
        now = json.loads(after["result.json"])
        said = ("status", "failure_reason", "job", "updated")
        lost = [k for k in record if k not in said and now.get(k) != record[k]]
        assert not lost, f"record fields changed: {lost}"


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

def _mutate(state, mutation):
    """The checkpoint entry a mutation breaks, as the message names it."""
    if mutation == "other_model":  # a WRN-10-2's weights in a WRN-10-1 run (the probe's case)
        state["model"] = _other_model_weights()
        return "model['"
    if mutation == "rng_string":  # loads under weights_only; random.setstate / torch.set_rng_state fail
        state["rng"][0]["torch"] = "not a state"
        return "rng[0]['torch']"
    if mutation == "rng_bytes":  # the right size and dtype, but no Mersenne Twister state ("Invalid mt19937 state")
        state["rng"][0]["torch"] = torch.zeros_like(state["rng"][0]["torch"])
        return "rng[0]['torch']"
    if mutation == "optimizer_shape":
        first = next(iter(state["optimizer"]["state"]))
        state["optimizer"]["state"][first]["momentum_buffer"] = torch.zeros(7)
        return "optimizer['state']"
    if mutation == "scheduler_counter":  # the schedule's length in steps, not an integer
        state["scheduler"]["timm"]["t_initial"] = "22"
        return "scheduler['timm']['t_initial']"
    raise AssertionError(mutation)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mutation", ["other_model", "rng_bytes"])
def test_resume_from_a_checkpoint_that_does_not_fit_is_one_line_and_restart_starts_over(run_dir, mutation):
    """Refused in one line before anything is changed; `--restart` sets it aside (the model's shapes are checked
    by --restart itself, every other entry when the session resumes) and the run starts over and completes."""
    last = run_dir / "checkpoint-last.pt"
    state = torch.load(last, weights_only=True)
    where = _mutate(state, mutation)
    save_checkpoint(str(last), state)
    record = _to_resume(run_dir)
    before = _files(run_dir)
    line = _one_error_line(_cli_run(run_dir))
    assert "checkpoint-last.pt does not fit this run" in line and where in line and "--restart" in line, line
    if mutation == "other_model":
        assert "(32, 16, 3, 3)" in line and "(16, 16, 3, 3)" in line, line
    _nothing_lost(before, run_dir, record)
    proc = _cli_run(run_dir, "--restart")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checkpoint-last.pt does not fit this run" in proc.stdout and "starts over" in proc.stdout, proc.stdout
    (aside,) = glob.glob(str(last) + ".damaged-*")
    assert open(aside, "rb").read() == before["checkpoint-last.pt"]  # kept, byte for byte
    assert json.loads((run_dir / "result.json").read_text())["status"] == "completed"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mutation", ["rng_string", "optimizer_shape", "scheduler_counter"])
def test_resume_from_a_mutated_checkpoint_is_one_line(run_dir, mutation):
    last = run_dir / "checkpoint-last.pt"
    state = torch.load(last, weights_only=True)
    where = _mutate(state, mutation)
    save_checkpoint(str(last), state)
    record = _to_resume(run_dir)
    before = _files(run_dir)
    line = _one_error_line(_cli_run(run_dir))
    assert "checkpoint-last.pt" in line and where in line and "--restart" in line, line
    _nothing_lost(before, run_dir, record)


# ---------------------------------------------------------------- robustperf evaluate

@pytest.mark.timeout(300)
def test_evaluate_a_checkpoint_that_does_not_fit_is_one_line_and_changes_nothing(run_dir):
    """A completed run: the line names the entry and the other checkpoint (--restart keeps a completed run's
    files as they are); the record is not touched."""
    best = run_dir / "checkpoint-best.pt"
    state = torch.load(best, weights_only=True)
    state["model"]["fc.weight"] = "weights"
    save_checkpoint(str(best), state)
    before = _files(run_dir)
    line = _one_error_line(run_cli(["evaluate", run_dir, "--device", "cpu"]))
    assert "checkpoint-best.pt does not fit this run" in line and "model['fc.weight']" in line, line
    assert "--which last" in line, line
    assert _files(run_dir) == before


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
    before = _files(run_dir)
    line = _one_error_line(run_cli(["evaluate", run_dir, "--device", "cpu"]))
    assert "checkpoint-best.pt" in line and "wrn10_2" in line and "wrn10_1" in line, line
    assert _files(run_dir) == before
