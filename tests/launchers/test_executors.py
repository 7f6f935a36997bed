"""A launcher backend is one Executor subclass and one catalog entry: nothing else names it.

``QueueExecutor`` below is a whole backend, registered in-process; ``robustperf launch --scheduler test_exec`` and
``launchers.launch.launch`` use it with no other edit: its scripts, its submission command, the ledger, the
idempotence checks (its queue is asked) and ``status``. Contract tests of every registered backend are
parametrised over the catalog.
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Dict, List, Optional

import pytest

import robustperf
from launchers import QUEUES, ScriptExecutor, get_executor
from launchers.backends import DEFAULT_SCHEDULER, job_environment
from launchers.errors import LaunchError
from launchers.launch import launch
from launchers.plan import plan_launch
from launchers.status import collect_status
from recipes import catalog, load_recipe
from recipes.catalog import ExecutorEntry
from results import new_record, write_record

from .conftest import executor_names, recorder, script_executor_names

NAME = "test_exec"
JOB_ID = "17"
#: a stand-in queue: "submitting" runs every task of the array script at once, as the queue would, one by one
SUBMIT = """
import os, re, subprocess, sys
script = sys.argv[1]
tasks = int(re.search(r"^# tasks=(\\d+)$", open(script).read(), re.M).group(1))
for k in range(tasks):
    subprocess.run(["bash", script], env=dict(os.environ, TEST_JOB=sys.argv[2], TEST_TASK=str(k)), check=True)
print("queued", sys.argv[2])
"""


class QueueExecutor(ScriptExecutor):
    """The whole backend: a script per array, a submission command, its answer, its queue and its variables."""

    script_suffix = ".job"
    array_task_format = "{array}.{task}"
    #: job ids the stand-in queue still lists
    alive: set = set()

    def _make_submission_file_text(self, indices: List[int]) -> str:
        return "\n".join(["#!/bin/bash", f"# tasks={len(indices)}",
                          *self._script_body(indices, "$TEST_TASK")])

    def _make_submission_command(self, script: str, depends_on: Optional[str]) -> List[str]:
        return [sys.executable, "-c", SUBMIT, script, JOB_ID]

    @staticmethod
    def _get_job_id_from_submission_command(output: str) -> str:
        if not output.startswith("queued "):
            raise LaunchError(f"could not find 'queued <id>' in {output!r}")
        return output.split()[1]

    @classmethod
    def alive_jobs(cls, job_ids):
        return {str(j) for j in job_ids} & cls.alive

    @classmethod
    def task_environment(cls, array_job_id: str, position: int) -> Dict[str, str]:
        return {"TEST_JOB": str(array_job_id), "TEST_TASK": str(position)}

    @classmethod
    def job_from_environment(cls, env):
        if not env.get("TEST_JOB"):
            return None
        return {"job_id": f"{env['TEST_JOB']}.{env['TEST_TASK']}", "array_job_id": env["TEST_JOB"],
                "array_task_id": env["TEST_TASK"]}


@pytest.fixture
def test_exec():
    catalog.register(ExecutorEntry(name=NAME, impl=QueueExecutor, doc="a stand-in queue"))
    QueueExecutor.alive = set()
    try:
        yield QueueExecutor
    finally:
        catalog.unregister("executors", NAME)


def test_a_registered_backend_is_offered_and_its_scripts_are_printed(test_exec, tmp_path, tiny_recipe, capsys):
    results = tmp_path / "res"
    code = robustperf.main(["launch", str(tiny_recipe), "--scheduler", NAME, "--dry-run", "--results", str(results)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("# tasks=2") == 1 and "INDICES=(0 1)" in out and "# submit: (cd " in out
    ledger = json.loads(next(results.glob("_launch/*/launch.json")).read_text())
    assert ledger["scheduler"] == NAME and [j["scheduler"] for j in ledger["jobs"]] == [NAME]
    assert load_recipe(str(tiny_recipe), [f"launch.scheduler={NAME}"]).launch.scheduler == NAME
    args = robustperf.build_parser().parse_args(["tune", str(tiny_recipe), "--scheduler", NAME])
    assert args.scheduler == NAME


def test_a_registered_backend_submits_and_its_queue_is_asked(test_exec, tmp_path, tiny_recipe, monkeypatch):
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("RECORD_TO", str(log))
    recipe = load_recipe(str(tiny_recipe))
    results = str(tmp_path / "res")
    result = launch(recipe, scheduler=NAME, results_dir=results, python=str(recorder(tmp_path)))
    assert [(j.scheduler, j.job_id) for j in result.jobs] == [(NAME, JOB_ID)]
    assert pathlib.Path(result.jobs[0].script).suffix == ".job"
    calls = [json.loads(line)["argv"] for line in log.read_text().splitlines()]
    assert [c[c.index("--index") + 1] for c in calls] == ["0", "1"]

    test_exec.alive = {JOB_ID}  # the queue still lists the job: a second launch submits nothing
    plan = plan_launch(recipe.runs(), results, scheduler=NAME)
    assert not plan.submit and {why for _, why in plan.in_flight} == {f"{NAME} job {JOB_ID} is queued or running"}

    run = recipe.runs()[0]  # a record written inside task 0 of the array: the queue is asked for its job
    record = new_record(run.run_id, run.name, run.config)
    record["status"] = "running"
    record["job"].update(scheduler=NAME, **test_exec.job_from_environment(test_exec.task_environment("18", 0)))
    write_record(results, record)
    test_exec.alive = {"18.0"}
    (entry,) = [r for r in collect_status(results, None, QUEUES).runs if r.run_id == run.run_id]
    assert entry.note is None
    test_exec.alive = set()
    (entry,) = [r for r in collect_status(results, None, QUEUES).runs if r.run_id == run.run_id]
    assert entry.note == "its job is gone: launch again to resume"


def test_an_unregistered_backend_is_refused(tmp_path, tiny_recipe, capsys):
    assert NAME not in catalog.names("executors")
    with pytest.raises(SystemExit) as err:
        robustperf.main(["launch", str(tiny_recipe), "--scheduler", NAME, "--dry-run"])
    assert err.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(LaunchError, match=f"unknown scheduler '{NAME}'.*registered: local"):
        get_executor(NAME)


# ---------------------------------------------------------------- every registered backend


@pytest.mark.parametrize("name", executor_names())
def test_the_catalog_names_an_executor_class(name):
    cls = get_executor(name)
    assert QUEUES[name] == cls.alive_jobs
    assert cls(".", None, dry_run=True, name=name).name == name


@pytest.mark.parametrize("name", script_executor_names())
def test_a_task_knows_its_job_from_its_environment(name):
    """What a task reads of its environment names the job its record carries, in a form the queue lists."""
    cls = get_executor(name)
    env = cls.task_environment("4242", 1)
    found = job_environment(env)
    assert found["scheduler"] == name and found["array_job_id"] == "4242"
    assert cls.record_job_ids(found)  # the ids `alive_jobs` is asked about a record of this task
    assert cls.job_from_environment({}) is None


def test_outside_any_job_a_run_is_the_default_schedulers():
    assert job_environment({}) == {"scheduler": DEFAULT_SCHEDULER, "job_id": None, "array_job_id": None,
                                   "array_task_id": None}
    assert get_executor(DEFAULT_SCHEDULER).runs_here
