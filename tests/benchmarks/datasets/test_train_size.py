"""``data.train_size``: a count or fraction of the training split, chosen by the run seed and nested (the subset of
a smaller size is a subset of a larger one's); it enters the run id only when set, and the record keeps the
training images and samples seen."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.datasets import get_dataset
from benchmarks.datasets.base import DataError
from benchmarks.datasets.splits import train_count, train_subset
from recipes import RunConfig
from recipes.identity import run_id_of
from tests.benchmarks._training_helpers import run_cli
from tests.conftest import ROOT

TINY = ROOT / "recipes" / "tiny-digits.yaml"


def _expand(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "robustperf", "expand", str(TINY), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


sizes = st.one_of(st.integers(1, 400), st.floats(0.001, 1.0, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400), sizes, sizes, st.integers(0, 2**32 - 1))
def test_subsets_are_nested_counted_sorted_and_seeded(n, a, b, seed):
    if isinstance(a, int) and a > n or isinstance(b, int) and b > n:
        with pytest.raises(DataError, match="data.train_size"):
            train_subset(n, max(a, b, key=lambda s: s if isinstance(s, int) else 0), seed)
        return
    small, large = sorted((train_subset(n, a, seed), train_subset(n, b, seed)), key=len)
    assert set(small.tolist()) <= set(large.tolist())
    assert len(train_subset(n, a, seed)) == train_count(a, n) and 1 <= train_count(a, n) <= n
    assert torch.equal(small, small.sort().values) and torch.equal(train_subset(n, a, seed), train_subset(n, a, seed))
    assert train_count(None, n) == n and train_count(1.0, n) == n


def test_another_seed_draws_another_subset():
    assert not torch.equal(train_subset(1000, 100, 0), train_subset(1000, 100, 1))


def test_the_digits_stream_trains_on_the_nested_subset():
    def images(size):
        cfg = RunConfig.from_dict({"data": {"name": "digits", "batch_size": 16, "train_size": size}})
        batches, _ = get_dataset("digits").train_batches(cfg.data, seed=3)
        return batches, {bytes(img.numpy().tobytes()) for img in batches.images}

    small, small_set = images(100)
    large, large_set = images(0.5)
    whole, _ = images(None)
    assert len(small.labels) == 100 and len(large.labels) == round(0.5 * len(whole.labels))
    assert small_set <= large_set
    with pytest.raises(DataError, match=f"has {len(whole.labels)} images"):
        images(len(whole.labels) + 1)


def test_the_key_enters_the_run_id_only_when_set():
    base = {"seed": 0, "data": {"name": "digits"}}
    plain = run_id_of(RunConfig.from_dict(base).to_dict())
    assert run_id_of(RunConfig.from_dict({**base, "data": {"name": "digits", "train_size": None}}).to_dict()) == plain
    ids = {run_id_of(RunConfig.from_dict({**base, "data": {"name": "digits", "train_size": s}}).to_dict())
           for s in (100, 200, 0.5, 1.0)}
    assert plain not in ids and len(ids) == 4


def test_expand_ids_change_with_the_key_and_bad_values_exit_2():
    def ids(*sets):
        done = _expand(*sets)
        assert done.returncode == 0, done.stderr
        return [json.loads(line)["run_id"] for line in done.stdout.splitlines()]

    base = ids()
    half = ids("--set", "data.train_size=0.5")
    assert len(half) == len(base) and not set(half) & set(base)
    for bad in ("0", "-3", "1.5", "lots", "true"):
        done = _expand("--set", f"data.train_size={bad}", "--count")
        assert done.returncode == 2 and "Traceback" not in done.stderr, (bad, done.stderr)
        assert "data.train_size" in done.stderr and bad in done.stderr.lower()


@pytest.mark.slow  # trains a run of its own (~30-60 s on the shared machine)
@pytest.mark.timeout(300)
def test_the_record_keeps_the_training_images_and_samples_seen(cached_run, tmp_path):
    results = tmp_path / "results"
    cached_run(["run", str(TINY), "--index", "0", "--results", str(results), "--no-eval", "--no-flops",
                "--no-progress", "--set", "training.epochs=2", "--set", "training.warmup_epochs=0",
                "--set", "attack.steps=1", "--set", "training.select_subset=32", "--set", "data.train_size=192"])
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    record = json.loads((folder / "result.json").read_text())
    assert record["config"]["data"]["train_size"] == 192
    assert record["training"]["train_size"] == 192 and record["training"]["samples_seen"] == 192 * 2
    assert record["flops"]["train_samples"] == 192 * 2  # three whole batches of 64 an epoch
    # more data than the split has: one line naming the key, exit 2, nothing run
    done = run_cli(["run", TINY, "--index", "0", "--results", tmp_path / "other", "--no-eval", "--set",
                    "data.train_size=100000"])
    assert done.returncode == 2 and "data.train_size" in done.stderr and "Traceback" not in done.stderr
