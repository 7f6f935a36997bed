"""SIGKILL at any moment, then a rerun: bit-identical weights and metrics to an uninterrupted run (CPU).

One uninterrupted reference run, and one run interrupted six times at different places: mid-epoch before and
after mid-epoch checkpoints, inside a checkpoint write, during the per-epoch evaluation, by SIGTERM (graceful:
checkpoint, exit 143, record running), and after training before the record completes. Dropout, EMA and a
warm-up schedule are on, so the global RNG, the EMA and the scheduler state must all round-trip.
"""
from __future__ import annotations

import json

import pytest
import torch

from benchmarks.interruption import TEST_INTERRUPT_ENV
from benchmarks.measurement.epochs import EPOCH_KEYS
from recipes import load_recipe
from results import load_record
from tests.benchmarks._training_helpers import run_cli

OVERRIDES = ["training.epochs=3", "training.warmup_epochs=1", "data.batch_size=128", "training.ema_decay=0.9",
             "model.drop_rate=0.2"]
#: 11 steps per epoch; checkpoints every 4 steps inside an epoch as well.
ARGS = ["--index", 0, "--no-flops", "--no-eval", "--no-progress", "--checkpoint-steps", 4]
KILLED = -9
#: (kill point of the attempt, its exit code)
CHAIN = [
    ("step:6", KILLED),                  # epoch 1 step 6; last checkpoint at epoch 1 step 4 -> mid-epoch resume
    ("checkpoint_write:2", KILLED),      # inside the write of checkpoint-best.pt at the end of epoch 1
    ("step:6:TERM", 143),                # at epoch 2 step 3; all ranks agree on stopping one step later
    ("epoch_eval:1", KILLED),            # during epoch 2's PGD check
    ("finish:1", KILLED),                # trained, record not completed yet
    (None, 0),
]


def _args(recipe, results):
    args = ["run", recipe, *ARGS, "--results", results]
    for item in OVERRIDES:
        args += ["--set", item]
    return args


def _measured(key) -> bool:
    """Timings and per-epoch energy: measured, so they differ between two runs of the same training."""
    return str(key).endswith("seconds") or key in EPOCH_KEYS


def _same(a, b, path="state"):
    """Assert two checkpoint trees are bit-identical, timings and energy aside."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), path
    elif isinstance(a, dict):
        keys = {k for k in a if not _measured(k) and k != "extra"}
        assert keys == {k for k in b if not _measured(k) and k != "extra"}, path
        for k in keys:
            _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _metrics(run_dir):
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if not _measured(k)} for row in rows]


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sigkill_anywhere_then_rerun_is_bit_identical(tiny_recipe, tmp_path, cached_run):
    spec = load_recipe(str(tiny_recipe), OVERRIDES).run(0)
    reference = tmp_path / "reference"
    cached_run(_args(tiny_recipe, reference))  # the uninterrupted run: trained once, cached

    interrupted = tmp_path / "interrupted"
    logs = []
    for point, expected in CHAIN:
        env = {TEST_INTERRUPT_ENV: point} if point else {}
        result = run_cli(_args(tiny_recipe, interrupted), env=env)
        logs.append(result.stdout)
        assert result.returncode == expected, (point, result.stdout, result.stderr)
        record = load_record(str(interrupted), spec.run_id)
        # a signal (SIGTERM) checkpoints and preempts; a SIGKILL leaves the record running with its job gone
        assert record["status"] == {0: "completed", 143: "preempted"}.get(expected, "running"), point
    # the attempts resumed where the checkpoints were, mid-epoch included
    assert "resuming" not in logs[0]
    assert "at epoch 1, step 4 " in logs[1]
    assert "at epoch 1, step 8 " in logs[2]
    assert "stopped by signal 15 at epoch 2, step 4" in logs[2]
    assert "at epoch 2, step 4 " in logs[3]
    assert "at epoch 2, step 8 " in logs[4]
    assert "at epoch 4, step 0 " in logs[5]

    ref_dir, run_dir = reference / spec.run_id, interrupted / spec.run_id
    for name in ("checkpoint-last.pt", "checkpoint-best.pt"):
        _same(torch.load(ref_dir / name, weights_only=True), torch.load(run_dir / name, weights_only=True), name)
    assert _metrics(ref_dir) == _metrics(run_dir)
    assert len(_metrics(run_dir)) == 3
    ref_record, record = load_record(str(reference), spec.run_id), load_record(str(interrupted), spec.run_id)
    assert ref_record["training"] == record["training"]
    assert record["job"]["attempts"] == len(CHAIN) and ref_record["job"]["attempts"] == 1
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".tmp-")]  # stale temp files were removed


@pytest.mark.slow  # waits on wall-clock checkpoints (~10 s)
def test_time_based_checkpoints_inside_an_epoch(tiny_recipe, tmp_path):
    """--checkpoint-minutes: a checkpoint whenever the time has passed (here: after every step)."""
    args = ["run", tiny_recipe, "--index", 1, "--results", tmp_path, "--no-flops", "--no-eval",
            "--checkpoint-minutes", "0.000001", "--set", "training.epochs=1"]
    killed = run_cli(args, env={TEST_INTERRUPT_ENV: "checkpoint:3"})
    assert killed.returncode == KILLED, killed.stderr
    resumed = run_cli(args)
    assert resumed.returncode == 0, resumed.stderr
    assert "at epoch 1, step 3 " in resumed.stdout
