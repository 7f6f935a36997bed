"""``robustperf submit`` on real digits-linf-0.2 runs: the submission layout (every file, its checksum, a recipe
that gives its run, the system description from the records), the results folder untouched, and the refusals
(too few runs, a mixture of configurations with the keys named, an existing output, a bad system file, runs of
different systems), each one line and exit 2."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from recipes import load_recipe
from submissions.errors import SubmissionError
from submissions.layout import RUN_FILES
from submissions.system import describe_system, read_system_file
from tests.benchmarks.conftest import cached_run  # noqa: F401 - the cached trained runs (a session fixture)
from tests.submissions._digits import BENCHMARK, five_runs, reference_runs, submit, tree_digest  # noqa: F401


@pytest.fixture
def one_run(cached_run, tmp_path):  # noqa: F811
    return reference_runs(cached_run, tmp_path / "results", [0])


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_submit_packages_the_result_in_the_layout(five_runs, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(five_runs, results)
    before = tree_digest(results)
    out = tmp_path / "sub"
    done = submit(results, out)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out) and "robustperf check" in done.stderr
    assert tree_digest(results) == before  # the results folder is only read
    meta = json.loads((out / "submission.json").read_text())
    assert meta["format"] == "robustperf-submission/1" and meta["benchmark"] == BENCHMARK
    assert meta["division"] == "closed" and meta["submitter"] == "Test Lab" and meta["runs"] == 5
    assert meta["seeds"] == [0, 1, 2, 3, 4]
    system = json.loads((out / "systems" / f"{meta['system']}.json").read_text())
    records = {p.name: json.loads((p / "result.json").read_text()) for p in results.iterdir() if p.is_dir()}
    first = next(iter(records.values()))
    assert system["hardware"]["cpu_model"] == first["hardware"]["cpu"]
    assert system["software"]["torch"] == first["software"]["torch"]
    assert system["sources"]["software.torch"] == "records" and system["software"]["robustperf_version"]
    runs = out / "results" / meta["system"] / BENCHMARK
    assert sorted(p.name for p in runs.iterdir()) == [f"run_{k}" for k in range(5)]
    for k, run_id in enumerate(meta["run_ids"]):
        run = runs / f"run_{k}"
        assert sorted(p.name for p in run.iterdir()) == sorted(RUN_FILES)
        for name in ("mllog.txt", "result.json", "train.log"):
            assert (run / name).read_bytes() == (results / run_id / name).read_bytes()
        assert records[run_id]["seed"] == k
        assert [s.run_id for s in load_recipe(str(run / "recipe.yaml")).runs()] == [run_id]
    lines = (out / "MANIFEST.sha256").read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}
    files = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()} - {"MANIFEST.sha256"}
    assert set(listed) == files and [l.split("  ", 1)[1] for l in lines] == sorted(listed)
    assert all(hashlib.sha256((out / rel).read_bytes()).hexdigest() == digest for rel, digest in listed.items())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left
    again = submit(results, out)
    assert again.returncode == 2 and "exists" in again.stderr and len(again.stderr.strip().splitlines()) == 1


@pytest.mark.timeout(600)
def test_submit_refuses_fewer_runs_than_the_benchmarks_repeats(one_run, tmp_path):
    done = submit(one_run, tmp_path / "sub")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"robustperf submit: error: {one_run}: 1 completed run of {BENCHMARK} (closed), but a result is 5 (the "
        "benchmark's repeats): run the missing seeds first")
    assert not (tmp_path / "sub").exists()
    other = submit(one_run, tmp_path / "sub", division="open")
    assert other.returncode == 2 and "no completed run of benchmark digits-linf-0.2 in the open division (found: " \
        "1 of digits-linf-0.2/closed)" in other.stderr


@pytest.mark.slow  # trains a second, different run (~10 s)
@pytest.mark.timeout(600)
def test_submit_refuses_a_mixture_naming_the_keys_that_differ(cached_run, tmp_path):  # noqa: F811
    results = reference_runs(cached_run, tmp_path / "results", [0])
    reference_runs(cached_run, results, [0], "training.epochs=1")  # the missed-target run of test_to_target.py
    done = submit(results, tmp_path / "sub")
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert "the runs are not one configuration: they differ in config.training.epochs (" in line
    assert "differ only in seed" in line and not (tmp_path / "sub").exists()


def _records(results):
    return [(str(p / "result.json"), json.loads((p / "result.json").read_text())) for p in results.iterdir()
            if p.is_dir()]


@pytest.mark.timeout(600)
def test_the_system_file_overrides_and_adds_and_is_validated(one_run, tmp_path):
    records = _records(one_run)
    good = tmp_path / "SYSTEM.yaml"
    good.write_text("name: Lab box 7\nhardware: {gpu_model: none, rack: B3}\nsoftware: {cuda: '12.4'}\n"
                    "notes: shared with other jobs\n")
    system = describe_system(records, str(good))
    assert system["system_id"] == "Lab_box_7" and system["name"] == "Lab box 7"
    assert system["hardware"]["rack"] == "B3" and system["software"]["cuda"] == "12.4"
    assert system["sources"]["hardware.rack"] == "SYSTEM.yaml" and system["notes"] == "shared with other jobs"
    assert system["hardware"]["cpu_model"] == records[0][1]["hardware"]["cpu"]
    for text, key in [("hardware: {gpu_count: two}\n", "hardware.gpu_count"), ("color: red\n", "color"),
                      ("hardware: {Bad-Key: 1}\n", "hardware.Bad-Key"), ("name: ''\n", "name"),
                      ("software: [1, 2]\n", "software")]:
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(SubmissionError) as err:
            read_system_file(str(bad))
        assert str(err.value).startswith(f"{bad}: key {key}"), str(err.value)
    bad.write_text("hardware: {gpu_count: -1}\n")
    done = submit(one_run, tmp_path / "sub", "--system", str(bad))
    assert done.returncode == 2 and f"{bad}: key hardware.gpu_count = -1: expected a whole number" in done.stderr


@pytest.mark.timeout(600)
def test_runs_of_different_systems_are_refused(one_run):
    (path, record), = _records(one_run)
    other = json.loads(json.dumps(record))
    other["hardware"]["cpu"] = "Another CPU"
    with pytest.raises(SubmissionError) as err:
        describe_system([(path, record), ("other/result.json", other)])
    assert str(err.value).startswith("other/result.json: key hardware.cpu = 'Another CPU': the runs ran on "
                                     "different systems")
