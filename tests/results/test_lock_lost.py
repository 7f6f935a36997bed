"""A holder that lost its run lock (frozen past the stale period, taken over) writes nothing more into the folder
(results/held.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from results.holder import machine, process_start
from results.lock import EXIT_IN_FLIGHT, LOCK_FILE, RunLock
from tests.results.test_lock import _write_lock

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_holder_that_lost_its_lock_writes_nothing_more_into_the_folder(tmp_path):
    """Frozen past the stale period, a holder wakes to find its lock another's: every write of results.io into the
    folder (atomic or append) stops with LockLost (exit 75); writes elsewhere go on."""
    from results.held import LockLost
    from results.io import atomic_write_text, open_append

    run_dir = tmp_path / "run"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with RunLock(str(run_dir)) as lock:
            atomic_write_text(str(run_dir / "result.json"), "{}")  # while held: written
            body = {**machine(), "pid": other.pid, "start": process_start(other.pid), "token": "another",
                    "created": "now"}
            (run_dir / LOCK_FILE).unlink()
            _write_lock(str(run_dir), **body)  # taken over while this process was frozen
            for write in (lambda: atomic_write_text(str(run_dir / "result.json"), '{"late": 1}'),
                          lambda: atomic_write_text(str(run_dir / "sub" / "checkpoint.pt"), "x"),
                          lambda: open_append(str(run_dir / "train.log"), encoding="utf-8")):
                with pytest.raises(LockLost, match="taken over or removed") as info:
                    write()
                assert info.value.exit_code == EXIT_IN_FLIGHT
            atomic_write_text(str(tmp_path / "elsewhere.txt"), "ok")
            assert lock.lost
        assert (run_dir / "result.json").read_text() == "{}"
        assert json.loads((run_dir / LOCK_FILE).read_text())["token"] == "another"  # the new holder's lock stays
        assert not (run_dir / "sub" / "checkpoint.pt").exists() and not (run_dir / "train.log").exists()
    finally:
        other.kill()
        other.wait()


@pytest.mark.timeout(300)
@pytest.mark.slow  # a real run stopped and continued (~15 s)
def test_a_run_frozen_past_its_lock_stops_at_its_next_write(tmp_path):
    """A real `robustperf run` stopped (SIGSTOP) while another process takes its lock over, then continued: it
    exits 75 naming the lost lock and leaves the record, checkpoint and the new holder's lock as they were."""
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "robustperf", "run", os.path.join(ROOT, "recipes", "tiny-digits.yaml"), "--index",
            "0", "--results", str(results), "--no-eval", "--no-flops", "--no-progress", "--checkpoint-steps", "2",
            "--set", "training.epochs=30", "--set", "training.select_subset=32"]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        deadline = time.monotonic() + 200
        while not list(results.glob("*/checkpoint*.pt")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
        # freeze it between two writes: a write caught half-way (its temp file beside the target) is one that
        # began while the lock was still its own, and completes its rename when continued; thaw and try again
        for _ in range(50):
            proc.send_signal(signal.SIGSTOP)
            time.sleep(0.5)
            if not list(run_dir.glob(".tmp-*")):
                break
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.05)
        else:
            pytest.fail("the run was mid-write at every one of 50 stops")
        before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.suffix in (".pt", ".json")}
        (run_dir / LOCK_FILE).unlink()
        _write_lock(str(run_dir), **machine(), pid=other.pid, start=process_start(other.pid), token="another",
                    created="now")
        proc.send_signal(signal.SIGCONT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == EXIT_IN_FLIGHT, err[-2000:]
        assert "taken over or removed" in err and "Traceback" not in err, err[-2000:]
        after = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir() if p.suffix in (".pt", ".json")}
        assert after == before
        assert json.loads((run_dir / LOCK_FILE).read_text())["token"] == "another"
    finally:
        for p in (proc, other):
            if p.poll() is None:
                p.kill()
                p.wait()
