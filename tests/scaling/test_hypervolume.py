"""Hypervolume: equal to a hand computation from boxes on 2-D and 3-D fronts (and to inclusion-exclusion over the
boxes on random small sets, 1 to 4 objectives), invariant to dominated points, order and direction flips; the
reference point stated; methods ranked by their exclusive contribution; the methods section's hypervolume part;
the work bound."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scaling.analysis import Options, analyze, run_analysis
from scaling.errors import ScalingError
from scaling.hypervolume import contributions, group_contributions, hypervolume, reference_point


def union_of_boxes(points, ref):
    """Volume of the union of the boxes [p, ref] (minimisation) by inclusion-exclusion over every subset: the
    intersection of boxes is the box from their componentwise maximum to the reference."""
    pts = [np.asarray(p, dtype=float) for p in points]
    ref = np.asarray(ref, dtype=float)
    total = 0.0
    for k in range(1, len(pts) + 1):
        for subset in itertools.combinations(pts, k):
            corner = np.max(subset, axis=0)
            total += (-1) ** (k + 1) * float(np.prod(np.clip(ref - corner, 0, None)))
    return total


def test_2d_staircase_equals_its_rectangles():
    # (1, 3), (2, 2), (3, 1) below (4, 4): a staircase; slice it into vertical strips by hand
    points = [(1, 3), (2, 2), (3, 1)]
    strips = (2 - 1) * (4 - 3) + (3 - 2) * (4 - 2) + (4 - 3) * (4 - 1)  # x in [1,2], [2,3], [3,4]
    assert hypervolume(points, [4, 4]) == pytest.approx(strips)
    assert hypervolume(points, [4, 4]) == pytest.approx(union_of_boxes(points, [4, 4]))


def test_3d_front_equals_its_boxes():
    # three boxes against (4, 4, 4): each alone, minus the pairwise overlaps, plus the triple overlap
    a, b, c = (1, 2, 3), (2, 3, 1), (3, 1, 2)
    ref = (4, 4, 4)

    def box(*pts):
        corner = np.max(pts, axis=0)
        return float(np.prod(np.subtract(ref, corner)))

    by_hand = box(a) + box(b) + box(c) - box(a, b) - box(a, c) - box(b, c) + box(a, b, c)
    assert by_hand == 3 * 2 * 1 + 2 * 1 * 3 + 1 * 3 * 2 - 2 * 1 * 1 - 1 * 2 * 1 - 1 * 1 * 2 + 1 * 1 * 1 == 13
    assert hypervolume([a, b, c], ref) == pytest.approx(by_hand)


def test_maximised_objectives_and_the_default_reference():
    # accuracy up, cost down: the same as minimising (-accuracy, cost)
    pts = [(90.0, 2.0), (80.0, 1.0), (70.0, 3.0)]
    ref = reference_point(pts, ["max", "min"])
    assert ref["point"] == pytest.approx([70 - 2.0, 3 + 0.2]) and "10 %" in ref["rule"]
    assert hypervolume(pts, directions=["max", "min"]) == pytest.approx(
        union_of_boxes([(-90, 2), (-80, 1), (-70, 3)], [-68, 3.2]))
    assert hypervolume(pts, [100, 0], ["max", "min"]) == 0.0  # nothing dominates that reference


finite = st.floats(0.0, 10.0, allow_nan=False, width=32)


@st.composite
def fronts(draw, max_n=6):
    d = draw(st.integers(1, 4))
    n = draw(st.integers(0, max_n))
    pts = draw(st.lists(st.tuples(*[finite] * d), min_size=n, max_size=n))
    return np.array(pts, dtype=float).reshape(n, d), d


@settings(max_examples=80, deadline=None)
@given(fronts())
def test_equals_inclusion_exclusion_over_the_boxes(front):
    pts, d = front
    ref = [11.0] * d
    assert hypervolume(pts, ref) == pytest.approx(union_of_boxes(pts, ref), rel=1e-9, abs=1e-9)


@settings(max_examples=80, deadline=None)
@given(fronts(), st.data())
def test_dominated_points_add_nothing_and_order_does_not_matter(front, data):
    pts, d = front
    if len(pts) == 0:
        return
    ref = [11.0] * d
    hv = hypervolume(pts, ref)
    i = data.draw(st.integers(0, len(pts) - 1))
    worse = pts[i] + np.array(data.draw(st.lists(st.floats(0, 1), min_size=d, max_size=d)))
    assert hypervolume(np.vstack([pts, worse, pts[i]]), ref) == pytest.approx(hv, rel=1e-12, abs=1e-12)
    perm = np.array(data.draw(st.permutations(range(len(pts)))))
    assert hypervolume(pts[perm], ref) == pytest.approx(hv, rel=1e-12, abs=1e-12)
    # flipping an objective to 'max' and negating its values and reference changes nothing
    flip = data.draw(st.integers(0, d - 1))
    sign = np.ones(d)
    sign[flip] = -1
    dirs = ["max" if j == flip else "min" for j in range(d)]
    assert hypervolume(pts * sign, np.array(ref) * sign, dirs) == pytest.approx(hv, rel=1e-12, abs=1e-12)
    # each point's exclusive contribution is never negative, and a dominated copy's is 0
    assert contributions(np.vstack([pts, worse]), ref)[-1] == pytest.approx(0.0, abs=1e-9)


def test_methods_ranked_by_exclusive_contribution():
    pts = [(1, 3), (2, 2), (3, 1), (2.5, 2.5)]
    groups = ["a", "b", "b", "c"]  # c's point is dominated by b's (2, 2)
    ref = (4, 4)
    total = union_of_boxes(pts, ref)
    ranking = group_contributions(pts, groups, ref)
    expect = {g: total - union_of_boxes([p for p, h in zip(pts, groups) if h != g], ref) for g in "abc"}
    assert [r["group"] for r in ranking] == ["b", "a", "c"]
    for r in ranking:
        assert r["contribution"] == pytest.approx(expect[r["group"]])
        assert r["share"] == pytest.approx(expect[r["group"]] / total)
    assert ranking[-1]["contribution"] == 0.0 and [r["rank"] for r in ranking] == [1, 2, 3]


def test_bad_input_and_the_work_bound(monkeypatch):
    with pytest.raises(ScalingError, match="finite"):
        hypervolume([(1.0, float("nan"))], [2, 2])
    with pytest.raises(ScalingError, match="directions"):
        hypervolume([(1.0, 1.0)], [2, 2], ["up", "min"])
    monkeypatch.setenv("ROBUSTPERF_MAX_HYPERVOLUME_WORK", "10")
    pts = [(i, 5 - i, (i * 7) % 5) for i in range(5)]
    with pytest.raises(ScalingError, match="ROBUSTPERF_MAX_HYPERVOLUME_WORK"):
        hypervolume(pts, [9, 9, 9])


def _methods_table():
    from tests.scaling.sections.test_methods_section import _table

    return _table()


def test_methods_section_reports_hypervolume_and_ranking(tmp_path):
    from scaling.mapping import Mapping

    mapping = Mapping(flops="flops.train_total", acc="accuracy.autoattack")
    report = analyze(_methods_table(), mapping, str(tmp_path), Options(), sections=["methods", "hypervolume"])
    assert {"hypervolume_ranking_0.png", "hypervolume_ranking_1.pdf"} <= {p.split("/")[-1] for p in report["figures"]}
    part = report["hypervolume"]
    for setting, methods in zip(part["settings"], report["methods"]["settings"]):
        rows = methods["methods"]
        pts = [(-r["clean"], -r["autoattack"], r["flops_ratio"]) for r in rows]
        ref = setting["reference"]["point"]
        assert "10 %" in setting["reference"]["rule"]
        assert setting["hypervolume"] == pytest.approx(union_of_boxes(pts, [-ref[0], -ref[1], ref[2]]))
        ranked = {r["group"]: r for r in setting["ranking"]}
        assert ranked["trades"]["contribution"] == 0.0  # not on the front
        assert ranked["standard"]["rank"] == 1 or ranked["standard"]["contribution"] > 0
    assert "Hypervolume of the methods' Pareto fronts" in (tmp_path / "report.md").read_text()
    # an explicit reference point is used and stated
    mapping = Mapping(flops="flops.train_total", acc="accuracy.autoattack",
                      sections={"hypervolume": {"reference": [0, 0, 20]}})
    report, _ = run_analysis(_methods_table(), mapping, Options(figures=False), sections=["methods", "hypervolume"])
    setting = report["hypervolume"]["settings"][0]
    assert setting["reference"]["point"] == [0, 0, 20] and "given" in setting["reference"]["rule"]


@pytest.mark.parametrize("reference", [[0, 0], [0, "a", 1], [0, 0, float("nan")], 5])
def test_a_bad_reference_point_is_one_clear_error(reference):
    from scaling.errors import TableError
    from scaling.mapping import Mapping

    mapping = Mapping(flops="flops.train_total", acc="accuracy.autoattack",
                      sections={"hypervolume": {"reference": reference}})
    with pytest.raises(TableError, match="sections.hypervolume.reference must be 3 numbers"):
        run_analysis(_methods_table(), mapping, Options(figures=False), sections=["methods", "hypervolume"])
