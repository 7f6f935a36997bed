"""Olympic scoring (submissions/score.py): hand computations on a fixture, misses as MLPerf counts them, the cases
with no score, and properties over any runs (the mean lies in its spread, the order of the runs does not matter,
the dropped runs are the fastest and the slowest by time to target)."""
from __future__ import annotations

import math

import pytest

from recipes.benchmark import get_benchmark
from submissions.score import SCORED, Rules, order, score

#: digits-linf-0.2's rules, as its YAML writes them: 5 runs, drop the fastest and the slowest, one miss allowed
RULES = Rules(repeats=5, drop=("fastest", "slowest"), max_missed=1)


def run(seconds, epoch, kwh, usd, co2_kg, train_flops, robust, clean, confirmed=True, reached=True):
    return {"reached": reached, "seconds": seconds, "epoch": epoch, "kwh": kwh, "usd": usd, "co2_kg": co2_kg,
            "train_flops": train_flops, "robust_accuracy": robust, "clean_accuracy": clean, "confirmed": confirmed}


def fixture():
    """Five runs, given out of time order: 150, 100, 400, 120, 130 s."""
    return [run(150.0, 6, 0.50, 0.060, 0.20, 1.5e15, 51.0, 80.0),   # scored (slowest kept)
            run(100.0, 4, 0.30, 0.036, 0.12, 1.0e15, 49.0, 79.0),   # dropped: fastest
            run(400.0, 12, 1.60, 0.192, 0.64, 4.0e15, 60.0, 85.0),  # dropped: slowest
            run(120.0, 5, 0.40, 0.048, 0.16, 1.2e15, 53.0, 82.0),   # scored (fastest kept)
            run(130.0, 5, 0.45, 0.054, 0.18, 1.3e15, 52.0, 81.0)]   # scored


#: the score of :func:`fixture`, by hand: runs 0, 3 and 4 (150, 120, 130 s) are scored
HAND = {
    "time_to_target_s": ((150 + 120 + 130) / 3, 120, 150),                  # 400 / 3 = 133.33...
    "epochs_to_target": ((6 + 5 + 5) / 3, 5, 6),                            # 16 / 3 = 5.33...
    "kwh_to_target": ((0.50 + 0.40 + 0.45) / 3, 0.40, 0.50),                # 1.35 / 3 = 0.45
    "usd_to_target": ((0.060 + 0.048 + 0.054) / 3, 0.048, 0.060),           # 0.162 / 3 = 0.054
    "co2_kg_to_target": ((0.20 + 0.16 + 0.18) / 3, 0.16, 0.20),             # 0.54 / 3 = 0.18
    "train_flops_to_target": ((1.5e15 + 1.2e15 + 1.3e15) / 3, 1.2e15, 1.5e15),  # 4e15 / 3
    "robust_accuracy": ((51 + 53 + 52) / 3, 51, 53),                        # 52
    "clean_accuracy": ((80 + 82 + 81) / 3, 80, 82),                         # 81
}


def _assert_hand_score(result):
    assert result.reason is None
    assert result.scored == (0, 3, 4) and result.dropped == (1, 2)
    assert set(result.means) == set(SCORED) == set(HAND)
    for column, (mean, lo, hi) in HAND.items():
        assert result.means[column] == pytest.approx(mean, rel=1e-12), column
        assert result.spread[column] == (lo, hi), column
    assert result.means["time_to_target_s"] == pytest.approx(133.33333333333334)
    assert result.means["robust_accuracy"] == 52.0 and result.means["kwh_to_target"] == pytest.approx(0.45)
    assert result.confirmed is True


def test_the_olympic_mean_equals_a_hand_computation():
    result = score(fixture(), RULES)
    _assert_hand_score(result)
    row = result.row()
    assert row["scored_runs"] == 3 and row["confirmed"] is True
    assert row["time_to_target_s_min"] == 120 and row["time_to_target_s_max"] == 150
    assert order(fixture()) == [1, 3, 4, 0, 2]  # 100, 120, 130, 150, 400 s


def test_the_textbook_example_and_the_benchmarks_own_rules():
    # times 100, 120, 130, 150, 400 -> drop 100 and 400 -> mean of 120, 130, 150 = 400 / 3 = 133.33...
    runs = [run(t, 1, 1.0, 1.0, 1.0, 1.0, 50.0, 80.0) for t in (100.0, 120.0, 130.0, 150.0, 400.0)]
    rules = Rules.of(get_benchmark("digits-linf-0.2"))
    assert rules == RULES
    result = score(runs, rules)
    assert result.means["time_to_target_s"] == pytest.approx(133.333333333333, rel=1e-12)
    assert result.spread["time_to_target_s"] == (120.0, 150.0)


def test_a_missed_run_counts_as_the_slowest():
    runs = fixture()
    # the 400 s run missed instead; even a missed run that says it took 50 s counts as infinitely slow
    runs[2] = dict(runs[2], reached=False, seconds=50.0, confirmed=False)
    _assert_hand_score(score(runs, RULES))
    runs[2] = dict(runs[2], seconds=None, epoch=None, kwh=None)
    _assert_hand_score(score(runs, RULES))
    assert order(runs)[-1] == 2


def test_too_many_misses_leave_no_score():
    runs = fixture()
    runs[2] = dict(runs[2], reached=False, seconds=None)
    runs[0] = dict(runs[0], reached=False, seconds=None)
    result = score(runs, RULES)
    assert result.reason == "2 of 5 runs missed the target: the benchmark's rules allow 1"
    assert result.scored == () and result.confirmed is False
    row = result.row()
    assert row["scored_runs"] is None and row["confirmed"] is False
    assert all(row[c] is None and row[f"{c}_min"] is None and row[f"{c}_max"] is None for c in SCORED)
    # rules that allow two misses still drop only one slowest run: the other miss would be scored
    lenient = score(runs, Rules(repeats=5, drop=("fastest", "slowest"), max_missed=2))
    assert lenient.reason.startswith("a run that missed the target is among the scored runs")
    # and rules that drop no slowest run score no miss at all
    runs = fixture()
    runs[2] = dict(runs[2], reached=False)
    assert score(runs, Rules(repeats=5, drop=("fastest",), max_missed=1)).reason.startswith("a run that missed")


def test_another_number_of_runs_than_the_rules_ask_leaves_no_score():
    assert score(fixture()[:3], RULES).reason == "3 runs: the benchmark's rules ask for exactly 5 (one per seed)"
    assert score(fixture()[:1], RULES).reason.startswith("1 run: ")
    assert score([], RULES).reason.startswith("0 runs: ")
    assert score(fixture() + fixture()[:1], RULES).reason.startswith("6 runs: ")


def test_fewer_than_three_runs_under_rules_that_allow_them():
    two = fixture()[:2]  # 150 s and 100 s: only the fastest is dropped
    result = score(two, Rules(repeats=2, drop=("fastest",)))
    assert result.scored == (0,) and result.dropped == (1,) and result.means["time_to_target_s"] == 150.0
    one = score(fixture()[:1], Rules(repeats=1, drop=()))
    assert one.scored == (0,) and one.spread["kwh_to_target"] == (0.5, 0.5)
    for bad in (dict(repeats=2, drop=("fastest", "slowest")), dict(repeats=1, drop=("fastest",)),
                dict(repeats=5, drop=("median",)), dict(repeats=5, drop=("fastest", "fastest")),
                dict(repeats=5, max_missed=5)):
        with pytest.raises(ValueError):
            Rules(**bad)


def test_confirmation_and_unmeasured_figures():
    runs = fixture()
    runs[1] = dict(runs[1], confirmed=False)  # dropped: does not matter
    assert score(runs, RULES).confirmed is True
    runs[4] = dict(runs[4], confirmed=None)  # scored, no confirmation recorded
    result = score(runs, RULES)
    assert result.reason is None and result.confirmed is False
    runs[3] = dict(runs[3], kwh=None)  # a scored run that did not measure energy: no energy score
    result = score(runs, RULES)
    assert result.means["kwh_to_target"] is None and "kwh_to_target" not in result.spread
    assert result.means["time_to_target_s"] == pytest.approx(400 / 3)
    assert result.row()["kwh_to_target_min"] is None


def test_a_mean_of_equal_values_stays_within_them():
    # 0.1 + 0.1 + 0.1 = 0.30000000000000004 in floats, and / 3 = 0.10000000000000002 > 0.1
    runs = [run(t, 1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1) for t in (1.0, 2.0, 3.0, 4.0, 5.0)]
    result = score(runs, RULES)
    assert result.means["kwh_to_target"] == 0.1 == result.spread["kwh_to_target"][1]


def test_scoring_properties():
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import strategies as st

    value = st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False))
    one_run = st.builds(lambda reached, seconds, *rest: run(seconds, *rest[:7], confirmed=rest[7], reached=reached),
                        st.booleans(), st.integers(1, 6).map(float), st.integers(1, 9), value, value, value, value,
                        st.floats(0, 100), st.floats(0, 100), st.sampled_from([True, False, None]))

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.data())
    def check(data):
        runs = data.draw(st.lists(one_run, min_size=1, max_size=8))
        n = len(runs)
        drop = data.draw(st.sampled_from([d for d in ((), ("fastest",), ("slowest",), ("fastest", "slowest"))
                                          if len(d) < n]))
        rules = Rules(repeats=n, drop=drop, max_missed=data.draw(st.integers(0, n - 1)))
        result = score(runs, rules)
        shuffled = data.draw(st.permutations(range(n)))
        again = score([runs[i] for i in shuffled], rules)
        # permuting the runs changes nothing but the runs' indices
        assert (again.means, again.spread, again.confirmed, again.reason) == (
            result.means, result.spread, result.confirmed, result.reason)
        missed = sum(not r["reached"] for r in runs)
        if result.reason is not None:
            assert result.scored == () and all(v is None for v in result.row().values() if v is not False)
            assert missed > rules.max_missed or missed > ("slowest" in drop)
            return
        assert len(result.scored) == n - len(drop) and all(runs[i]["reached"] for i in result.scored)
        assert sorted(result.scored + result.dropped) == list(range(n))
        for column, mean in result.means.items():
            if mean is not None:
                lo, hi = result.spread[column]
                assert lo <= mean <= hi
        # dropping is by time: the dropped fastest is no slower, the dropped slowest no faster, than any scored run
        time = [r["seconds"] if r["reached"] else math.inf for r in runs]
        scored_times = [time[i] for i in result.scored]
        for i in result.dropped:
            assert time[i] <= min(scored_times) or time[i] >= max(scored_times)
        if "slowest" in drop:
            assert max(time[i] for i in result.dropped) >= max(scored_times)
        if "fastest" in drop:
            assert min(time[i] for i in result.dropped) <= min(scored_times)
        assert result.means["time_to_target_s"] == pytest.approx(math.fsum(scored_times) / len(scored_times))

    check()
