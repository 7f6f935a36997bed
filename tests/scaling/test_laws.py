"""Power laws: the reference study's published numbers, the estimator contract, binning, failure modes."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scaling.errors import ConvergenceError, InsufficientDataError, NotFittedError, UserError
from scaling.laws import (FITTERS, EnvelopePowerLaw, PowerLawNLS, PowerLawOLS, bin_edges, envelope_indices,
                          invert_power_law, power_law)


def test_envelope_reproduces_the_paper(published):
    x = published["train_flops"] * published["epochs"]
    law = EnvelopePowerLaw().fit(x, published["aa_robust_acc"])
    # paper (arXiv:2312.13131): C ~ 50.86, alpha ~ 0.0105 on 19 log bins, collapsed runs dropped
    assert law.C_ == pytest.approx(50.856, rel=1e-3)
    assert law.alpha_ == pytest.approx(0.010460, rel=1e-3)
    assert (law.n_used_, law.dropped_, law.n_) == (272, 47, 19)
    kept = x[published["aa_robust_acc"] > 0]
    np.testing.assert_allclose(law.edges_, np.logspace(np.log10(kept.min()), np.log10(kept.max()), 20))
    assert law.alpha_ci_[0] < law.alpha_ < law.alpha_ci_[1] and law.alpha_ci_[0] > 0
    assert law.C_ci_[0] < law.C_ < law.C_ci_[1]
    assert law.ols_.alpha_ == pytest.approx(law.alpha_, rel=0.05)
    assert 0.5 < law.r2_ <= 1


def test_electricity_cost_reproduces_the_paper(published):
    x = published["train_flops"] * published["epochs"]
    fit = PowerLawOLS().fit(x, published["train_electricity_cost"] * published["epochs"])
    assert fit.alpha_ == pytest.approx(0.9504, rel=1e-3)  # paper: ~0.95
    assert fit.n_ == 319
    assert fit.alpha_ci_[0] < 0.9504 < fit.alpha_ci_[1]
    lo, hi = fit.predict_interval([1e6], "mean")
    plo, phi = fit.predict_interval([1e6], "obs")
    assert plo[0] < lo[0] < fit.predict(1e6) < hi[0] < phi[0]


@pytest.mark.parametrize("name", sorted(FITTERS))
def test_estimator_contract(name):
    cls = FITTERS[name]
    est = cls()
    params = est.get_params()
    assert set(params) == set(inspect.signature(cls.__init__).parameters) - {"self"}
    assert not [a for a in vars(est) if a.endswith("_")]  # the constructor only stores parameters
    with pytest.raises(NotFittedError):
        est.predict([1.0])
    x = np.logspace(3, 9, 60)
    y = power_law(x, 3.0, 0.2)
    assert est.fit(x, y) is est
    fitted = [a for a in vars(est) if a.endswith("_")]
    assert {"C_", "alpha_", "C_ci_", "alpha_ci_", "r2_", "n_"} <= set(fitted)
    for attr in cls._fitted_parameter_names:
        assert hasattr(est, attr)
    assert est.C_ == pytest.approx(3.0, rel=1e-6)
    assert est.alpha_ == pytest.approx(0.2, rel=1e-6)
    np.testing.assert_allclose(est.invert(est.predict([1e5, 1e7])), [1e5, 1e7], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(FITTERS))
def test_too_few_points_is_a_clear_user_error(name):
    with pytest.raises(InsufficientDataError, match="needs at least 3") as info:
        FITTERS[name]().fit([1e3, 1e4], [10.0, 11.0])
    assert isinstance(info.value, UserError)


@pytest.mark.parametrize("name", ["nls", "ols"])
def test_noisy_law_is_recovered_within_its_interval(name):
    rng = np.random.default_rng(1)
    x = np.logspace(12, 18, 200)
    y = power_law(x, 2.0, 0.1) * np.exp(rng.normal(0, 0.02, x.size))
    fit = FITTERS[name]().fit(x, y)
    assert fit.alpha_ci_[0] < 0.1 < fit.alpha_ci_[1]
    assert fit.alpha_ci_[1] - fit.alpha_ci_[0] < 0.01


def test_envelope_keeps_the_best_run_of_each_bin():
    edges = np.array([1.0, 10.0, 100.0, 1000.0])
    x = np.array([2, 3, 20, 30, 40, 1000])
    y = np.array([5, 7, 9, 9, 1, 4])
    idx = envelope_indices(x, y, edges)
    assert list(idx) == [1, 2, 5]  # ties: the first; the right edge belongs to the last bin


def test_collapse_threshold_drops_runs_at_or_below_it():
    x = np.logspace(3, 6, 40)
    y = power_law(x, 20.0, 0.05)
    y[::4] = 10.0
    law = EnvelopePowerLaw(n_bins=5, collapse=10.0).fit(x, y)
    assert law.dropped_ == 10 and law.n_used_ == 30
    assert np.all(law.points_y_ > 10.0)
    with pytest.raises(InsufficientDataError, match="collapse threshold"):
        EnvelopePowerLaw(collapse=100.0).fit(x, y)


def test_linear_bins_differ_from_log_bins(published):
    x = published["train_flops"] * published["epochs"]
    y = published["aa_robust_acc"]
    lin = EnvelopePowerLaw(bin_scale="linear").fit(x, y)
    np.testing.assert_allclose(np.diff(lin.edges_), np.diff(lin.edges_)[0])
    log = EnvelopePowerLaw().fit(x, y)
    assert lin.n_ < log.n_  # linear bins crowd the many small runs into the first bin
    with pytest.raises(ValueError, match="bin scale"):
        bin_edges(x, 19, "cubic")


def test_empty_bins_leave_too_few_points():
    x = np.array([1.0, 1.1, 1.2, 1e6])
    with pytest.raises(InsufficientDataError, match="bins hold runs"):
        EnvelopePowerLaw(n_bins=19).fit(x, [10.0, 11.0, 12.0, 13.0])


def test_nonconvergence_raises_a_checklist():
    with pytest.raises(ConvergenceError) as info:
        PowerLawNLS().fit([1.0, 10.0, 100.0, 1000.0], [0.0, 0.0, 0.0, 0.0])
    text = str(info.value)
    assert "did not converge" in text and "things to check" in text and "--bins" in text


def test_inverting_a_flat_or_falling_law_is_infinite():
    assert invert_power_law(60.0, 50.0, 0.0) == np.inf
    assert invert_power_law(60.0, 50.0, -0.1) == np.inf
    assert invert_power_law(50.0, 50.0, 0.0) == 0.0
    assert invert_power_law(40.0, 50.0, -0.1) == pytest.approx(0.8 ** -10)
    assert invert_power_law(60.0, 50.0, 0.1) == pytest.approx((60 / 50) ** 10)


def test_the_envelope_reports_its_binning_range_on_the_published_table(published):
    """The bins span the kept runs (above the collapse threshold), not all runs; the report says so (issue 22)."""
    x = published["train_flops"] * published["epochs"]
    y = published["aa_robust_acc"]
    rng = EnvelopePowerLaw().fit(x, y).summary()["binning_range"]
    assert rng["rows"] == "kept" and rng["n"] == 272 and "collapse threshold 0 %" in rng["description"]
    assert rng["flops_min"] == pytest.approx(x[y > 0].min()) and rng["flops_max"] == pytest.approx(x[y > 0].max())
    assert x.min() < rng["flops_min"]  # binning all runs would start lower, at a collapsed run: another law
    everything = EnvelopePowerLaw(collapse=-1.0).fit(x, y)  # every run kept and binned, as the docs describe
    assert everything.summary()["binning_range"]["n"] == 319
    assert (everything.C_, everything.alpha_) == (pytest.approx(24.2, abs=0.05), pytest.approx(0.0573, abs=5e-4))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(10, 80), collapse=st.floats(0, 30), seed=st.integers(0, 2 ** 16))
def test_the_binning_range_is_the_kept_runs_whatever_the_data(n, collapse, seed):
    rng = np.random.default_rng(seed)
    x = 10 ** rng.uniform(10, 16, n)
    y = np.where(rng.random(n) < 0.3, 0.0, 30 + 2 * np.log10(x) + rng.normal(0, 1, n))
    kept = y > collapse
    try:
        law = EnvelopePowerLaw(n_bins=5, collapse=collapse).fit(x, y)
    except (InsufficientDataError, ConvergenceError):
        return
    part = law.summary()["binning_range"]
    assert part["n"] == int(kept.sum()) == law.n_used_
    assert (part["flops_min"], part["flops_max"]) == (x[kept].min(), x[kept].max())
    assert law.edges_[0] == pytest.approx(part["flops_min"]) and law.edges_[-1] == pytest.approx(part["flops_max"])
