"""Every command given a FIFO, a device or the wrong kind of path ends at once: one line, exit 2 (issue 22).

Real FIFOs (``os.mkfifo``) and real devices (symlinks to ``/dev/zero``): before, ``expand``, ``launch``, ``run``,
``tune`` and ``status --recipe`` blocked on a FIFO recipe, read ``/dev/zero`` until memory ran out, ``analyze``
blocked on a FIFO table or mapping, ``collect --survival`` on a FIFO survival table, ``status``, ``collect`` and
``migrate`` skipped a FIFO record silently. Each case runs in-process under a timeout, so a hang fails it. The
run-folder commands (``infer``, ``evaluate``, a resumed ``run``) are in tests/benchmarks/test_special_files.py;
``profile`` reads no file.
"""
from __future__ import annotations

import os
import shutil

import pytest

import robustperf
from tests.conftest import ROOT

TINY = str(ROOT / "recipes" / "tiny-digits.yaml")
TUNE = str(ROOT / "recipes" / "tune-digits.yaml")
RESULTS_1_0 = ROOT / "tests" / "data" / "results-1.0"


def special(path, kind: str) -> str:
    path = str(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "zero":
        os.symlink("/dev/zero", path)
    else:
        open(path, "w").write("not a folder\n")
    return path


def _table(folder) -> str:
    path = folder / "t.csv"
    path.write_text("flops,acc\n1,2\n2,3\n3,4\n")
    return str(path)


#: name -> (argv with {sp} for the special path and {tmp}, file suffix, words the error must hold)
CASES = {
    "expand recipe": (["expand", "{sp}"], ".yaml", "the recipe is"),
    "expand --count recipe": (["expand", "--count", "{sp}"], ".yaml", "the recipe is"),
    "launch recipe": (["launch", "{sp}", "--dry-run", "--results", "{tmp}/r"], ".yaml", "the recipe is"),
    "run recipe": (["run", "{sp}", "--index", "0", "--results", "{tmp}/r"], ".yaml", "the recipe is"),
    "tune recipe": (["tune", "{sp}", "--results", "{tmp}/r", "--status"], ".yaml", "the recipe is"),
    "status recipe": (["status", "{tmp}", "--recipe", "{sp}", "--no-jobs"], ".yaml", "the recipe is"),
    "analyze table csv": (["analyze", "{sp}", "-o", "{tmp}/out", "--no-figures"], ".csv", "the table is"),
    "analyze table parquet": (["analyze", "{sp}", "-o", "{tmp}/out", "--no-figures"], ".parquet", "the table is"),
    "analyze mapping": (["analyze", "{table}", "-o", "{tmp}/out", "--no-figures", "--mapping", "{sp}"], ".yaml",
                        "the mapping is"),
    "launch --results": (["launch", TINY, "--dry-run", "--results", "{sp}"], "", "the results directory is"),
    "run --results": (["run", TINY, "--index", "0", "--results", "{sp}"], "", "the results directory is"),
    "tune --results": (["tune", TUNE, "--results", "{sp}", "--status"], "", "the results directory is"),
    "collect -o": (["collect", str(RESULTS_1_0), "-o", "{sp}"], ".csv", "the output table is"),
    "analyze -o": (["analyze", "{table}", "-o", "{sp}", "--no-figures"], "", "not a folder"),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["fifo", "zero"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_a_fifo_or_device_given_to_a_command_is_refused_at_once(name, kind, tmp_path, capsys):
    argv, suffix, words = CASES[name]
    sp = special(tmp_path / f"special{suffix}", kind)
    args = [a.format(sp=sp, tmp=tmp_path, table=_table(tmp_path)) for a in argv]
    assert robustperf.main(args) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "warning" not in line]
    assert len(lines) == 1 and sp in lines[0] and words in lines[0], err
    if name != "analyze -o":  # analyze words its own check of -o ("exists and is not a folder")
        assert ("FIFO" if kind == "fifo" else "character device") in lines[0]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["launch --results", "run --results", "tune --results", "analyze -o"])
def test_an_output_folder_that_is_a_file_is_refused(name, tmp_path, capsys):
    argv, suffix, words = CASES[name]
    sp = special(tmp_path / "plain", "file")
    assert robustperf.main([a.format(sp=sp, tmp=tmp_path, table=_table(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and sp in err, err


def _results_with(tmp_path, kind: str, name: str = "result.json") -> tuple:
    results = tmp_path / "runs"
    shutil.copytree(RESULTS_1_0, results)
    run = sorted(p for p in results.iterdir() if p.is_dir())[0]
    (run / name).unlink(missing_ok=True)
    special(run / name, kind)
    return str(results), run.name


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_results_folder_with_a_fifo_record_is_reported_not_waited_on(kind, tmp_path, capsys):
    results, broken = _results_with(tmp_path, kind)
    assert robustperf.main(["status", results, "--no-jobs"]) == 0
    out = capsys.readouterr().out
    assert "1 unreadable" in out and broken in out and "not a regular file" in out, out
    assert robustperf.main(["migrate", results, "--dry-run"]) == 0
    both = "".join(capsys.readouterr())
    assert f"skip {broken}: its result.json is not a regular file" in both, both
    assert robustperf.main(["collect", results, "-o", str(tmp_path / "t.csv")]) == 0
    err = capsys.readouterr().err
    assert "1 left out" in err and broken in err and "not a regular file" in err, err


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", ["fifo", "zero"])
def test_a_fifo_lock_is_read_as_a_torn_lock_not_waited_on(kind, tmp_path, capsys):
    results, _ = _results_with(tmp_path, kind, name="run.lock")
    assert robustperf.main(["status", results, "--no-jobs"]) == 0
    capsys.readouterr()
