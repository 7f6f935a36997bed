"""The run lock against the faults of issue 22: a killed holder that is a zombie, a reused pid, a holder in
another pid namespace, empty / torn / garbage / huge / special lock files, a full disk while writing the lock, a
heartbeat that meets a failed read, a forked child, a clock that moved; and a property test over lock contents."""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from launchers.plan import lock_in_flight
from results.lock import EXIT_IN_FLIGHT, LOCK_FILE, RunLock, RunLocked, lock_holder, lock_is_stale

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = socket.gethostname()
#: a process that takes the lock of the folder argv[1], says so, and holds it
HOLDER = textwrap.dedent(f"""\
    import sys, time
    sys.path.insert(0, {ROOT!r})
    from results.lock import RunLock
    RunLock(sys.argv[1]).acquire()
    print("held", flush=True)
    time.sleep(600)
    """)


def _stat(pid):
    """(state, start) of a process from /proc, or None."""
    try:
        text = open(f"/proc/{pid}/stat", "rb").read().decode("ascii", "replace")
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], fields[19]


def _read(path):
    try:
        return open(path).read().strip()
    except OSError:
        return None


def _hold(run_dir, prefix=()):
    proc = subprocess.Popen([*prefix, sys.executable, "-c", HOLDER, str(run_dir)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _wait_for(predicate, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _age(path, seconds):
    os.utime(path, (time.time() - seconds, time.time() - seconds), follow_symlinks=False)


# ---------------------------------------------------------------------------------------------- dead holders

def test_a_killed_holder_that_is_a_zombie_is_dead(tmp_path):
    """The holder is SIGKILLed and its parent (this test) does not reap it: a zombie still answers kill(pid, 0)."""
    holder = _hold(tmp_path)
    try:
        os.kill(holder.pid, signal.SIGKILL)
        assert _wait_for(lambda: (_stat(holder.pid) or ("?",))[0] == "Z"), "the holder did not become a zombie"
        found = lock_holder(str(tmp_path / LOCK_FILE))
        assert found["pid"] == holder.pid and lock_is_stale(found)
        assert lock_in_flight(str(tmp_path)) is None  # launch and status do not count it as in flight either
        with RunLock(str(tmp_path)) as lock:
            assert lock.broken and json.load(open(lock.broken))["pid"] == holder.pid
    finally:
        holder.wait()


def test_robustperf_run_killed_and_not_reaped_does_not_block_the_same_command(tmp_path):
    """The probe: `timeout -s KILL 15 robustperf run ...`, then at once the same command (which exited 75)."""
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent("""\
        name: zombie
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

    def lock_pid():
        locks = [d / LOCK_FILE for d in (tmp_path / "res").glob("*") if (d / LOCK_FILE).exists()]
        found = lock_holder(str(locks[0])) if locks else None
        return (found or {}).get("pid")

    first = subprocess.Popen(cmd, env=env, cwd=str(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = None
    try:
        assert _wait_for(lambda: lock_pid() == first.pid, 120), "the first run never took its lock"
        os.kill(first.pid, signal.SIGKILL)
        assert _wait_for(lambda: (_stat(first.pid) or ("?",))[0] == "Z")
        second = subprocess.Popen(cmd, env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
        took = _wait_for(lambda: lock_pid() == second.pid or second.poll() is not None, 120)
        assert took and second.poll() is None, (second.returncode, second.stdout.read())
        assert second.returncode != EXIT_IN_FLIGHT
    finally:
        for proc in (first, second):
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()


def test_a_really_reused_pid_is_not_the_holder(tmp_path):
    """The holder dies (reaped); a new process gets its pid (ns_last_pid); the lock's start time tells them apart."""
    holder = _hold(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    reuser = None
    for _ in range(50):
        try:
            with open("/proc/sys/kernel/ns_last_pid", "w") as fh:
                fh.write(str(holder.pid - 1))
        except OSError as err:
            pytest.skip(f"cannot choose the next pid here ({err.strerror}): needs root in the pid namespace")
        reuser = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        if reuser.pid == holder.pid:
            break
        reuser.kill()
        reuser.wait()
        reuser = None
    if reuser is None:
        pytest.skip("another process took the pid each time")
    try:
        found = lock_holder(str(tmp_path / LOCK_FILE))
        assert found["pid"] == reuser.pid and found["start"] != _stat(reuser.pid)[1]
        with RunLock(str(tmp_path)) as lock:
            assert lock.broken
    finally:
        reuser.kill()
        reuser.wait()


def test_a_holder_in_another_pid_namespace_is_judged_by_its_heartbeat(tmp_path):
    """A container with this host's name (``--network host``) holds the lock as its pid 1: here pid 1 is another
    process, which must not make the live holder look dead."""
    if shutil.which("unshare") is None:
        pytest.skip("no unshare")
    probe = subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot make a pid namespace here: " + probe.stderr.decode(errors="replace").strip())
    holder = _hold(tmp_path, prefix=("unshare", "--pid", "--fork", "--mount-proc"))
    try:
        found = lock_holder(str(tmp_path / LOCK_FILE))
        assert found["pid"] != holder.pid  # its pid in its own namespace
        with pytest.raises(RunLocked, match="in flight"):
            RunLock(str(tmp_path)).acquire()
        assert lock_in_flight(str(tmp_path))
    finally:
        os.killpg(holder.pid, signal.SIGKILL)  # unshare and the holder it forked
        holder.wait()


@pytest.mark.parametrize("pid", [0, -1, True, 1, 2 ** 40])
def test_pids_no_holder_can_have_are_not_alive(tmp_path, pid):
    """pid 0 and -1 signal process groups (kill() succeeds), True is 1 to Python, pid 1 always runs."""
    path = tmp_path / LOCK_FILE
    path.write_text(json.dumps({"host": HOST, "pid": pid, "token": "x"}))
    _age(path, 3600)
    assert lock_is_stale(lock_holder(str(path)))
    with RunLock(str(tmp_path)) as lock:
        assert lock.broken


# ------------------------------------------------------------------------------------- unreadable lock files

def _garbage(path, kind):
    if kind == "directory":
        os.mkdir(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "symlink":
        os.symlink("/dev/zero", path)
    elif kind == "huge":
        with open(path, "wb") as fh:
            fh.truncate(1 << 30)  # 1 GiB, sparse
    else:
        content = {"empty": b"", "torn": b'{"host": "x", "pi', "binary": bytes(range(256)) * 3,
                   "nested": b"[" * 3000, "list": b"[1, 2]", "no pid": b'{"host": "h"}'}[kind]
        with open(path, "wb") as fh:
            fh.write(content)


KINDS = ["empty", "torn", "binary", "nested", "list", "no pid", "huge", "directory", "fifo", "symlink"]


def _acquire_within(run_dir, seconds=10.0):
    """RunLock(run_dir).acquire() in a thread: ("held", lock) / ("locked", error) / ("hung", None)."""
    out = []

    def attempt():
        try:
            out.append(("held", RunLock(str(run_dir)).acquire()))
        except RunLocked as err:
            out.append(("locked", err))

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        with open(run_dir / LOCK_FILE, "wb", opener=lambda p, f: os.open(p, os.O_WRONLY | os.O_NONBLOCK)):
            pass  # a reader blocked on the FIFO goes on
        return "hung", None
    return out[0]


@pytest.mark.parametrize("kind", KINDS)
def test_a_young_unreadable_lock_is_in_flight_for_a_heartbeat_period_and_says_so(tmp_path, kind):
    _garbage(tmp_path / LOCK_FILE, kind)
    t0 = time.monotonic()
    outcome, err = _acquire_within(tmp_path)
    assert outcome == "locked", outcome
    assert time.monotonic() - t0 < 5  # bounded: a 1 GiB file or a FIFO is never read whole or waited on
    message = str(err)
    assert "unreadable" in message and "treated as in flight for" in message and "then as stale" in message
    assert str(tmp_path / LOCK_FILE) in message and "\n" not in message
    assert "unreadable" in lock_in_flight(str(tmp_path))


@pytest.mark.parametrize("kind", KINDS)
def test_an_unreadable_lock_older_than_the_heartbeat_period_is_stale(tmp_path, kind):
    """Not 300 s: a lock that cannot be read names no holder to wait for (the old rule blocked a run for 5 min,
    and a directory or a FIFO for ever)."""
    path = tmp_path / LOCK_FILE
    _garbage(path, kind)
    _age(path, 60)  # > the 30 s heartbeat, < the 300 s stale_after
    assert lock_in_flight(str(tmp_path)) is None
    outcome, lock = _acquire_within(tmp_path)
    assert outcome == "held", (outcome, lock)
    try:
        assert lock.broken and os.path.lexists(lock.broken)  # kept aside, never deleted
        assert lock_holder(str(path))["token"] == lock.token
    finally:
        lock.release()


_FILL = textwrap.dedent(f"""\
    import errno, os, resource, signal, sys
    sys.path.insert(0, {ROOT!r})
    from results.lock import RunLock
    if sys.argv[2] == "no-links":  # a file system without hard links (the lock is written in place)
        def link(*args):
            raise OSError(errno.EPERM, "Operation not permitted")
        os.link = link
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))  # no file may grow: a full disk
    try:
        RunLock(sys.argv[1]).acquire()
    except OSError as err:
        print(err.errno, err.filename)
    """)


@pytest.mark.parametrize("links", ["links", "no-links"])
def test_a_lock_that_cannot_be_written_leaves_nothing_behind(tmp_path, links):
    """A write that fails (here RLIMIT_FSIZE, as a full disk) used to leave an empty run.lock that refused the
    run itself for 300 s; now nothing is left and the error names the lock."""
    out = subprocess.run([sys.executable, "-c", _FILL, str(tmp_path), links], capture_output=True, text=True,
                         timeout=60)
    code, filename = out.stdout.split()
    assert int(code) == errno.EFBIG and filename == str(tmp_path / LOCK_FILE), out.stdout + out.stderr
    assert os.listdir(tmp_path) == []
    with RunLock(str(tmp_path)) as lock:
        assert lock.broken is None


_FULL_DISK = textwrap.dedent("""\
    import json, os, subprocess, sys, time
    disk, recipe, python = sys.argv[1:4]
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", disk], check=True)
    with open(os.path.join(disk, "filler"), "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"x" * 4096)
                fh.flush()
        except OSError:
            pass
    cmd = [python, "-m", "robustperf", "run", recipe, "--index", "0", "--results", os.path.join(disk, "res"),
           "--device", "cpu", "--no-progress", "--no-flops"]
    full = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    run_dir = [os.path.join(disk, "res", d) for d in os.listdir(os.path.join(disk, "res"))][0]
    left = sorted(os.listdir(run_dir))
    os.unlink(os.path.join(disk, "filler"))
    again = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, held = time.monotonic() + 120, False
    while time.monotonic() < deadline and again.poll() is None and not held:
        try:
            held = json.load(open(os.path.join(run_dir, "run.lock")))["pid"] == again.pid
        except (OSError, ValueError, KeyError):
            time.sleep(0.05)
    if again.poll() is None:
        again.kill()
    rest = again.communicate()[0]
    print(json.dumps({"full": [full.returncode, full.stderr], "left": left, "held": held,
                      "again": [again.returncode, rest]}))
    """)


def test_robustperf_run_after_a_full_disk_is_not_refused_by_its_own_lock(tmp_path):
    """A real full disk (a 256 KiB tmpfs in a private mount namespace; needs root): the run says which file it
    could not write and exits 2; once space is freed the same command runs (it used to exit 75)."""
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to mount a small tmpfs")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: full\nbase: {data: {name: digits}, model: {depth: 10, width: 1}, "
                      "training: {epochs: 1, warmup_epochs: 0}}\n")
    disk = tmp_path / "disk"
    disk.mkdir()
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(["unshare", "--mount", sys.executable, "-c", _FULL_DISK, str(disk), str(recipe),
                          sys.executable], capture_output=True, text=True, timeout=280, env=env, cwd=str(tmp_path))
    if out.returncode != 0 and "mount" in out.stderr:
        pytest.skip("cannot mount a tmpfs here: " + out.stderr.strip()[-200:])
    report = json.loads(out.stdout.strip().splitlines()[-1])
    code, stderr = report["full"]
    assert code == 2 and "run.lock" in stderr and "No space left on device" in stderr, stderr
    assert report["left"] == [], report["left"]
    assert report["held"], report["again"]


# ----------------------------------------------------------------------------------------------- the holder

@pytest.mark.parametrize("failure", [OSError(errno.EIO, "Input/output error"), RuntimeError("boom")])
def test_the_heartbeat_outlives_a_failed_beat(tmp_path, monkeypatch, failure):
    """A read of the lock that fails for a moment (NFS) used to end the heartbeat for good: the lock went stale
    after 300 s under a live run, and another host took it over."""
    import builtins

    fails = {"left": 0}
    real_open, real_os_open = builtins.open, os.open

    def failing(real):
        def opener(path, *args, **kwargs):
            if (fails["left"] and str(path).endswith(LOCK_FILE)
                    and threading.current_thread().name == "robustperf-run-lock"):
                fails["left"] -= 1
                raise failure
            return real(path, *args, **kwargs)
        return opener

    monkeypatch.setattr(builtins, "open", failing(real_open))
    monkeypatch.setattr(os, "open", failing(real_os_open))
    lock = RunLock(str(tmp_path), heartbeat=0.05).acquire()
    path = str(tmp_path / LOCK_FILE)
    try:
        _age(path, 500)
        fails["left"] = 3
        assert _wait_for(lambda: time.time() - os.stat(path).st_mtime < 5, 5), "the heartbeat stopped"
        assert fails["left"] == 0 and getattr(lock, "lost", None) is None
    finally:
        lock.release()
    assert not os.path.exists(path)


def test_without_hard_links_the_lock_is_created_in_place(tmp_path, monkeypatch):
    """A file system without hard links (link() fails with EPERM; none can be mounted here): O_EXCL, written in
    place; the lock is whole, no temporary file is left, and a second taker is refused."""
    def no_link(*args, **kwargs):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    with RunLock(str(tmp_path)) as lock:
        assert os.listdir(tmp_path) == [LOCK_FILE]
        assert lock_holder(str(tmp_path / LOCK_FILE))["token"] == lock.token
        with pytest.raises(RunLocked, match=f"process {os.getpid()}"):
            RunLock(str(tmp_path)).acquire()
    assert os.listdir(tmp_path) == []


def test_a_forked_child_never_releases_its_parents_lock(tmp_path):
    with RunLock(str(tmp_path)) as lock:
        child = os.fork()
        if child == 0:  # e.g. a data-loader worker that unwinds through the run's `with`
            try:
                lock.release()
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        assert lock_holder(str(tmp_path / LOCK_FILE))["token"] == lock.token


def test_moving_a_stale_lock_aside_gives_back_a_lock_taken_in_between(tmp_path):
    """rename() moves whatever holds the name (NFS has no rename-if-unchanged): when a breaker's rename catches a
    lock that another process took after the breaker read the stale one, the taken lock is linked back."""
    from results.lock import _move_aside

    path = tmp_path / LOCK_FILE
    path.write_text(json.dumps({"host": "node-elsewhere", "pid": 7, "token": "stale"}))
    seen = lock_holder(str(path))
    with RunLock(str(tmp_path / "other")) as live:  # a live lock of another process, now at the name
        os.replace(live.path, path)
        assert not _move_aside(str(path), seen, str(tmp_path / "aside"))
        assert lock_holder(str(path))["token"] == live.token and not (tmp_path / "aside").exists()
        os.replace(path, live.path)
    path.write_text(json.dumps({"host": "node-elsewhere", "pid": 7, "token": "stale"}))
    assert _move_aside(str(path), seen, str(tmp_path / "aside")) and not path.exists()


def test_a_heartbeat_from_the_future_is_no_heartbeat(tmp_path):
    """Another host's lock whose mtime lies a day ahead (a clock stepped back, a `touch -d`) is not live for a
    day; a few seconds ahead (clock skew between hosts) is live."""
    path = tmp_path / LOCK_FILE
    path.write_text(json.dumps({"host": "node-elsewhere", "pid": 4242, "token": "x"}))
    os.utime(path, (time.time() + 10, time.time() + 10))
    assert not lock_is_stale(lock_holder(str(path)))
    os.utime(path, (time.time() + 86400, time.time() + 86400))
    assert lock_is_stale(lock_holder(str(path)))


# ------------------------------------------------------------------------------------------ property tests

def _dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _pidns():
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


ME = {"pid": os.getpid(), "start": (_stat(os.getpid()) or (None, None))[1],
      "boot": _read("/proc/sys/kernel/random/boot_id"), "pidns": _pidns()}
DEAD = _dead_pid()


def _describes_a_live_holder(body) -> bool:
    """The oracle: a JSON object naming this machine and a process that runs now, with that process's start time."""
    if not isinstance(body, dict) or body.get("host") != HOST:
        return False
    pid = body.get("pid")
    if type(pid) is not int or pid <= 0:
        return False
    if any(k in body and body[k] is not None and not isinstance(body[k], str)
           for k in ("start", "boot", "pidns", "token", "created")):
        return False
    if any(isinstance(body.get(k), str) and ME[k] is not None and body[k] != ME[k] for k in ("boot", "pidns")):
        return False
    found = _stat(pid)
    return found is not None and found[0] not in "ZX" and isinstance(body.get("start"), str) \
        and body["start"] == found[1]


def _write_old(tmp_path, raw: bytes):
    path = tmp_path / LOCK_FILE
    path.write_bytes(raw)
    _age(path, 3600)
    return str(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=6000))
@example(raw=b"")
@example(raw=b"\xff\xfe{")
@example(raw=b"[" * 5000)
def test_arbitrary_bytes_never_crash_the_reader_and_are_never_a_live_holder(tmp_path, raw):
    path = _write_old(tmp_path, raw)
    holder = lock_holder(path)
    assert holder is not None and lock_is_stale(holder)
    str(RunLocked(path, holder))  # the message of any content is one printable line
    assert "\n" not in str(RunLocked(path, holder))


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
_BODIES = st.fixed_dictionaries({}, optional={
    "host": st.one_of(st.just(HOST), st.sampled_from(["node-elsewhere", "", HOST + "\n"]), _VALUES),
    "pid": st.one_of(st.sampled_from([os.getpid(), 1, 0, -1, -os.getpid(), DEAD, True, False, 2 ** 22, 2 ** 40,
                                      2 ** 70, float(os.getpid()), str(os.getpid())]), _VALUES),
    "start": st.one_of(st.sampled_from([ME["start"], (_stat(1) or (None, "1"))[1], "1", "", 12]), _VALUES),
    "boot": st.one_of(st.sampled_from([ME["boot"], "another-boot"]), _VALUES),
    "pidns": st.one_of(st.sampled_from([ME["pidns"], "pid:[1]"]), _VALUES),
    "token": _VALUES, "created": _VALUES, "heartbeat_age": _VALUES, "unreadable": _VALUES,
})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_BODIES)
@example(body={"host": HOST, "pid": 0})
@example(body={"host": HOST, "pid": -1})
@example(body={"host": HOST, "pid": True})
@example(body={"host": HOST, "pid": 1})
@example(body={"host": HOST, "pid": os.getpid(), "start": ME["start"]})
def test_a_lock_is_live_exactly_when_it_describes_a_live_holder(tmp_path, body):
    """Old lock files (an hour without a heartbeat) of every shape: live iff they name a process that runs here
    now, with its start time; every other content (another host, boot or pid namespace, a pid no process can have,
    no start time, fields of the wrong type) is stale, and nothing crashes."""
    path = _write_old(tmp_path, json.dumps(body).encode("utf-8"))
    holder = lock_holder(path)
    assert lock_is_stale(holder) != _describes_a_live_holder(body), (body, holder)
    assert "\n" not in str(RunLocked(path, holder))
