"""Command-line numbers no machine can honour end in one line, exit 2, before anything is allocated (issue 22).

Before: ``profile wrn-10000-10`` and ``profile ... --input 3x100000x100000`` ended in allocator tracebacks, a run of
``model.width: 1024`` in one after minutes; ``infer --threads 100000`` in SystemError, ``--batch-sizes`` of 10^30 in
an overflow, ``--min-seconds nan`` hung, ``--max-seconds nan|inf`` ran and then failed writing JSON; ``run
--checkpoint-minutes nan`` silently never checkpointed.
"""
from __future__ import annotations

import argparse
import math
import time

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import robustperf


@pytest.mark.timeout(120)
@pytest.mark.parametrize("argv, words", [
    (["wrn-10000-10"], "depth must be from 10 to 1000"),
    (["wrn-28-100000"], "width must be from 1 to 1024"),
    (["wrn-28-10", "--input", "3x100000x100000"], "8192 pixels a side"),
    (["wrn-28-10", "--input", "100000x32x32"], "1024 channels"),
    (["wrn-28-10", "--input", "3x0x32"], "positive integers"),
    (["wrn-28-10", "--num-classes", "1000000000000"], "--num-classes"),
    (["wrn-28-10", "--num-classes", "0"], "--num-classes"),
    (["wrn-28-1024"], "parameters"),
    (["wrn-28-10", "--input", "3x8192x8192"], "available"),
])
def test_profile_refuses_what_no_machine_here_can_build(argv, words, capsys, monkeypatch):
    try:
        import benchmarks.models.fits as fits
    except ImportError:  # pragma: no cover - the code before issue 22 (the test then fails on its answer)
        fits = None
    if fits is not None:
        monkeypatch.setattr(fits, "available_bytes", lambda device="cpu": 64 * 2**30)  # the same answer on any host
    start = time.monotonic()
    assert robustperf.main(["profile", *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert time.monotonic() - start < 60


def test_the_footprint_counts_parameters_and_activations_without_allocating():
    from benchmarks.models.fits import Footprint, ModelTooLargeError, check_fits, footprint  # new in issue 22

    def build():
        return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                                   torch.nn.Linear(8 * 16 * 16, 10))

    fp = footprint(build, (3, 16, 16), batch=4)
    assert fp.params == sum(p.numel() for p in build().parameters())
    assert fp.largest_activation == 4 * 8 * 16 * 16 and fp.input_elements == 4 * 3 * 16 * 16
    assert fp.bytes(training=True) > fp.bytes() > 0
    huge = footprint(lambda: torch.nn.Linear(100_000, 100_000_000))  # 10^13 parameters, on the meta device
    with pytest.raises(ModelTooLargeError, match="10,000,100,000,000 parameters"):
        check_fits("a linear layer", huge)
    check_fits("nothing", Footprint(1, 1, 1))


@pytest.mark.timeout(300)
def test_a_run_of_a_model_too_large_for_the_machine_fails_before_allocating(tmp_path, capsys, tiny_recipe):
    start = time.monotonic()
    code = robustperf.main(["run", str(tiny_recipe), "--index", "0", "--results", str(tmp_path), "--no-progress",
                            "--set", "model.width=1024", "--set", "model.depth=70"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "parameters" in err and "available" in err and "Traceback" not in err, err
    assert time.monotonic() - start < 120


def _infer_args(**over):
    parser = argparse.ArgumentParser()
    from benchmarks import cli_infer

    cli_infer.add_arguments(parser)
    args = parser.parse_args(["run"])
    for k, v in over.items():
        setattr(args, k, v)
    return args


@pytest.mark.parametrize("argv, words", [
    (["--threads", "100000"], "--threads"), (["--threads", "0"], "--threads"),
    (["--batch-sizes", "1" + "0" * 30], "--batch-sizes"), (["--batch-sizes", "1e30"], "--batch-sizes"),
    (["--min-seconds", "nan"], "finite"), (["--min-seconds", "inf"], "finite"), (["--max-seconds", "nan"], "finite"),
    (["--max-seconds", "inf"], "finite"), (["--max-seconds", "0"], "--max-seconds"),
    (["--queries", "1" + "0" * 20], "--queries"), (["--autoattack-n", "1" + "0" * 20], "--autoattack-n"),
])
def test_infer_options_are_checked_before_any_loading(argv, words, tmp_path, capsys):
    assert robustperf.main(["infer", str(tmp_path / "no-such-run"), *argv]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err


NUMBERS = st.one_of(st.integers(-10 ** 30, 10 ** 30), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 2, 10 ** 8, 10 ** 8 + 1, 86400.0, 86400.5, -0.0]))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(option=st.sampled_from(["queries", "min_seconds", "max_seconds", "warmup", "passes", "threads", "accuracy_n",
                               "autoattack_n", "calibration_n"]), value=NUMBERS)
def test_every_infer_number_is_accepted_in_range_or_refused(option, value):
    from benchmarks.inference.cli import InferError, available_cores, parse_options

    if option not in ("min_seconds", "max_seconds") and isinstance(value, float):
        return  # argparse gives these options integers only
    over = {option: value}
    if option == "queries":
        over["min_seconds"] = 1.0  # --queries 0 needs a duration
    args = _infer_args(**over)
    try:
        got = parse_options(args)
    except InferError as err:
        assert "\n" not in str(err)
        return
    kept = got.get(option, getattr(args, option))
    assert math.isfinite(kept) and kept >= 0
    limits = {"threads": available_cores(), "min_seconds": 86400.0, "max_seconds": 86400.0, "passes": 10 ** 6}
    assert kept <= limits.get(option, 10 ** 8)


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "1e300"])
def test_run_checkpoint_minutes_must_be_finite_and_bounded(value, capsys, tiny_recipe):
    assert robustperf.main(["run", str(tiny_recipe), "--index", "0", "--checkpoint-minutes", value]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint-minutes" in err and err.count("\n") == 1, err
