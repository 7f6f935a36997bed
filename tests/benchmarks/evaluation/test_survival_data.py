"""Per-point survival data of the evaluation (benchmarks/evaluation/survival.py) on a small CNN trained on
digits: failure times monotone in the attack budget, AutoAttack's cumulative clock across attacks and resumes,
the minimal-eps FGM, and survival.parquet beside the record."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks.evaluation import EvaluationInterrupted, evaluate, run_autoattack
from benchmarks.interruption import TEST_INTERRUPT_ENV
from benchmarks.evaluation.survival import COLUMNS, fgm_min_eps, pgd_trace
from benchmarks.measurement.passes import PassCounter
from benchmarks.measurement.trace import Trace
from recipes import RunConfig, catalog, section_fields

EPS = 0.1
N = 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model(small_cnn):
    return small_cnn()


@pytest.fixture(scope="module")
def data():
    from benchmarks.datasets import load_dataset

    x, y = load_dataset("digits", "test")
    return x[:N], y[:N]


def test_pgd_failure_times_are_monotone_in_the_budget(model, data):
    x, y = data
    runs = {steps: pgd_trace(model, x, y, norm="linf", eps=EPS, steps=steps, step_size=0.02, batch_size=32, seed=0)
            for steps in (2, 5, 12)}
    traces = {k: v[1] for k, v in runs.items()}
    assert all(len(t) == N for t in traces.values())
    short, mid, long = traces[2], traces[5], traces[12]
    assert sum(short.event) < sum(mid.event) < sum(long.event) < N, "the model must be neither robust nor broken"
    for a, b, budget in ((short, mid, 2), (mid, long, 5)):
        for i in range(N):
            # the observed time (iterations, passes) never shrinks with a bigger budget, events are only gained,
            # and a point that failed within the small budget fails at the same iterate with the big one
            assert b.iterations[i] >= a.iterations[i] and b.forward_passes[i] >= a.forward_passes[i]
            assert b.event[i] or not a.event[i]
            if a.event[i]:
                assert b.iterations[i] == a.iterations[i]
            else:
                assert a.iterations[i] == budget and (not b.event[i] or b.iterations[i] >= budget)
    # seconds: amortised per point, positive for attacked points, growing with the iterate that broke them
    t = long
    attacked = [i for i in range(N) if t.clean_correct[i]]
    assert all(t.seconds[i] > 0 for i in attacked)
    assert all(t.seconds[i] == 0 and t.event[i] for i in range(N) if not t.clean_correct[i])
    # PGD accuracy is unchanged by the tracing: robust = clean and final iterate correct
    robust = runs[12][0]
    assert all(robust[i] for i in range(N) if not long.event[i])  # never fooled at any iterate: robust
    assert not any(robust[i] for i in range(N) if not long.clean_correct[i])


class _Loaded(torch.nn.Module):
    """The same model on a loaded machine: every forward waits ``delay`` seconds (another job's share of it)."""

    def __init__(self, model: torch.nn.Module, delay: float):
        super().__init__()
        self.model, self.delay = model, delay

    def forward(self, x):
        time.sleep(self.delay)
        return self.model(x)


def test_pgd_passes_to_failure_do_not_depend_on_the_machines_load(model, data):
    """Seconds measure the machine as much as the attack; the passes to failure do not (issue 22: 46x)."""
    x, y = data
    kwargs = dict(norm="linf", eps=EPS, steps=5, step_size=0.02, batch_size=32, seed=0)
    quiet = pgd_trace(model, x, y, **kwargs)[1]
    loaded = pgd_trace(_Loaded(model, 0.05), x, y, **kwargs)[1]
    assert loaded.event == quiet.event and loaded.iterations == quiet.iterations
    assert loaded.forward_passes == quiet.forward_passes and loaded.backward_passes == quiet.backward_passes
    attacked = [i for i in range(N) if quiet.clean_correct[i]]
    assert np.median([loaded.seconds[i] / quiet.seconds[i] for i in attacked]) > 2
    # iterate i costs i + 1 forwards and i backwards (to the input); censored: the budget, the final check included
    for i in attacked:
        assert quiet.forward_passes[i] == quiet.iterations[i] + 1 and quiet.backward_passes[i] == quiet.iterations[i]
    censored = [i for i in attacked if not quiet.event[i]]
    assert censored and all(quiet.forward_passes[i] == 6 and quiet.backward_passes[i] == 5 for i in censored)
    assert all(quiet.backward_passes[i] == 0 for i in range(N) if not quiet.clean_correct[i])
    # what really ran, counted by hooks: per point the censored budget and the clean check
    with PassCounter(model) as counter:
        pgd_trace(model, x, y, **kwargs)
    assert (counter.forward_rows, counter.backward_rows) == (N * (6 + 1), N * 5)


def test_an_attack_without_iterates_is_charged_the_passes_it_ran(model, data):
    x, y = data
    trace = pgd_trace(model, x, y, norm="linf", eps=EPS, steps=3, step_size=0.0, batch_size=32, seed=0,
                      attack="fgm")[1]
    attacked = [i for i in range(N) if trace.clean_correct[i]]
    # fgm: one forward and one backward for the gradient, then the final check; not "steps + 1" forwards
    assert all(trace.forward_passes[i] == 2.0 and trace.backward_passes[i] == 1.0 for i in attacked)


def test_a_trace_saved_before_backward_passes_were_counted_reads_them_as_unknown():
    saved = Trace("pgd-3")
    saved.add(True, True, "pgd", 0.1, 2, 3.0, 0.1, backward_passes=2.0)
    old = {k: v for k, v in saved.to_dict().items() if k != "backward_passes"}
    back = Trace.from_dict(old)
    assert len(back.backward_passes) == 1 and np.isnan(back.backward_passes[0])


def test_fgm_min_eps_monotone_in_eps_budget(model, data):
    x, y = data
    small = fgm_min_eps(model, x, y, norm="linf", eps_max=0.2, steps=4, batch_size=32)[1]
    big = fgm_min_eps(model, x, y, norm="linf", eps_max=0.4, steps=8, batch_size=32)[1]  # same 0.05 grid
    assert 0 < sum(small.event) < sum(big.event)
    for i in range(N):
        assert big.eps[i] >= small.eps[i] and (big.event[i] or not small.event[i])
        if small.event[i] and small.clean_correct[i]:
            assert big.eps[i] == pytest.approx(small.eps[i]) and small.attack[i] == "fgm"
        elif small.clean_correct[i]:
            assert small.eps[i] == pytest.approx(0.2)
    # the passes: the clean check, the gradient's forward and backward, one forward per eps level tried
    with PassCounter(model) as counter:
        fgm_min_eps(model, x, y, norm="linf", eps_max=0.2, steps=4, batch_size=32)
    attacked = [i for i in range(N) if small.clean_correct[i]]
    assert all(small.backward_passes[i] == 1.0 and 3 <= small.forward_passes[i] <= 6 for i in attacked)
    assert counter.backward_rows == N
    assert counter.forward_rows == sum(small.forward_passes[i] for i in attacked) + 2 * (N - len(attacked))


def test_autoattack_clock_runs_across_attacks_and_survives_a_resume(model, data, tmp_path, monkeypatch):
    x, y = data
    attacks = ["apgd-ce", "apgd-t"]
    reference = run_autoattack(model, x, y, eps=EPS, version=attacks, seed=0, batch_size=32)
    trace = reference.trace
    assert trace.config == "autoattack-custom" and len(trace) == N
    fooled = [i for i in range(N) if trace.clean_correct[i] and trace.event[i]]
    censored = [i for i in range(N) if not trace.event[i]]
    assert fooled and censored
    assert [not e for e in trace.event] == reference.robust_flags.tolist()
    assert {trace.attack[i] for i in fooled} <= set(attacks)
    # a censored point was attacked by every attack: its clock is past every point broken by the first one
    first = [i for i in fooled if trace.attack[i] == "apgd-ce"]
    assert min(trace.seconds[i] for i in censored) > max(trace.seconds[i] for i in first) > 0
    assert all(trace.iterations[i] == 2 for i in censored)
    assert all(trace.forward_passes[i] > 1 for i in censored)
    # backward passes counted by hooks (pyautoattack's perturb returns no per-point counts): APGD takes one
    # gradient per iteration, so a censored point got about as many backwards as forwards; the amortised counts
    # add up to what ran
    assert all(0 < trace.backward_passes[i] <= trace.forward_passes[i] for i in censored)
    assert all(trace.backward_passes[i] > 0.8 * trace.forward_passes[i] for i in censored)
    with PassCounter(model) as counter:
        run_autoattack(model, x, y, eps=EPS, version=attacks, seed=0, batch_size=32)
    assert sum(trace.backward_passes) == pytest.approx(counter.backward_rows)

    state = tmp_path / "state.json"
    monkeypatch.setenv(TEST_INTERRUPT_ENV, "apgd-t:1:USR1")
    with pytest.raises(EvaluationInterrupted):
        run_autoattack(model, x, y, eps=EPS, version=attacks, seed=0, batch_size=32, state_path=str(state),
                       save_every_s=0)
    monkeypatch.delenv(TEST_INTERRUPT_ENV)
    resumed = run_autoattack(model, x, y, eps=EPS, version=attacks, seed=0, batch_size=32, state_path=str(state))
    assert resumed.sessions == 2
    assert resumed.trace.event == trace.event and resumed.trace.attack == trace.attack
    assert resumed.trace.iterations == trace.iterations
    assert resumed.trace.backward_passes == pytest.approx(trace.backward_passes)
    assert all(s > 0 for s, ok in zip(resumed.trace.seconds, trace.clean_correct) if ok)


def test_a_state_from_before_backward_counts_resumes_with_them_unknown(model, data, tmp_path, monkeypatch):
    import json

    x, y = data
    state = tmp_path / "state.json"
    monkeypatch.setenv(TEST_INTERRUPT_ENV, "apgd-ce:1:USR1")
    with pytest.raises(EvaluationInterrupted):
        run_autoattack(model, x, y, eps=EPS, version=["apgd-ce"], seed=0, batch_size=32, state_path=str(state),
                       save_every_s=0)
    monkeypatch.delenv(TEST_INTERRUPT_ENV)
    saved = json.loads(state.read_text())
    del saved["point_backwards"]  # as the adapter wrote it before backward passes were counted
    state.write_text(json.dumps(saved))
    trace = run_autoattack(model, x, y, eps=EPS, version=["apgd-ce"], seed=0, batch_size=32,
                           state_path=str(state)).trace
    attacked = [i for i in range(N) if trace.clean_correct[i]]
    assert all(np.isnan(trace.backward_passes[i]) for i in attacked)  # unknown, never a partial count
    assert all(trace.backward_passes[i] == 0 for i in range(N) if not trace.clean_correct[i])


def test_evaluate_writes_survival_parquet_beside_the_record(model, data, tmp_path):
    x, y = data
    cfg = RunConfig.from_dict({"seed": 0, "data": {"name": "digits"}, "model": {"depth": 10, "width": 1},
                               "attack": {"norm": "linf", "eps": EPS},
                               "evaluation": {"pgd_steps": 3, "autoattack": ["apgd-ce"], "autoattack_n": 16,
                                              "batch_size": 16, "fgm_steps": 5}})
    run_dir = tmp_path / "abc123def456"
    out = evaluate(model, cfg, str(run_dir), data=(x[:32], y[:32]), measure_inference=False)
    pointer = out["survival"]
    assert pointer["file"] == "survival.parquet" and pointer["rows"] == 32 + 32 + 16
    assert pointer["configs"] == ["pgd-3", "fgm-min-eps", "autoattack-custom"]
    table = pd.read_parquet(run_dir / "survival.parquet")
    assert tuple(table.columns) == COLUMNS and len(table) == pointer["rows"]
    assert set(table["run_id"]) == {"abc123def456"} and set(table["which"]) == {"best"}
    assert table.groupby("config")["point"].apply(lambda p: list(p) == list(range(len(p)))).all()
    assert {c: int(v) for c, v in table.groupby("config")["event"].sum().items()} == pointer["events"]
    fgm = table[(table["config"] == "fgm-min-eps") & table["event"] & table["clean_correct"]]
    assert np.allclose(fgm["eps"] / (EPS / 5), np.round(fgm["eps"] / (EPS / 5)))
    # a second call recomputes nothing and rewrites the same table
    again = evaluate(model, cfg, str(run_dir), data=(x[:32], y[:32]), measure_inference=False)
    assert again["survival"] == pointer
    assert pd.read_parquet(run_dir / "survival.parquet").equals(table)


def test_the_evaluation_attack_is_a_recipe_choice(model, data, tmp_path):
    """evaluation.attack picks the robust evaluation's attack from the catalog's evaluation role: the default is
    PGD (the numbers of before), fgm gives fgm's robustness under the same record fields."""
    from benchmarks.attacks import create_attack
    from benchmarks.evaluation import pgd_correct

    x, y = data
    choices = set(section_fields("evaluation")["attack"]["choices"])
    assert "pgd" in choices and choices == {n for n, e in catalog.entries("attacks").items() if "evaluation" in e.roles}
    base = {"seed": 0, "data": {"name": "digits"}, "model": {"depth": 10, "width": 1},
            "attack": {"norm": "linf", "eps": EPS},
            "evaluation": {"pgd_steps": 3, "autoattack": None, "batch_size": 16}}
    outs = {}
    for attack in ("pgd", "fgm"):
        cfg = RunConfig.from_dict({**base, "evaluation": {**base["evaluation"], "attack": attack}})
        outs[attack] = evaluate(model, cfg, str(tmp_path / attack), data=(x, y), measure_inference=False)
        assert outs[attack]["survival"]["configs"] == [f"{attack}-3"]
    default = evaluate(model, RunConfig.from_dict(base), str(tmp_path / "default"), data=(x, y),
                       measure_inference=False)
    assert default["accuracy"] == outs["pgd"]["accuracy"]
    # fgm's accuracy is the pointwise worst case over {clean, one eps step along the gradient's sign}
    x_adv = create_attack("fgm", model, norm="linf", eps=EPS, steps=3, step_size=0.0)(x, y)
    with torch.no_grad():
        clean = model(x).argmax(1).eq(y)
        fooled = model(x_adv).argmax(1)
    expected = 100.0 * float((clean & fooled.eq(y)).float().mean())
    assert outs["fgm"]["accuracy"]["pgd"] == pytest.approx(expected)
    assert pgd_correct(model, x, y, norm="linf", eps=EPS, steps=3, step_size=0.0, batch_size=16, seed=0,
                       attack="fgm").float().mean().item() * 100 == pytest.approx(expected)
