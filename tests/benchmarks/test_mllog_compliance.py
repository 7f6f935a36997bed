"""The MLPerf log of a real run passes the official compliance checker's common rules, also after re-evaluation.

The checker (``python -m mlperf_logging.compliance_checker``) runs as a process on the log of a real tiny digits
run, with each ruleset's own ``common.yaml`` rules. The only change made to them: the ``submission_division``
rule's POST no longer enqueues the division's rules, which accept only MLPerf's own benchmark names
(``submission_benchmark`` in retinanet, flux1, ...): a rule no other benchmark suite can pass. The test checks
separately that the default command fails on that one rule only.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.benchmarks._training_helpers import run_cli

RULESETS = ("4.1.0", "5.1.0", "6.1.0")
RECIPE = """\
name: mllog
base:
  seed: 1
  data: {name: digits, batch_size: 128}
  model: {arch: wrn, depth: 10, width: 1}
  training: {loss: at, epochs: 2, warmup_epochs: 0, lr: 0.1, select_subset: 64, select_pgd_steps: 2, select_on: test}
  attack: {norm: linf, eps: 0.1, steps: 1}
  evaluation: {pgd_steps: 2, autoattack: null}
  tracking: {submission_org: Test Lab, submission_division: open}
"""


def _common_rules(ruleset, folder):
    """The ruleset's own common.yaml, without the enqueue of the division's benchmark-name rules."""
    import mlperf_logging.compliance_checker as checker

    path = os.path.join(os.path.dirname(checker.__file__), f"training_{ruleset}", "common.yaml")
    with open(path) as fh:
        rules = yaml.load(fh, Loader=yaml.BaseLoader)
    for rule in rules:
        if "KEY" in rule and rule["KEY"]["NAME"] == "submission_division":
            statements = rule["KEY"]["POST"].split(";")
            assert any("enqueue_config" in st for st in statements)
            rule["KEY"]["POST"] = ";".join(st for st in statements if "enqueue_config" not in st)
    out = os.path.join(folder, f"common-{ruleset}.yaml")
    with open(out, "w") as fh:
        yaml.safe_dump(rules, fh)
    return out


def _check(log, ruleset, folder, config=None):
    cmd = [sys.executable, "-m", "mlperf_logging.compliance_checker", "--usage", "training", "--ruleset", ruleset,
           "--log_output", os.path.join(folder, f"checker-{ruleset}.log")]
    if config:
        cmd += ["--config", config]
    proc = subprocess.run(cmd + [str(log)], capture_output=True, text=True, cwd=folder, timeout=120)
    return proc.returncode, proc.stdout + proc.stderr


def _events(log):
    return [json.loads(line.split(":::MLLOG ", 1)[1]) for line in open(log) if line.startswith(":::MLLOG ")]


@pytest.fixture
def run_dir(cached_run, tmp_path_factory):
    """The run of RECIPE (cached; each test gets its own copy)."""
    tmp = tmp_path_factory.mktemp("mllog")
    (tmp / "r.yaml").write_text(RECIPE)
    cached_run(["run", tmp / "r.yaml", "--index", "0", "--results", tmp / "res", "--device", "cpu",
                "--no-progress", "--no-flops"])
    (run,) = [p for p in (tmp / "res").iterdir() if p.is_dir()]
    return run


@pytest.mark.parametrize("ruleset", RULESETS)
def test_real_run_log_passes_the_checkers_common_rules(run_dir, ruleset, tmp_path):
    code, out = _check(run_dir / "mllog.txt", ruleset, str(tmp_path), _common_rules(ruleset, str(tmp_path)))
    assert code == 0 and "SUCCESS" in out, out


def test_default_checker_command_fails_only_on_mlperfs_benchmark_names(run_dir, tmp_path):
    code, out = _check(run_dir / "mllog.txt", "5.1.0", str(tmp_path))
    failures = [line.split(" - ", 1)[-1].strip() for line in out.splitlines()
                if line.startswith(("ERROR", "WARNING", "Required", "CHECK", "Failed"))]
    assert code == 1 and failures == ["Required EXACTLY_ONE occurrence of 'submission_benchmark' but found 0",
                                      "FAILED"], out


def test_log_structure_follows_the_run(run_dir):
    events = _events(run_dir / "mllog.txt")
    keys = [e["key"] for e in events]
    assert keys.index("init_start") < keys.index("init_stop") < keys.index("run_start") < keys.index("epoch_start")
    value = {e["key"]: e["value"] for e in events}
    assert value["submission_org"] == "Test Lab" and value["submission_division"] == "open"
    assert value["submission_platform"].startswith("1x") and value["eval_samples"] == 360
    assert value["global_batch_size"] == 128 and value["train_samples"] == (1437 // 128) * 128
    starts = [e for e in events if e["key"] == "epoch_start"]
    stops = [e for e in events if e["key"] == "epoch_stop"]
    assert [e["metadata"]["epoch_num"] for e in starts] == [e["metadata"]["epoch_num"] for e in stops] == [1, 2]
    assert all(b["time_ms"] > a["time_ms"] for a, b in zip(starts, stops))  # epochs last, not zero-length
    record = json.loads((run_dir / "result.json").read_text())
    final = [e for e in events if e["key"] == "eval_accuracy" and e["metadata"].get("robustperf_final")]
    assert len(final) == 1 and final[0]["value"] == record["accuracy"]["clean"]
    assert final[0]["metadata"]["epoch_num"] == record["training"]["best_epoch"]
    assert keys.count("run_stop") == 1 and keys[-1] == "run_stop" and events[-1]["metadata"]["status"] == "success"
    assert all(k.startswith("robustperf_") for k in keys if k not in _standard_keys())


def _standard_keys():
    from mlperf_logging.mllog import constants as mlc

    return {v for k, v in vars(mlc).items() if k.isupper() and isinstance(v, str)}


@pytest.mark.slow
def test_reevaluation_rewrites_the_final_section(run_dir, tmp_path):
    before = _events(run_dir / "mllog.txt")
    proc = run_cli(["evaluate", run_dir, "--which", "last", "--set", "evaluation.pgd_steps=1", "--fresh",
                    "--device", "cpu"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    record = json.loads((run_dir / "result.json").read_text())
    events = _events(run_dir / "mllog.txt")
    final = [e for e in events if e["metadata"].get("robustperf_final")]
    acc = {e["key"]: e for e in final}
    assert acc["eval_accuracy"]["value"] == record["accuracy"]["clean"]
    assert acc["robustperf_pgd_accuracy"]["value"] == record["accuracy"]["pgd"]
    assert acc["eval_accuracy"]["metadata"]["epoch_num"] == record["training"]["epochs_completed"]
    assert [e["key"] for e in events].count("run_stop") == 1 and [e["key"] for e in events].count("eval_stop") == 3
    # everything before the final section is untouched
    head = [e for e in before if not e["metadata"].get("robustperf_final")]
    assert events[:len(head)] == head
    for ruleset in RULESETS:
        code, out = _check(run_dir / "mllog.txt", ruleset, str(tmp_path), _common_rules(ruleset, str(tmp_path)))
        assert code == 0, out
