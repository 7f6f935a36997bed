"""The result record: one schema, one writer, atomic writes, clear reasons for broken records."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

import results
from results import RecordError


def make(run_id="abc123def456", **kw):
    record = results.new_record(run_id, "wrn-10-1_relu_at_pgd2_e2_syn0_s0", {"seed": 3}, recipe="tiny")
    record.update(kw)
    return record


def test_new_record_has_every_fixed_field_null_until_measured():
    record = make()
    assert record["status"] == results.RUNNING and record["seed"] == 3
    for dotted in ("flops.train_total", "energy.kwh", "cost.electricity_usd", "co2_kg", "accuracy.autoattack",
                   "timing.attack_seconds", "checkpoints.best", "software.pyautoattack", "hardware.host"):
        assert dotted in results.FIELDS
        assert results.get(record, dotted) is None
    assert results.validate(record) == []


def test_write_then_read_roundtrip(tmp_path):
    record = make()
    record["accuracy"]["clean"] = 91.5
    path = results.write_record(str(tmp_path), record)
    assert path == os.path.join(str(tmp_path), "abc123def456", "result.json")
    back = results.read_record(path)
    assert back["accuracy"]["clean"] == 91.5 and back["updated"]
    assert results.load_record(str(tmp_path), "abc123def456") == back
    assert results.load_record(str(tmp_path), "nothere") is None
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.startswith(".tmp-")]


def test_failed_record_needs_a_reason(tmp_path):
    record = make(status=results.FAILED)
    assert any("failure_reason" in p for p in results.validate(record))
    with pytest.raises(ValueError):
        results.write_record(str(tmp_path), record)


def test_nan_is_refused_not_written(tmp_path):
    record = make()
    record["accuracy"]["clean"] = float("nan")
    with pytest.raises(ValueError):
        results.write_record(str(tmp_path), record)
    assert not os.path.exists(results.record_path(str(tmp_path), record["run_id"]))


@pytest.mark.parametrize("content, reason", [
    ("{not json", "corrupt JSON"),
    ('{"schema_version": "0.1"}', "schema_version"),
    ("[]", "JSON object"),
])
def test_broken_records_are_reported_with_a_reason(tmp_path, content, reason):
    good = make("good00000000")
    results.write_record(str(tmp_path), good)
    bad_dir = tmp_path / "bad000000000"
    bad_dir.mkdir()
    (bad_dir / "result.json").write_text(content)
    seen = {os.path.basename(os.path.dirname(p)): (r, why) for p, r, why in results.iter_records(str(tmp_path))}
    assert seen["good00000000"][0]["run_id"] == "good00000000"
    assert seen["bad000000000"][0] is None and reason in seen["bad000000000"][1]
    with pytest.raises(RecordError, match=reason):
        results.read_record(str(bad_dir / "result.json"))


def test_flatten_makes_dotted_columns():
    record = make()
    record["accuracy"]["per_attack"] = {"apgd-ce": 50.0}
    flat = results.flatten(record)
    assert flat["accuracy.per_attack.apgd-ce"] == 50.0 and flat["config.seed"] == 3 and "flops.train_total" in flat


@pytest.mark.parametrize("durable", [True, False])
def test_atomic_write_survives_a_crash_mid_write(tmp_path, durable):
    """A writer killed before the rename leaves the previous file intact (with or without the fsyncs)."""
    target = tmp_path / "f.json"
    results.atomic_write_text(str(target), "old")
    code = ("import os, results.io as io\n"
            "def w(fh):\n    fh.write(b'partial'); fh.flush(); os._exit(9)\n"
            f"io.atomic_write({str(target)!r}, w, durable={durable})\n")
    proc = subprocess.run([sys.executable, "-c", code])
    assert proc.returncode == 9
    assert target.read_text() == "old"


def test_schema_module_is_the_only_place_with_key_names():
    """Records written by the writer carry exactly the template's groups (no renamed fields)."""
    record = make()
    assert set(results.TEMPLATE) <= set(record)
    assert json.loads(json.dumps(record))["schema_version"] == results.SCHEMA_VERSION


def test_the_writer_writes_the_same_bytes_for_the_same_record(tmp_path, monkeypatch):
    monkeypatch.setattr("results.record.now", lambda: "2026-01-01T00:00:00+00:00")
    record = make()
    record["accuracy"]["per_attack"] = {"apgd-ce": 50.0}
    first = results.write_record(str(tmp_path / "a"), copy.deepcopy(record))
    second = results.write_record(str(tmp_path / "b"), copy.deepcopy(record))
    text = open(first, "rb").read()
    assert text == open(second, "rb").read()
    assert text.decode() == results.record_text(json.loads(text)) == json.dumps(json.loads(text), indent=2) + "\n"
    assert list(json.loads(text)) == list(results.TEMPLATE)   # the template's key order


def test_atomic_writes_follow_the_umask_like_plain_writes(tmp_path):
    target = tmp_path / "shared.json"
    results.atomic_write_text(str(target), "{}")
    plain = tmp_path / "plain.json"
    plain.write_text("{}")
    assert (target.stat().st_mode & 0o777) == (plain.stat().st_mode & 0o777)
