"""The hypervolume history of a ``robustperf tune`` study: a tiny real study (optuna's journal storage, the
tune-digits recipe's objectives and space, trials told by hand instead of trained), its history printed by
``robustperf tune --status`` (a real subprocess) equal to the hypervolume of the trials so far, the reference
point stated or given (--reference), and the history stored on the study as the user attribute optuna-dashboard
shows (read back over HTTP, loopback only)."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from recipes import load_recipe
from tests.conftest import stop_process

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPE = os.path.join(ROOT, "recipes", "tune-digits.yaml")
#: (clean up, pgd up, train seconds down) told to trials 0..4; trial 2 is failed
VALUES = [(80.0, 20.0, 3.0), (85.0, 10.0, 2.0), None, (70.0, 30.0, 5.0), (75.0, 15.0, 4.0)]


def _union(points, ref):
    """Inclusion-exclusion over the boxes of (minimisation) points: the hand computation."""
    import itertools

    import numpy as np

    total = 0.0
    for k in range(1, len(points) + 1):
        for sub in itertools.combinations(points, k):
            total += (-1) ** (k + 1) * float(np.prod(np.clip(np.subtract(ref, np.max(sub, axis=0)), 0, None)))
    return total


def _hand(values, ref):
    return _union([(-a, -b, c) for a, b, c in values], (-ref[0], -ref[1], ref[2]))


@pytest.fixture()
def study(tmp_path):
    from optuna.trial import TrialState

    from launchers.tune import distributions, open_study, tune_folder

    recipe = load_recipe(RECIPE)
    results = tmp_path / "res"
    study = open_study(recipe, tune_folder(str(results), recipe.name))
    for v in VALUES:
        trial = study.ask(distributions(recipe.search))
        if v is None:
            study.tell(trial, state=TrialState.FAIL)
        else:
            study.tell(trial, list(v))
    return recipe, results, study


def _status(results, *extra):
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-m", "robustperf", "tune", RECIPE, "--results", str(results), "--status",
                          *extra], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    return out


def test_status_prints_the_history_of_the_trials_so_far(study):
    _, results, _ = study
    out = _status(results)
    assert out.returncode == 0, out.stderr
    done = [v for v in VALUES if v is not None]
    # the default reference: worst value of each objective plus 10 % of its range
    ref = (70.0 - 1.5, 10.0 - 2.0, 5.0 + 0.3)
    assert re.search(r"reference \[68\.5, 8\.0, 5\.3\]: worst value of each objective", out.stdout), out.stdout
    history = [(int(n), float(hv)) for n, hv in re.findall(r"trial +(\d+) +hypervolume ([0-9.e+-]+)", out.stdout)]
    assert [n for n, _ in history] == [0, 1, 3, 4]  # completed trials only, in order
    for k, (_, hv) in enumerate(history):
        assert hv == pytest.approx(_hand(done[:k + 1], ref), rel=1e-5)
    assert [hv for _, hv in history] == sorted(hv for _, hv in history)  # never falls with a fixed reference
    # an explicit reference point is used and stated
    out = _status(results, "--reference", "0,0,10")
    assert "reference [0.0, 0.0, 10.0]: given" in out.stdout
    final = float(re.search(r"hypervolume ([0-9.e+-]+) \(reference", out.stdout).group(1))
    assert final == pytest.approx(_hand(done, (0, 0, 10)), rel=1e-5)
    bad = _status(results, "--reference", "0,0")
    assert bad.returncode == 2 and "--reference '0,0': expected 3 finite numbers" in bad.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_history_is_a_study_user_attribute_the_dashboard_shows(study):
    from launchers.tune import tune_folder
    from launchers.tune.indicators import record_hypervolume

    recipe, results, st = study
    part = record_hypervolume(st, recipe.search.objective_names)
    assert [n for n, _ in part["history"]] == [0, 1, 3, 4]
    journal = os.path.join(tune_folder(str(results), recipe.name), "journal.log")
    exe = os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")
    port = _free_port()
    proc = subprocess.Popen([exe, journal, "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(base + "/api/studies", timeout=5) as resp:
                    summaries = json.load(resp)["study_summaries"]
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "optuna-dashboard did not answer"
                time.sleep(0.3)
        summary = next(s for s in summaries if s["study_name"] == recipe.name)
        with urllib.request.urlopen(f"{base}/api/studies/{summary['study_id']}", timeout=30) as resp:
            detail = json.load(resp)
        attrs = {a["key"]: a["value"] for a in detail["user_attrs"]}
        shown = json.loads(attrs["hypervolume"]) if isinstance(attrs["hypervolume"], str) else attrs["hypervolume"]
        assert shown["history"] == part["history"] and shown["reference"] == part["reference"]
    finally:
        stop_process(proc)
