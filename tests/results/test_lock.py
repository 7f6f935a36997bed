"""One process per run: the run lock (results/lock.py), its stale rule, and a real race of two `robustperf run`."""
from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time

import pytest

from results.holder import process_start
from results.lock import EXIT_IN_FLIGHT, LOCK_FILE, RunLock, RunLocked, lock_holder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _write_lock(run_dir, **body):
    os.makedirs(run_dir, exist_ok=True)
    path = os.path.join(run_dir, LOCK_FILE)
    with open(path, "w") as fh:
        json.dump(body, fh)
    return path


def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_lock_is_refused_with_the_holder_named_and_released_lock_is_free(tmp_path):
    first = RunLock(str(tmp_path)).acquire()
    with pytest.raises(RunLocked) as err:
        RunLock(str(tmp_path)).acquire()
    assert err.value.exit_code == EXIT_IN_FLIGHT == 75
    assert f"process {os.getpid()}" in str(err.value) and "in flight" in str(err.value)
    first.release()
    assert not (tmp_path / LOCK_FILE).exists()
    with RunLock(str(tmp_path)):
        assert lock_holder(str(tmp_path / LOCK_FILE))["pid"] == os.getpid()


def test_lock_of_a_dead_process_on_this_host_is_taken_over_and_kept_aside(tmp_path):
    import socket

    _write_lock(tmp_path, host=socket.gethostname(), pid=_dead_pid(), token="old")
    lock = RunLock(str(tmp_path)).acquire()
    try:
        assert lock.broken and os.path.exists(lock.broken)
        assert json.load(open(lock.broken))["token"] == "old"
    finally:
        lock.release()


def test_reused_pid_is_not_the_holder(tmp_path):
    import socket

    # our own pid, but with another start time: the holder died and the pid now belongs to someone else
    _write_lock(tmp_path, host=socket.gethostname(), pid=os.getpid(), start="1", token="old")
    with RunLock(str(tmp_path)) as lock:
        assert lock.broken


def test_lock_of_a_live_process_on_this_host_holds_whatever_its_age(tmp_path):
    import socket

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        path = _write_lock(tmp_path, host=socket.gethostname(), pid=sleeper.pid, start=process_start(sleeper.pid),
                           token="live")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
        with pytest.raises(RunLocked, match=f"process {sleeper.pid}"):
            RunLock(str(tmp_path), stale_after=10).acquire()
        # without a start time the process cannot be told from a reused pid: the heartbeat decides
        path = _write_lock(tmp_path, host=socket.gethostname(), pid=sleeper.pid, token="live")
        os.utime(path, (time.time() - 3600, time.time() - 3600))
        with RunLock(str(tmp_path), stale_after=10) as lock:
            assert lock.broken
    finally:
        sleeper.kill()
        sleeper.wait()


def test_other_host_is_judged_by_heartbeat_age(tmp_path):
    path = _write_lock(tmp_path, host="node-that-is-not-here", pid=1, token="remote")
    with pytest.raises(RunLocked, match="node-that-is-not-here"):
        RunLock(str(tmp_path), stale_after=60).acquire()
    os.utime(path, (time.time() - 120, time.time() - 120))
    with RunLock(str(tmp_path), stale_after=60) as lock:
        assert lock.broken


def test_torn_lock_file_waits_for_stale_age(tmp_path):
    path = tmp_path / LOCK_FILE
    path.write_bytes(b'{"host": "x", "pi')  # a crash between create and write
    with pytest.raises(RunLocked):
        RunLock(str(tmp_path), stale_after=60).acquire()
    os.utime(path, (time.time() - 120, time.time() - 120))
    with RunLock(str(tmp_path), stale_after=60):
        pass


def test_heartbeat_refreshes_mtime_and_never_touches_a_lock_taken_over(tmp_path):
    lock = RunLock(str(tmp_path), heartbeat=0.05).acquire()
    path = str(tmp_path / LOCK_FILE)
    try:
        os.utime(path, (time.time() - 500, time.time() - 500))
        time.sleep(0.5)
        assert time.time() - os.stat(path).st_mtime < 5
        os.unlink(path)
        _write_lock(tmp_path, host="elsewhere", pid=1, token="other")
    finally:
        lock.release()
    assert json.load(open(path))["token"] == "other"  # release removes only its own lock


def _contend(run_dir, queue, done):
    try:
        lock = RunLock(run_dir).acquire()
        queue.put("won")
        done.wait(120)  # hold until every contender has tried
        lock.release()
    except RunLocked:
        queue.put("locked")


@pytest.mark.parametrize("stale", [False, True])
def test_exactly_one_of_many_processes_wins(tmp_path, stale):
    import socket

    if stale:  # all of them see the same stale lock and race to break it
        _write_lock(tmp_path, host=socket.gethostname(), pid=_dead_pid(), token="old")
    ctx = multiprocessing.get_context("spawn")
    queue, done = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_contend, args=(str(tmp_path), queue, done)) for _ in range(6)]
    for p in procs:
        p.start()
    outcomes = sorted(queue.get(timeout=120) for _ in procs)
    done.set()
    for p in procs:
        p.join(60)
    assert outcomes == ["locked"] * 5 + ["won"]


@pytest.mark.slow  # two real runs at once (~11 s); test_exactly_one_of_many_processes_wins keeps the lock in the fast tier
def test_two_robustperf_runs_at_once_train_once(tmp_path):
    """The hostile-user race: two launches of the same run at the same moment."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent("""\
        name: race
        base:
          seed: 0
          data: {name: digits, batch_size: 64}
          model: {arch: wrn, depth: 10, width: 1}
          training: {loss: at, epochs: 2, warmup_epochs: 0, lr: 0.1, select_subset: 64, select_pgd_steps: 2}
          attack: {norm: linf, eps: 0.1, steps: 1}
          evaluation: {pgd_steps: 2, autoattack: null}
        """))
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "robustperf", "run", str(recipe), "--index", "0", "--results", str(tmp_path / "res"),
           "--device", "cpu", "--no-progress", "--no-flops"]
    procs = [subprocess.Popen(cmd, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    report = "\n".join(o + e for o, e in outs)
    (run_dir,) = [d for d in (tmp_path / "res").iterdir() if d.is_dir()]
    record = json.loads((run_dir / "result.json").read_text())
    # exactly one trained: the other was refused (75) or, starting after the winner finished, found it completed
    assert codes in ([0, EXIT_IN_FLIGHT], [0, 0]), report
    if codes == [0, 0]:
        assert "already completed" in report
    else:
        assert "in flight" in report and "run.lock" in report
    assert record["status"] == "completed" and record["job"]["attempts"] == 1, record["job"]
    assert (run_dir / "train.log").read_text().count("starting ") == 1
    events = [json.loads(line.split(":::MLLOG ", 1)[1])["key"] for line in (run_dir / "mllog.txt").read_text().splitlines()
              if ":::MLLOG" in line]
    assert events.count("run_start") == 1 and events.count("run_stop") == 1
    assert not (run_dir / LOCK_FILE).exists()
