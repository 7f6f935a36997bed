"""``collect`` fails when it has nothing to collect or cannot write what it collected (issue 22): a folder
without records, records none of which can be a row, no survival data, and any write failure (a full disk, a
file-size limit, a full stdout) are exit 2 with one line naming the folder or the file; nothing half-written
is left."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

import robustperf
from tests.conftest import ROOT
from tests.scaling.test_collect_survival import _run


def _cli(*args, fsize=None, stdout=None):
    def limits():
        if fsize is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "robustperf.py"), *map(str, args)], cwd=ROOT,
                          stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=120, env=env, preexec_fn=limits)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


class _InProcess:
    def __init__(self, returncode, stderr):
        self.returncode, self.stderr = returncode, stderr


def _main(capsys, *args):
    """The command in this process (fast), for what needs no limits of its own."""
    code = robustperf.main([str(a) for a in args])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return _InProcess(code, err)


def _error(proc, command="collect") -> str:
    lines = [line for line in proc.stderr.splitlines() if line.startswith(f"robustperf {command}: error: ")]
    assert proc.returncode == 2 and len(lines) == 1, (proc.returncode, proc.stderr)
    return lines[0]


@pytest.fixture(scope="module")
def survival_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("s") / "runs"
    _run(root, "aaaaaaaaaaaa", 0.1, 300)
    _run(root, "bbbbbbbbbbbb", 0.01, 400)
    return root


def _no_records(root):
    """Folders that hold no record, each as a user may pass it."""
    cases = {}
    cases["empty"] = root / "empty"
    cases["empty"].mkdir()
    cases["files only"] = root / "files"
    cases["files only"].mkdir()
    (cases["files only"] / "notes.txt").write_text("x")
    (cases["files only"] / "launch-1.json").write_text("{}")
    cases["folders without records"] = root / "folders"
    for name in ("_tune/study", "aaaaaaaaaaaa", ".hidden"):
        (cases["folders without records"] / name).mkdir(parents=True)
    return cases


@pytest.mark.parametrize("case", ["empty", "files only", "folders without records", "a run folder"])
def test_a_folder_with_no_record_fails_saying_where_it_looked(tmp_path, capsys, survival_runs, case):
    folder = survival_runs / "aaaaaaaaaaaa" if case == "a run folder" else _no_records(tmp_path)[case]
    for extra in ([], ["--survival"], ["-o", tmp_path / "t.csv"]):
        line = _error(_main(capsys, "collect", folder, *extra))
        assert "no result record found" in line and f"{os.path.abspath(folder)}" in line
        assert "<run_id>/result.json" in line
        assert not (tmp_path / "t.csv").exists()
    line = _error(_main(capsys, "analyze", folder, "-o", tmp_path / "o"), "analyze")
    assert "no result record found" in line


def test_records_none_of_which_can_be_a_row_fail(tmp_path, capsys):
    run = tmp_path / "runs" / "aaaaaaaaaaaa"
    run.mkdir(parents=True)
    (run / "result.json").write_text("{torn")
    proc = _main(capsys, "collect", tmp_path / "runs", "-o", tmp_path / "t.csv")
    assert "corrupt JSON" in proc.stderr and "none of its 1 records can be a row" in _error(proc)
    assert not (tmp_path / "t.csv").exists()


def test_no_survival_data_fails(tmp_path, capsys):
    _run(tmp_path / "runs", "cccccccccccc", 0.5, 2, pointer=False, write=False)
    proc = _main(capsys, "collect", tmp_path / "runs", "--survival", "-o", tmp_path / "s.csv")
    assert "no survival data: none of its 1 runs has a readable survival.parquet" in _error(proc)
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("survival, suffix", [(False, ".csv"), (True, ".parquet")])
def test_a_table_too_large_to_write_is_exit_2_naming_the_file(tmp_path, survival_runs, survival, suffix):
    """RLIMIT_FSIZE (any user, any machine): the write fails with EFBIG part-way, as on a nearly full disk."""
    out = tmp_path / f"table{suffix}"
    proc = _cli("collect", survival_runs, *(["--survival"] if survival else []), "-o", out, fsize=512)
    line = _error(proc)
    assert f"{out}: cannot write the table" in line and "File too large" in line
    assert os.listdir(tmp_path) == []  # neither the table nor a temporary file is left


def test_a_full_stdout_is_exit_2(survival_runs):
    with open("/dev/full", "w") as full:
        proc = _cli("collect", survival_runs, "--survival", stdout=full)
    assert "stdout: cannot write the table: No space left on device" in _error(proc)
    assert "Exception ignored" not in proc.stderr


def test_a_report_too_large_to_write_is_exit_2_naming_the_file(tmp_path):
    table, out = tmp_path / "t.csv", tmp_path / "o"
    flops = [10 ** (12 + i / 10) for i in range(30)]
    lines = ["flops,acc"] + [f"{f:g},{30 + 0.8 * i % 7 + i / 3:.2f}" for i, f in enumerate(flops)]
    table.write_text("\n".join(lines) + "\n")
    proc = _cli("analyze", table, "--flops-col", "flops", "--acc-col", "acc", "-o", out, "--no-figures",
                "--bootstrap", "20", fsize=2048)
    line = _error(proc, "analyze")
    assert f"{out / 'report.json'}: cannot write the report" in line and "File too large" in line
    assert os.listdir(out) == []  # neither the report nor a temporary file


@pytest.fixture
def full_disk(tmp_path):
    """A 64 kB tmpfs filled to the last block (root only: skipped where mounting is not allowed)."""
    mount = tmp_path / "full"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        fd = os.open(mount / "fill", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:  # ENOSPC: full
            pass
        finally:
            os.close(fd)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


@pytest.mark.parametrize("survival", [False, True])
def test_a_full_disk_is_exit_2_naming_the_file(survival_runs, full_disk, survival):
    out = full_disk / "table.parquet"
    proc = _cli("collect", survival_runs, *(["--survival"] if survival else []), "-o", out)
    line = _error(proc)
    assert f"{out}: cannot write the table" in line and "No space left on device" in line
    assert sorted(os.listdir(full_disk)) == ["fill"]
