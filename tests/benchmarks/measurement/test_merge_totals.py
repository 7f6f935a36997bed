"""merge_totals: the run's totals from one meter per node. Every numeric field of every window adds up over
nodes, nested ones (per device kind, ...) too; unknown stays unknown; seconds are the longest node's."""
from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.measurement import merge_totals

joules = st.one_of(st.none(), st.floats(min_value=0, max_value=1e9, allow_nan=False))
window = st.fixed_dictionaries({
    "seconds": st.floats(min_value=0, max_value=1e6, allow_nan=False),
    "count": st.integers(min_value=0, max_value=1000),
    "energy_j": joules,
    "sampler_energy_j": joules,
    "kinds": st.fixed_dictionaries({"gpu": joules, "cpu": joules, "dram": joules}),
    "source": st.sampled_from(["nvml", "rapl", "fake"]),
})
node = st.fixed_dictionaries({
    "source": st.sampled_from(["nvml", "rapl", "fake"]),
    "devices": st.integers(min_value=0, max_value=8),
    "windows": st.dictionaries(st.sampled_from(["train", "eval", "total"]), window, min_size=1),
})


def _sum(values):
    return None if any(v is None for v in values) else math.fsum(values)


@settings(max_examples=200, deadline=None)
@given(st.lists(node, min_size=1, max_size=4))
def test_every_numeric_field_adds_up_over_nodes(nodes):
    merged = merge_totals(nodes)
    assert merged["devices"] == sum(n["devices"] for n in nodes)
    assert set(merged["source"].split("+")) == {n["source"] for n in nodes}
    for name, win in merged["windows"].items():
        parts = [n["windows"][name] for n in nodes if name in n["windows"]]
        assert win["seconds"] == max(p["seconds"] for p in parts)
        assert win["count"] == max(p["count"] for p in parts)
        for key in ("energy_j", "sampler_energy_j"):
            expected = _sum([p[key] for p in parts])
            assert (win[key] is None) == (expected is None)
            if expected is not None:
                assert math.isclose(win[key], expected, rel_tol=1e-12, abs_tol=1e-6)
        for kind in ("gpu", "cpu", "dram"):
            expected = _sum([p["kinds"][kind] for p in parts])
            got = win["kinds"][kind]
            assert (got is None) == (expected is None)
            if expected is not None:
                assert math.isclose(got, expected, rel_tol=1e-12, abs_tol=1e-6)
        power = win["mean_power_w"]
        if win["energy_j"] is None or not win["seconds"]:
            assert power is None
        else:
            assert math.isclose(power, win["energy_j"] / win["seconds"])


def test_the_inputs_are_not_changed():
    a = {"source": "nvml", "devices": 1, "windows": {"train": {"seconds": 2.0, "energy_j": 10.0, "count": 1,
                                                               "kinds": {"gpu": 8.0}, "source": "nvml"}}}
    b = {"source": "nvml", "devices": 1, "windows": {"train": {"seconds": 3.0, "energy_j": 5.0, "count": 1,
                                                               "kinds": {"gpu": 4.0}, "source": "nvml"}}}
    merged = merge_totals([a, b])
    assert merged["windows"]["train"]["kinds"] == {"gpu": 12.0}
    assert a["windows"]["train"]["kinds"] == {"gpu": 8.0} and a["windows"]["train"]["energy_j"] == 10.0
