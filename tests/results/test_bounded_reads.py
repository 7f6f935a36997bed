"""Records are read with bounded time and memory (issue 22): a result.json of gigabytes, a FIFO or a file just
over the ``record_bytes`` limit is refused from its size or kind before it is read. ``status``, ``collect`` and
``migrate`` list it as unreadable with the reason and go on; a command reading one record exits 2."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings, strategies as st

import results
from recipes.limits import LIMITS
from results import RecordError, read_record

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VAR = LIMITS["record_bytes"][0]
HUGE = 8 << 30  # 8 GiB, sparse: no disk is used, but a reader that reads it whole needs 8 GiB (16 decoded)
ADDRESS_SPACE = 3 << 30  # the commands run under this, so the unbounded reader fails fast instead of swapping


def _good(root, run_id="aaaaaaaaaaaa"):
    record = results.new_record(run_id, "good", {"seed": 0}, "r")
    record["status"] = results.COMPLETED
    return results.write_record(str(root), record)


def _limit_memory():
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _cli(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env.pop(VAR, None)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "robustperf.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env, preexec_fn=_limit_memory)
    return proc, time.monotonic() - start


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS bounds the old reader on Linux")
def test_a_huge_record_is_listed_as_unreadable_by_status_collect_and_migrate(tmp_path):
    runs = tmp_path / "runs"
    _good(runs)
    huge = runs / "bbbbbbbbbbbb" / "result.json"
    huge.parent.mkdir()
    with open(huge, "wb") as fh:
        fh.truncate(HUGE)
    reason = f"too large to read: {HUGE:,} bytes, above the limit of"
    for command in (["status", runs, "--no-jobs"], ["collect", runs, "-o", tmp_path / "t.csv"],
                    ["migrate", runs, "--dry-run"]):
        proc, seconds = _cli(*command)
        out = proc.stdout + proc.stderr
        assert "MemoryError" not in out and "Traceback" not in out, (command, out)
        assert proc.returncode == 0, (command, out)  # the good record is still listed / collected / current
        assert reason in out and "bbbbbbbbbbbb" in out and (VAR in out or command[0] == "status"), (command, out)
        assert seconds < 60, (command, seconds)
    proc, _ = _cli("status", runs, "--no-jobs", "--json")
    rows = {r["run_id"]: r for r in json.loads(proc.stdout)["runs"]}
    assert rows["bbbbbbbbbbbb"]["status"] == "unreadable" and reason in rows["bbbbbbbbbbbb"]["note"]
    assert rows["aaaaaaaaaaaa"]["status"] == "completed"
    assert len(__import__("pandas").read_csv(tmp_path / "t.csv")) == 1


@settings(max_examples=25, deadline=None)
@given(over=st.integers(min_value=-50, max_value=50), bound=st.integers(min_value=300, max_value=5000))
def test_the_limit_is_checked_before_reading_at_every_size(tmp_path_factory, over, bound):
    """A record of ``bound + over`` bytes: read when it fits, refused with the file and the variable when not."""
    root = tmp_path_factory.mktemp("r")
    path = _good(root)
    text = open(path).read()
    pad = bound + over - len(text.encode())
    if pad >= 2:  # else the record alone is larger than the bound: refused as well
        text = text[:-2] + " " * pad + text[-2:]  # whitespace before the closing brace: still the same record
        open(path, "w").write(text)
    size = os.path.getsize(path)
    os.environ[VAR] = str(bound)
    try:
        if size <= bound:
            assert read_record(path)["run_id"] == "aaaaaaaaaaaa"
        else:
            with pytest.raises(RecordError) as info:
                read_record(path)
            assert str(info.value).startswith(f"{path}: too large to read: {size:,} bytes") and VAR in str(info.value)
            with pytest.raises(RecordError, match="too large to read"):
                results.load_record(str(root), "aaaaaaaaaaaa")
            listed = list(results.iter_records(str(root)))
            assert listed == [(path, None, info.value.reason)]
    finally:
        del os.environ[VAR]


@pytest.mark.timeout(30)
def test_a_fifo_record_is_refused_without_waiting(tmp_path):
    run = tmp_path / "cccccccccccc"
    run.mkdir()
    os.mkfifo(run / "result.json")
    with pytest.raises(RecordError, match="not a regular file"):
        read_record(str(run / "result.json"))
    with pytest.raises(RecordError, match="not a regular file"):
        results.load_record(str(tmp_path), "cccccccccccc")
