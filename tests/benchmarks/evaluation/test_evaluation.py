"""The evaluation workload on a small CNN trained on digits in the test: AutoAttack against pyautoattack itself,
AutoAttack <= PGD <= clean, eps-ball, resume after SIGKILL and SIGTERM, the record groups and the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from benchmarks.evaluation import (AutoAttackAdapter, EvaluationInterrupted, clean_correct, evaluate,
                                   pgd_correct, run_autoattack)
from benchmarks.autoattack import EPS_TOLERANCE
from benchmarks.interruption import TEST_INTERRUPT_ENV
from recipes import RunConfig
from results import TEMPLATE
from tests.benchmarks import _evaluation_model
from tests.conftest import ROOT

EPS = 0.1
N = 32
BS = 16  # two batches of the clean pass and of APGD-CE: the kill lands between batches of one attack


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine two threads spin-wait on each other and a tiny model's
    attack step takes 10-20 ms instead of under 1 ms."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    from benchmarks.datasets import load_dataset

    return load_dataset("digits", "test")


@pytest.fixture(scope="module")
def trained(small_cnn, tmp_path_factory):
    """(model, path of its state dict): the small CNN after a second of Adam on the digits training split."""
    model = small_cnn()
    path = tmp_path_factory.mktemp("model") / "small_cnn.pt"
    torch.save(model.state_dict(), path)
    return model, path


@pytest.fixture(scope="module")
def reference(trained, digits, tmp_path_factory):
    """The uninterrupted standard AutoAttack on the first N test points (state file, saved every batch)."""
    model, _ = trained
    x, y = digits
    state = tmp_path_factory.mktemp("aa") / "state.json"
    return run_autoattack(model, x[:N], y[:N], eps=EPS, version="standard", seed=0, batch_size=BS,
                          state_path=str(state), save_every_s=0)


def test_standard_autoattack_equals_pyautoattack(trained, digits, reference):
    from pyautoattack import AutoAttack

    model, _ = trained
    x, y = digits
    direct = AutoAttack(model, eps=EPS, norm="Linf", version="standard", seed=0)
    _, y_adv = direct.run_standard_evaluation(x[:N], y[:N], batch_size=BS)
    assert torch.equal(reference.robust_flags, y_adv.eq(y[:N]))
    assert reference.attacks == ["apgd-ce", "apgd-t", "fab-t", "square"] and reference.version == "standard"
    # The model is far from robust at eps 0.1 but not broken: the attacks have work to do.
    assert 0.0 < reference.robust_accuracy < reference.clean_accuracy


def test_autoattack_result_is_consistent(reference):
    per = list(reference.per_attack.values())
    assert list(reference.per_attack) == ["clean", "apgd-ce", "apgd-t", "fab-t", "square"]
    assert all(a >= b for a, b in zip(per, per[1:])), "the worst case over attacks can only go down"
    assert per[-1] == reference.robust_accuracy == reference.robust_count / N
    assert 0.0 < reference.max_perturbation <= EPS + EPS_TOLERANCE
    lo, hi = reference.ci
    assert lo < reference.robust_accuracy < hi and 0.0 <= lo and hi <= 1.0
    assert reference.sessions == 1 and reference.fresh_work and reference.seconds > 0
    assert reference.energy_j is None  # no meter: unmeasured, never 0


def test_autoattack_below_pgd_below_clean(trained, digits, reference):
    model, _ = trained
    x, y = digits
    clean = clean_correct(model, x[:N], y[:N], batch_size=BS)
    pgd = pgd_correct(model, x[:N], y[:N], norm="linf", eps=EPS, steps=10, step_size=2.5 * EPS / 10, batch_size=BS,
                      seed=0)
    assert reference.robust_count <= int(pgd.sum()) <= int(clean.sum())
    assert int(clean.sum()) / N == reference.clean_accuracy
    assert not (pgd & ~clean).any() and not (reference.robust_flags & ~clean).any()


@pytest.mark.slow
def test_resume_after_sigkill_and_sigterm_equals_uninterrupted(trained, digits, reference, tmp_path, monkeypatch):
    """Kill -9 between two batches of APGD-CE, then SIGTERM inside APGD-T; the third call finishes."""
    model, weights = trained
    x, y = digits
    state = tmp_path / "state.json"
    script = (
        "import sys, torch\n"
        "torch.set_num_threads(1)\n"
        "from tests.benchmarks import _evaluation_model as m\n"
        "from benchmarks.datasets import load_dataset\n"
        "from benchmarks.evaluation import EvaluationInterrupted, run_autoattack\n"
        f"model = m.small_cnn(); model.load_state_dict(torch.load({str(weights)!r})); model.eval()\n"
        "x, y = load_dataset('digits', 'test')\n"
        "try:\n"
        f"    run_autoattack(model, x[:{N}], y[:{N}], eps={EPS}, version='standard', seed=0, batch_size={BS},\n"
        f"                   state_path={str(state)!r}, save_every_s=0)\n"
        "except EvaluationInterrupted as err:\n"
        "    print(err, file=sys.stderr); sys.exit(err.exit_code)\n"
    )

    def run(hook):
        env = {**os.environ, TEST_INTERRUPT_ENV: hook, "PYTHONPATH": str(ROOT)}
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)

    killed = run("apgd-ce:1:KILL")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    saved = json.loads(state.read_text())
    assert [d["name"] for d in saved["done"]] == [] and saved["current"]["name"] == "apgd-ce"
    assert saved["current"]["batches_done"] == 1 and not saved["finished"]

    termed = run("apgd-t:1:TERM")
    assert termed.returncode == 128 + signal.SIGTERM, termed.stderr
    assert "interrupted by SIGTERM" in termed.stderr
    saved = json.loads(state.read_text())
    assert [d["name"] for d in saved["done"]] == ["apgd-ce"] and saved["current"]["name"] == "apgd-t"
    assert saved["sessions"] == 2 and saved["seconds"] > 0

    # A resume that redid APGD-T's committed batch would trip this hook and raise EvaluationInterrupted.
    monkeypatch.setenv(TEST_INTERRUPT_ENV, "apgd-t:1:USR1")
    resumed = run_autoattack(model, x[:N], y[:N], eps=EPS, version="standard", seed=0, batch_size=BS,
                             state_path=str(state))
    assert resumed.sessions == 3
    assert torch.equal(resumed.robust_flags, reference.robust_flags)
    assert resumed.per_attack == reference.per_attack
    assert resumed.max_perturbation == reference.max_perturbation
    assert resumed.ci == reference.ci


def test_finished_state_is_reused_and_stale_state_ignored(trained, digits, reference, tmp_path):
    model, _ = trained
    x, y = digits
    state = tmp_path / "state.json"
    first = run_autoattack(model, x[:8], y[:8], eps=EPS, version=["apgd-ce"], seed=0, batch_size=8,
                           state_path=str(state))
    again = run_autoattack(model, x[:8], y[:8], eps=EPS, version=["apgd-ce"], seed=0, batch_size=8,
                           state_path=str(state))
    assert not again.fresh_work and again.sessions == 1 and torch.equal(again.robust_flags, first.robust_flags)
    other_eps = run_autoattack(model, x[:8], y[:8], eps=EPS / 2, version=["apgd-ce"], seed=0, batch_size=8,
                               state_path=str(state))
    assert other_eps.fresh_work and other_eps.sessions == 1  # a state for another eps is not reused


def test_sigterm_outside_a_critical_section_raises_and_keeps_state(trained, digits, tmp_path, monkeypatch):
    model, _ = trained
    x, y = digits
    state = tmp_path / "state.json"
    monkeypatch.setenv(TEST_INTERRUPT_ENV, "clean:0:USR1")
    with pytest.raises(EvaluationInterrupted) as info:
        run_autoattack(model, x[:8], y[:8], eps=EPS, version=["apgd-ce"], seed=0, batch_size=8,
                       state_path=str(state))
    assert info.value.exit_code == 128 + signal.SIGUSR1 and info.value.state_path == str(state)
    saved = json.loads(state.read_text())
    assert saved["clean_flags"] is not None and saved["done"] == []
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # the previous handler is back


def test_unknown_version_and_norm_are_rejected(trained):
    model, _ = trained
    with pytest.raises(ValueError, match="standard, plus, rand"):
        AutoAttackAdapter(model, eps=EPS, version="strong")
    with pytest.raises(ValueError, match="linf, l2"):
        AutoAttackAdapter(model, eps=EPS, norm="l1")


def _config(**evaluation):
    ev = {"pgd_steps": 3, "autoattack": ["apgd-ce"], "autoattack_n": 16, "batch_size": 16, **evaluation}
    return RunConfig.from_dict({"seed": 0, "data": {"name": "digits"}, "model": {"depth": 10, "width": 1},
                                "attack": {"norm": "linf", "eps": EPS}, "evaluation": ev})


def test_evaluate_returns_record_groups_in_record_units(trained, digits, tmp_path):
    model, _ = trained
    x, y = digits
    data = (x[:48], y[:48])
    out = evaluate(model, _config(), str(tmp_path), data=data)
    for group, values in out.items():
        assert set(values) <= set(TEMPLATE[group]), group
    acc = out["accuracy"]
    assert acc["clean_n"] == acc["pgd_n"] == 48 and acc["autoattack_n"] == 16 and acc["which"] == "best"
    assert 50.0 < acc["clean"] <= 100.0 and acc["autoattack"] <= acc["per_attack"]["clean"]  # percent
    assert acc["autoattack_ci"][0] <= acc["autoattack"] <= acc["autoattack_ci"][1]
    assert out["timing"]["attack_seconds"] > 0 and out["timing"]["eval_seconds"] >= out["timing"]["attack_seconds"]
    assert out["energy"] == {"eval_j": None, "eval_kwh": None, "attack_j": None, "attack_kwh": None}
    inference = out["evaluation"]["inference"]
    stream, offline = inference["fp32"]["SingleStream"], inference["fp32"]["Offline"]
    assert 0 < stream["latency_ms_p50"] <= stream["latency_ms_p90"] <= stream["latency_ms_p99"]
    assert offline["images_per_s"] > 0 and offline["batch_size"] == 16
    assert inference["setup"]["flops_per_image"] == 179200 and list(inference) == ["setup", "fp32"]
    assert out["evaluation"]["autoattack_version"] == "custom"
    assert json.loads(json.dumps(out)) == out  # JSON-ready
    # Everything is kept: a second call recomputes nothing and answers the same.
    assert evaluate(model, _config(), str(tmp_path), data=data) == out
    assert (tmp_path / "evaluation" / "best" / "autoattack-state.json").exists()


def test_evaluate_warns_when_autoattack_n_exceeds_the_test_set(trained, digits, tmp_path):
    model, _ = trained
    x, y = digits
    out = evaluate(model, _config(autoattack_n=10000), str(tmp_path), data=(x[:16], y[:16]),
                   measure_inference=False)
    assert out["accuracy"]["autoattack_n"] == 16
    assert any("autoattack_n is 10000" in w for w in out["evaluation"]["warnings"])
    assert out["evaluation"]["inference"] is None


def test_l2_autoattack_equals_pyautoattack(trained, digits):
    from pyautoattack import AutoAttack

    model, _ = trained
    x, y = digits
    ours = run_autoattack(model, x[:16], y[:16], eps=1.0, norm="l2", version=["apgd-ce", "apgd-t"], seed=0,
                          batch_size=8)
    direct = AutoAttack(model, eps=1.0, norm="L2", version="custom", attacks=["apgd-ce", "apgd-t"], seed=0)
    _, y_adv = direct.run_standard_evaluation(x[:16], y[:16], batch_size=8)
    assert torch.equal(ours.robust_flags, y_adv.eq(y[:16]))
    assert 0.0 < ours.max_perturbation <= 1.0 + EPS_TOLERANCE


class _Round(torch.nn.Module):
    """Quantises the input: its gradient is zero everywhere (gradient masking)."""

    def forward(self, x):
        return torch.round(x * 4) / 4


@pytest.mark.parametrize("wrap, attacks, expected", [
    (lambda m: torch.nn.Sequential(torch.nn.Dropout(0.5), m).train(), ["apgd-ce"], "randomized defense"),
    (lambda m: torch.nn.Sequential(m, torch.nn.Softmax(dim=1)), ["apgd-ce"], "probability distribution"),
    (lambda m: torch.nn.Sequential(_Round(), m), ["apgd-t"], "zero gradient"),
], ids=["randomised", "softmax-output", "masked-gradients"])
def test_sanity_warnings_are_surfaced(trained, digits, wrap, attacks, expected, caplog):
    model, _ = trained
    x, y = digits
    result = run_autoattack(wrap(model), x[:8], y[:8], eps=EPS, version=attacks, seed=0, batch_size=8)
    assert any(expected in w for w in result.warnings), result.warnings
    assert any(expected in r.getMessage() for r in caplog.records if r.name == "robustperf.evaluation")


def test_evaluate_with_an_energy_meter_fills_kwh(trained, digits, tmp_path):
    from benchmarks.measurement import EnergyMeter
    from tests.benchmarks._fake_power import LinearPower, install

    model, _ = trained
    x, y = digits
    cfg = _config()
    remove = install(lambda devices, measurement, clock: LinearPower(clock, 1, 300.0))
    try:
        with EnergyMeter(cfg.measurement, [], source="fake") as meter:
            out = evaluate(model, cfg, str(tmp_path), data=(x[:32], y[:32]), meter=meter)
            windows = meter.totals()["windows"]
    finally:
        remove()
    pue = cfg.measurement.pue
    # 300 W: energy = 300 W x the window's seconds (x PUE for kWh), for the whole evaluation, the attack and each
    # inference scenario. The meter reads its clock and the power counter one after the other, so on a loaded
    # machine the two can be a scheduler slice apart: the energy's implied seconds agree within 5 ms.
    implied = lambda joules: joules / 300.0  # noqa: E731
    slack = 5e-3
    assert implied(out["energy"]["eval_kwh"] * 3.6e6 / pue) == pytest.approx(out["timing"]["eval_seconds"], abs=slack)
    assert implied(out["energy"]["attack_kwh"] * 3.6e6 / pue) == pytest.approx(out["timing"]["attack_seconds"],
                                                                              abs=slack)
    assert out["timing"]["eval_seconds"] == pytest.approx(windows["eval"]["seconds"])
    assert out["timing"]["attack_seconds"] == pytest.approx(windows["attack"]["seconds"])
    inference = out["evaluation"]["inference"]
    stream, offline = inference["fp32"]["SingleStream"], inference["fp32"]["Offline"]
    # One window per scenario around its timed queries / passes (warm-up outside): 300 W x seconds / images.
    assert implied(stream["energy_j_per_image"] * stream["queries"]) == pytest.approx(stream["energy_seconds"],
                                                                                      abs=slack)
    assert implied(offline["energy_j_per_image"] * offline["passes"] * offline["batch_size"]) == pytest.approx(
        offline["energy_seconds"], abs=slack)
    assert stream["energy_seconds"] + offline["energy_seconds"] == pytest.approx(windows["inference"]["seconds"])
    assert inference["setup"]["energy_source"] == stream["energy_source"] == "fake"


@pytest.mark.gpu
def test_autoattack_on_cuda_equals_pyautoattack(trained, digits):
    from pyautoattack import AutoAttack

    model, _ = trained
    x, y = digits
    cuda = _evaluation_model.small_cnn().cuda().eval()
    cuda.load_state_dict(model.state_dict())
    ours = run_autoattack(cuda, x[:N], y[:N], eps=EPS, version="standard", seed=0, batch_size=BS)
    direct = AutoAttack(cuda, eps=EPS, norm="Linf", version="standard", seed=0, device="cuda")
    _, y_adv = direct.run_standard_evaluation(x[:N], y[:N], batch_size=BS)
    assert torch.equal(ours.robust_flags, y_adv.cpu().eq(y[:N]))
    cost = evaluate(cuda, _config(), "/tmp/robustperf-gpu-eval-test", data=(x[:32], y[:32]), fresh=True)
    assert cost["evaluation"]["inference"]["fp32"]["device"].startswith("cuda")
