"""``robustperf tune``: the search section's validation, a 6-trial local TPE study on digits that survives a
SIGKILL of its driver and resumes to exactly 6 trials, collect --survival on its runs, and optuna-dashboard
reading the study back over HTTP (loopback only)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest

from recipes import RecipeError
from recipes import load_recipe
from tests.conftest import stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPE = os.path.join(ROOT, "recipes", "tune-digits.yaml")


def _write(tmp_path, search: str) -> str:
    path = tmp_path / "r.yaml"
    path.write_text("name: t\nbase: {data: {name: digits}, model: {depth: 10, width: 1}}\nsearch:\n" + search)
    return str(path)


@pytest.mark.parametrize("search,where,message", [
    ("  trials: 3\n  objectives: {accuracy.clean: max}\n  space: {training.lrr: {uniform: [0.1, 1]}}\n",
     "search.space.training.lrr", "did you mean 'training.lr'"),
    ("  trials: 3\n  objectives: {accuracy.clean: up}\n  space: {training.lr: {uniform: [0.1, 1]}}\n",
     "search.objectives.accuracy.clean", "direction must be max or min"),
    ("  trials: 3\n  objectives: {accuracy.clean: max}\n  space: {training.lr: {log_uniform: [0, 1]}}\n",
     "search.space.training.lr.log_uniform", "must be > 0.0 (as a value of training.lr)"),
    ("  trials: 3\n  objectives: {accuracy.clean: max}\n  space: {training.momentum: {log_uniform: [0, 1]}}\n",
     "search.space.training.momentum.log_uniform", "a log scale needs low > 0"),
    ("  trials: 3\n  objectives: {accuracy.clean: max}\n  space: {data.batch_size: {int: [0, 8]}}\n",
     "search.space.data.batch_size.int", "must be >= 1"),
    ("  trials: 3\n  objectives: {accuracy.clean: max}\n  space: {training.loss: {choice: [at, tradez]}}\n",
     "search.space.training.loss.choice", "did you mean 'trades'"),
    ("  trials: 0\n  objectives: {accuracy.clean: max}\n  space: {training.lr: {uniform: [0.1, 1]}}\n",
     "search.trials", "expected an integer"),
    ("  trials: 3\n  objective: {accuracy.clean: max}\n", "search.objective", "did you mean 'search.objectives'"),
])
def test_search_section_is_validated(tmp_path, search, where, message):
    with pytest.raises(RecipeError) as err:
        load_recipe(_write(tmp_path, search))
    assert where in str(err.value) and message in str(err.value) and "r.yaml" in str(err.value)


def test_tune_cli_errors_exit_2(tmp_path):
    from robustperf import main

    bad = _write(tmp_path, "  trials: 3\n  objectives: {accuracy.clen: max}\n  space: {training.lr: "
                           "{uniform: [0.1, 1]}}\n")
    assert main(["tune", bad, "--results", str(tmp_path / "res")]) == 2
    plain = tmp_path / "plain.yaml"
    plain.write_text("name: p\n")
    assert main(["tune", str(plain), "--results", str(tmp_path / "res")]) == 2
    assert main(["tune", RECIPE, "--results", str(tmp_path / "none"), "--status"]) == 2
    recipe = load_recipe(RECIPE, ["search.trials=9", "search.seed=3"])
    assert recipe.search.trials == 9 and recipe.search.seed == 3 and recipe.search.startup_trials == 4


def test_invalid_sampled_configs_are_failed_trials_not_crashes(tmp_path):
    """warmup_epochs 1 with epochs sampled from [1, 1] breaks the recipe's rules in every trial: each is told
    failed with the reason, no run is launched, and the driver finishes."""
    from launchers.tune import tune

    recipe = load_recipe(_write(tmp_path, "  trials: 2\n  objectives: {accuracy.clean: max}\n"
                                          "  space: {training.epochs: {int: [1, 2]}}\n"),
                         ["training.warmup_epochs=2", "training.epochs=3"])
    lines = []
    out = tune(recipe, results_dir=str(tmp_path / "res"), log=lines.append)
    assert out.trials == 2 and out.failed == 2 and out.completed == 0 and out.launched == []
    assert all("warm-up must be shorter than training" in line for line in lines if "failed" in line)
    assert not (tmp_path / "res" / "_launch").exists()


def _trials(results):
    import optuna

    from launchers.tune import storage, tune_folder

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = tune_folder(str(results), "tune-digits")
    if not os.path.exists(os.path.join(folder, "journal.log")):
        return []
    try:
        return optuna.load_study(study_name="tune-digits", storage=storage(folder)).get_trials(deepcopy=False)
    except KeyError:  # the driver has created the journal but not yet the study
        return []


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """The 6-trial study, its driver SIGKILLed once while the second wave runs, then resumed to the end."""
    results = tmp_path_factory.mktemp("tune") / "results"
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    # --set search.* items are the driver's; the runs (and their run ids) never see them
    cmd = [sys.executable, "-m", "robustperf", "tune", RECIPE, "--results", str(results), "--set", "search.seed=0"]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 600
    killed_with = None
    while time.monotonic() < deadline and driver.poll() is None:
        states = [t.state.name for t in _trials(results)]
        if states.count("COMPLETE") >= 2 and "RUNNING" in states:
            os.kill(driver.pid, signal.SIGKILL)  # only the driver: its runs live in their own sessions
            killed_with = states
            break
        time.sleep(0.5)
    driver.wait(timeout=60)
    assert killed_with is not None, "the driver finished before it could be killed: " + driver.stdout.read().decode()
    assert driver.returncode == -signal.SIGKILL
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    return results, killed_with, resumed.stdout


@pytest.mark.timeout(1800)
@pytest.mark.slow
def test_six_trial_tune_survives_sigkill_and_resumes_to_exactly_six(tuned):
    from results import load_record

    results, killed_with, output = tuned
    trials = _trials(results)
    assert [t.number for t in trials] == list(range(6))
    assert all(t.state.name == "COMPLETE" for t in trials), [(t.number, t.state.name, t.user_attrs) for t in trials]
    assert len(killed_with) < 6  # killed mid-study
    run_ids = [t.user_attrs["run_id"] for t in trials]
    for t, run_id in zip(trials, run_ids):
        record = load_record(str(results), run_id)
        assert record["status"] == "completed"
        # told the record's own numbers, in the objectives' order
        assert t.values == [record["accuracy"]["clean"], record["accuracy"]["pgd"], record["timing"]["train_seconds"]]
        for path, value in t.params.items():
            section, key = path.split(".")
            assert record["config"][section][key] == value
    # no trial lost or run twice: every run started exactly once across all launches
    # (a launch the SIGKILL caught between creating its folder and its logs folder has no logs)
    logs = [os.path.join(d, "logs", f) for d in (results / "_launch").iterdir() if (d / "logs").is_dir()
            for f in os.listdir(d / "logs")]
    text = "".join(open(p).read() for p in logs)
    for run_id in set(run_ids):
        assert text.count(f"[{run_id}] starting") == 1, run_id
    assert "Pareto front" in output
    # the driver keeps the hypervolume history on the study (one entry per completed trial), and --status prints it
    import optuna

    from launchers.tune import storage, tune_folder

    study = optuna.load_study(study_name="tune-digits", storage=storage(tune_folder(str(results), "tune-digits")))
    history = study.user_attrs["hypervolume"]["history"]
    assert [n for n, _ in history] == list(range(6))
    assert [hv for _, hv in history] == sorted(hv for _, hv in history)
    assert "history by completed trial:" in output
    assert (results / "_tune" / "tune-digits" / "pareto.csv").exists()
    assert (results / "_tune" / "tune-digits" / "pareto.png").exists()
    # the front as a recipe: its runs are the front's runs (same ids), so launching it again runs nothing new
    front = load_recipe(str(results / "_tune" / "tune-digits" / "pareto.yaml"))
    pareto = pd.read_csv(results / "_tune" / "tune-digits" / "pareto.csv")
    assert {r.run_id for r in front.runs()} == set(pareto["run_id"]) and set(pareto["run_id"]) <= set(run_ids)
    from robustperf import main

    assert main(["tune", RECIPE, "--results", str(results), "--status"]) == 0


@pytest.mark.timeout(1800)
@pytest.mark.slow
def test_collect_survival_gathers_every_trial_run(tuned, tmp_path):
    from robustperf import main

    results, _, _ = tuned
    out = tmp_path / "survival.parquet"
    assert main(["collect", str(results), "--survival", "-o", str(out)]) == 0
    table = pd.read_parquet(out)
    runs = {t.user_attrs["run_id"] for t in _trials(results)}
    assert set(table["run_id"]) == runs
    # one row per test point and configuration, with the run's covariates joined by run_id
    n_test = 360  # digits test split
    assert (table.groupby("run_id").size() == n_test).all()
    for run_id, rows in table.groupby("run_id"):
        assert rows["config.training.lr"].nunique() == 1 and rows["accuracy.clean"].nunique() == 1
    assert {"seconds", "event", "forward_passes", "config.data.batch_size", "timing.train_seconds"} <= set(table)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(1800)
@pytest.mark.slow
def test_optuna_dashboard_reads_the_study_over_http(tuned):
    results, _, _ = tuned
    journal = results / "_tune" / "tune-digits" / "journal.log"
    port = _free_port()
    exe = os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")
    proc = subprocess.Popen([exe, str(journal), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        studies = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(base + "/api/studies", timeout=5) as resp:
                    studies = json.load(resp)["study_summaries"]
                break
            except OSError:
                assert proc.poll() is None, "optuna-dashboard exited"
                time.sleep(0.5)
        assert studies is not None, "optuna-dashboard did not answer within 60 s"
        study = next(s for s in studies if s["study_name"] == "tune-digits")
        with urllib.request.urlopen(f"{base}/api/studies/{study['study_id']}", timeout=30) as resp:
            detail = json.load(resp)
        assert len(detail["trials"]) == 6
        assert sorted(t["number"] for t in detail["trials"]) == list(range(6))
        assert all(t["state"] == "Complete" for t in detail["trials"])
        assert len(detail["best_trials"]) >= 1
    finally:
        stop_process(proc)


@pytest.mark.timeout(900)
@pytest.mark.slurm
@pytest.mark.slow
def test_tune_waves_run_as_slurm_arrays(slurm_cluster, tmp_path):
    """Two trials as one SLURM array of 2 (a wave of K=2): real jobs, told when their records complete."""
    from launchers.tune import tune
    from results import load_record

    results = tmp_path / "results"
    recipe = load_recipe(RECIPE, ["search.trials=2"])
    lines = []
    out = tune(recipe, results_dir=str(results), scheduler="slurm", parallel=2, log=lines.append,
               parameters={"timeout_min": 10})
    assert out.trials == 2 and out.completed == 2 and out.waves == 1, lines
    trials = _trials(results)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        record = load_record(str(results), t.user_attrs["run_id"])
        assert record["job"]["scheduler"] == "slurm" and record["status"] == "completed"
        assert t.values[0] == record["accuracy"]["clean"]
    ledgers = list((results / "_launch").glob("*/launch.json"))
    assert len(ledgers) == 1 and len(json.loads(ledgers[0].read_text())["jobs"]) == 1  # one array per wave


def test_a_second_driver_of_one_study_exits_75_naming_the_first(tmp_path):
    """The probe: two `robustperf tune` on one study. The second told the first's trials again and died with
    "Cannot tell a COMPLETE trial" (exit 1); now it exits 75 at once, one line naming the study and the driver.
    The first, stopped by SIGTERM (as Ctrl-C), releases the study's lock on its way out."""
    results = tmp_path / "results"
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "robustperf", "tune", RECIPE, "--results", str(results), "--trials", "1",
           "--max-parallel", "1", "--set", "search.seed=0"]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and first.poll() is None:
            if "RUNNING" in [t.state.name for t in _trials(results)]:
                break
            time.sleep(0.2)
        assert first.poll() is None, "the first driver ended before the second could start: " + first.stdout.read()
        t0 = time.monotonic()
        second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240, cwd=ROOT)
        second_seconds = time.monotonic() - t0
        from launchers.tune import status_text

        assert f"driver: process {first.pid} on " in status_text(load_recipe(RECIPE), str(results))
        first.send_signal(signal.SIGTERM)  # stops its run too (it checkpoints): nothing left running
        output = first.communicate(timeout=120)[0]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.returncode == 75, second.stdout + second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and second.stdout == "", second.stderr
    assert "study 'tune-digits'" in lines[0] and f"process {first.pid}" in lines[0] and "driver.lock" in lines[0]
    assert "not starting a second driver" in lines[0]
    assert second_seconds < 60  # at once: it never waited for the first's runs
    assert first.returncode == 130, output
    assert not (results / "_tune" / "tune-digits" / "driver.lock").exists()  # released by the first on its way out
    assert [t.state.name for t in _trials(results)] == ["RUNNING"]  # asked, not told: a rerun resumes it
