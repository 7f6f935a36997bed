"""Damaged run state: a torn record or a truncated checkpoint says what is damaged and how to recover, and
``robustperf run --restart`` keeps the damaged file aside and goes on; hostile deep JSON is reported as corrupt."""
from __future__ import annotations

import glob
import json
import os

import pytest

from benchmarks.interruption import TEST_INTERRUPT_ENV
from tests.benchmarks._training_helpers import run_cli

RECIPE = """\
name: damaged
base:
  seed: 0
  data: {name: digits, batch_size: 128}
  model: {arch: wrn, depth: 10, width: 1}
  training: {loss: at, epochs: 2, warmup_epochs: 0, lr: 0.1, select_subset: 32, select_pgd_steps: 1}
  attack: {norm: linf, eps: 0.1, steps: 1}
  evaluation: {pgd_steps: 1, autoattack: null}
"""


def _interrupted_run(tmp_path):
    """A run SIGKILLed right after its first epoch's checkpoint: record running, checkpoint-last at epoch 1."""
    (tmp_path / "r.yaml").write_text(RECIPE)
    args = ["run", tmp_path / "r.yaml", "--index", "0", "--results", tmp_path / "res", "--device", "cpu",
            "--no-progress", "--no-flops", "--no-eval"]
    proc = run_cli(args, env={TEST_INTERRUPT_ENV: "checkpoint:1"})
    assert proc.returncode == -9, proc.stdout + proc.stderr
    (run_dir,) = glob.glob(str(tmp_path / "res" / "*" / ""))
    return args, run_dir


def test_torn_record_names_the_damage_and_restart_continues_from_the_checkpoint(tmp_path):
    args, run_dir = _interrupted_run(tmp_path)
    record = os.path.join(run_dir, "result.json")
    with open(record, "r+b") as fh:
        fh.truncate(os.path.getsize(record) // 2)
    proc = run_cli(args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "result.json" in proc.stderr and "damaged" in proc.stderr and "--restart" in proc.stderr
    proc = run_cli(args + ["--restart"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "result.json was damaged" in proc.stdout and "resuming" in proc.stdout
    assert len(glob.glob(record + ".damaged-*")) == 1
    assert json.load(open(record))["status"] == "completed"


@pytest.mark.slow
def test_truncated_checkpoint_names_the_damage_and_restart_starts_over(tmp_path):
    args, run_dir = _interrupted_run(tmp_path)
    last = os.path.join(run_dir, "checkpoint-last.pt")
    with open(last, "r+b") as fh:
        fh.truncate(100)
    proc = run_cli(args)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "checkpoint-last.pt is damaged" in proc.stderr and "--restart" in proc.stderr
    proc = run_cli(args + ["--restart"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checkpoint-last.pt was damaged" in proc.stdout and "starting " in proc.stdout
    assert len(glob.glob(last + ".damaged-*")) == 1 and len(glob.glob(last[:-7] + "best.pt.superseded-*")) == 1
    record = json.load(open(os.path.join(run_dir, "result.json")))
    assert record["status"] == "completed" and record["training"]["epochs_completed"] == 2
    # the MLPerf log of the abandoned attempt went aside: the new one starts once, with epochs 1 and 2
    keys = [json.loads(l.split(":::MLLOG ", 1)[1]) for l in open(os.path.join(run_dir, "mllog.txt"))]
    assert [e["metadata"]["epoch_num"] for e in keys if e["key"] == "epoch_stop"] == [1, 2]


def _deep(depth=100000):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("where", ["record", pytest.param("inner", marks=pytest.mark.slow)])
def test_deeply_nested_json_record_is_reported_corrupt_by_every_command(tmp_path, where):
    (tmp_path / "r.yaml").write_text(RECIPE)
    from recipes import load_recipe

    run_id = load_recipe(str(tmp_path / "r.yaml")).run(0).run_id
    run_dir = tmp_path / "res" / run_id
    run_dir.mkdir(parents=True)
    if where == "record":
        (run_dir / "result.json").write_text(_deep())
    else:  # valid JSON whose nesting would overflow every recursive reader (flatten, copy, W&B, ...)
        (run_dir / "result.json").write_text('{"run_id": "%s", "config": %s}' % (run_id, _deep(5000)))
    commands = [["status", tmp_path / "res", "--no-jobs"], ["collect", tmp_path / "res", "-o", tmp_path / "t.csv"],
                ["run", tmp_path / "r.yaml", "--index", "0", "--results", tmp_path / "res", "--device", "cpu"],
                ["evaluate", run_dir, "--device", "cpu"], ["migrate", tmp_path / "res", "--dry-run"]]
    for command in commands:
        proc = run_cli(command)
        out = proc.stdout + proc.stderr
        assert "RecursionError" not in out and "Traceback" not in out, (command, out)
        assert "nested" in out or "corrupt" in out, (command, out)
        if command[0] in ("run", "evaluate"):
            assert proc.returncode == 2, (command, out)
