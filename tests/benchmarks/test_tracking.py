"""Tracking: a real offline W&B run read back from its transaction log, and mllog.txt parsed back."""
from __future__ import annotations

import glob
import json
import os
import struct

import pytest

from benchmarks.tracking import (KEY_AUTOATTACK_ACCURACY, KEY_PGD_ACCURACY, KEY_RESUME, KEY_SUSPEND, MLLOG_FILE,
                                 Tracker, TrackingError)
from recipes import RunConfig
from results import new_record

_BLOCK = 32768  # the LevelDB log format W&B's .wandb files use: 32 KiB blocks, 7-byte record headers
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def wandb_records(path):
    """Every protobuf Record of an offline run's ``run-<id>.wandb`` file."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = open(path, "rb").read()
    assert data[:4] == b":W&B"
    pos, chunks, out = 7, b"", []
    while pos + 7 <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < 7:
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if kind == 0:
            pos += left
            continue
        chunks += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (_FULL, _LAST):
            record = pb.Record()
            record.ParseFromString(chunks)
            out.append(record)
            chunks = b""
    return out


def wandb_contents(run_dir, run_id):
    """(config, history rows, summary) of the W&B offline runs under ``run_dir``, in write order."""
    files = sorted(glob.glob(os.path.join(run_dir, "wandb", "offline-run-*", f"run-{run_id}.wandb")))
    assert files, f"no offline W&B run under {run_dir}"
    config, history, summary = {}, [], {}
    for path in files:
        for rec in wandb_records(path):
            kind = rec.WhichOneof("record_type")
            if kind == "run":
                config.update({u.key: json.loads(u.value_json) for u in rec.run.config.update})
            elif kind == "config":
                config.update({u.key: json.loads(u.value_json) for u in rec.config.update})
            elif kind == "history":
                history.append({(i.key or ".".join(i.nested_key)): json.loads(i.value_json) for i in rec.history.item})
            elif kind == "summary":
                summary.update({(u.key or ".".join(u.nested_key)): json.loads(u.value_json) for u in rec.summary.update})
    return config, history, summary


def mllog_events(path):
    with open(path, encoding="utf-8") as fh:
        lines = [line for line in fh.read().splitlines() if line.strip()]
    assert all(line.startswith(":::MLLOG ") for line in lines)
    return [json.loads(line[len(":::MLLOG "):]) for line in lines]


def _config(mode="offline"):
    cfg = RunConfig().to_dict()
    cfg["tracking"].update(wandb=mode, project="robustperf-test")
    cfg["seed"] = 3
    return cfg


def _final_record(config, status="completed"):
    record = new_record("r0123456789a", "wrn-28-10-at", config, "tiny")
    record["status"] = status
    record["accuracy"].update(clean=81.5, pgd=52.0, autoattack=49.25)
    record["energy"].update(kwh=1.25, source="nvml", pue=1.58, train_kwh=1.0, attack_kwh=0.1)
    record["co2_kg"] = 1.25 * 0.5663
    record["flops"].update(train_total=3.2e17, forward_per_sample=10.5e9, source="deepspeed")
    return record


@pytest.fixture
def offline_only(monkeypatch, tmp_path):
    """No login and no reachable server: offline must not need either."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))


def test_offline_wandb_and_mllog_read_back(tmp_path, offline_only):
    config = _config()
    run_dir = str(tmp_path / "r0123456789a")
    tracker = Tracker(config, run_dir, "r0123456789a", "wrn-28-10-at", "tiny")
    tracker.log_setup(global_batch_size=512, train_samples=50000)
    for epoch in (1, 2):
        tracker.epoch_start(epoch)
        tracker.log_epoch(epoch, {"train_loss": 2.0 / epoch, "pgd_subset": 20.0 * epoch})
    record = _final_record(config)
    tracker.log_eval({"clean": 81.5, "pgd": 52.0, "autoattack": 49.25})
    fields = tracker.record_fields()
    tracker.finish(record)

    wb_config, history, summary = wandb_contents(run_dir, "r0123456789a")
    assert wb_config.get("seed") == 3 and wb_config["attack"] == config["attack"], wb_config
    assert wb_config["global_batch_size"] == 512
    assert [(h["epoch"], h["train_loss"], h["pgd_subset"]) for h in history] == [(1, 2.0, 20.0), (2, 1.0, 40.0)]
    assert summary["status"] == "completed" and summary["accuracy"]["autoattack"] == 49.25
    assert summary["energy"]["kwh"] == 1.25 and summary["eval/pgd"] == 52.0
    assert fields["wandb_mode"] == "offline" and fields["wandb_run_id"] == "r0123456789a"
    assert fields["mllog"] == os.path.join(run_dir, MLLOG_FILE)

    events = mllog_events(os.path.join(run_dir, MLLOG_FILE))
    keys = [e["key"] for e in events]
    assert keys.count("run_start") == 1 and keys[-1] == "run_stop"
    assert events[-1]["metadata"]["status"] == "success"
    value = {e["key"]: e["value"] for e in events if e["event_type"] == "POINT_IN_TIME"}
    assert value["seed"] == 3 and value["global_batch_size"] == 512 and value["train_samples"] == 50000
    assert value["eval_accuracy"] == 81.5 and value[KEY_PGD_ACCURACY] == 52.0
    assert value[KEY_AUTOATTACK_ACCURACY] == 49.25
    energy = next(e for e in events if e["key"] == "robustperf_energy_kwh")
    assert energy["value"] == 1.25 and energy["metadata"]["source"] == "nvml"
    assert value["robustperf_train_flops"] == 3.2e17
    starts = [e["metadata"]["epoch_num"] for e in events if e["key"] == "epoch_start"]
    stops = [e["metadata"]["epoch_num"] for e in events if e["key"] == "epoch_stop"]
    assert starts == stops == [1, 2]
    assert all(e["time_ms"] <= f["time_ms"] for e, f in zip(events, events[1:]))


def test_resumed_run_appends_and_stops_once(tmp_path, offline_only):
    config = _config()
    config["tracking"]["wandb"] = "disabled"
    run_dir = str(tmp_path / "r1")
    first = Tracker(config, run_dir, "r1", "n", "tiny")
    first.log_epoch(1, {"train_loss": 1.0})           # no epoch_start call: the tracker marks it itself
    first.finish(_final_record(config, status="running"))   # walltime: requeued, not stopped
    second = Tracker(config, run_dir, "r1", "n", "tiny")
    assert second.resumed
    second.log_epoch(2, {"train_loss": 0.5})
    second.finish(_final_record(config, status="failed") | {"failure_reason": "diverged"})
    events = mllog_events(os.path.join(run_dir, MLLOG_FILE))
    keys = [e["key"] for e in events]
    assert keys.count("run_start") == 1 and keys.count("run_stop") == 1
    assert keys.index(KEY_SUSPEND) < keys.index(KEY_RESUME) < keys.index("run_stop")
    assert [e["metadata"]["epoch_num"] for e in events if e["key"] == "epoch_stop"] == [1, 2]
    # log_eval was never called: the final record's accuracies are logged once, by the attempt that stops.
    assert [e["value"] for e in events if e["key"] == "eval_accuracy"] == [81.5]
    assert [e["value"] for e in events if e["key"] == KEY_AUTOATTACK_ACCURACY] == [49.25]
    assert events[-1]["metadata"] == {**events[-1]["metadata"], "status": "aborted", "failure_reason": "diverged"}
    assert not os.path.exists(os.path.join(run_dir, "wandb"))


def test_only_rank_zero_tracks(tmp_path):
    tracker = Tracker(_config(), str(tmp_path / "r2"), "r2", "n", "tiny", rank=1)
    tracker.log_epoch(1, {"train_loss": 1.0})
    tracker.finish(_final_record(_config()))
    assert not os.path.exists(tmp_path / "r2")
    assert tracker.record_fields()["wandb_mode"] == "disabled"


def test_mllog_can_be_switched_off(tmp_path):
    config = _config("disabled")
    config["tracking"]["mllog"] = False
    with Tracker(config, str(tmp_path / "r3"), "r3", "n", "tiny") as tracker:
        tracker.log_epoch(1, {"train_loss": 1.0})
    assert not os.path.exists(tmp_path / "r3" / MLLOG_FILE)


def test_online_without_a_login_says_how_to_fix_it(tmp_path, offline_only):
    with pytest.raises(TrackingError, match="wandb login"):
        Tracker(_config("online"), str(tmp_path / "r4"), "r4", "n", "tiny")
    assert not os.path.exists(tmp_path / "r4" / MLLOG_FILE)   # no half-started mllog run
