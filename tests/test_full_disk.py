"""A full disk ends every command in one line that says where (issue 22: ``?: No space left on device`` named
nothing): the file when the system names one, else the folder the command writes. On a real full tmpfs."""
from __future__ import annotations

import pathlib

import pytest

import robustperf
from results import new_record, write_record
from recipes import load_recipe
from tests._filesystems import full_file_system
from tests.conftest import ROOT

TINY = str(ROOT / "recipes" / "tiny-digits.yaml")


def _run_folder(results: pathlib.Path) -> pathlib.Path:
    """A run folder with its record (what evaluate and infer read before they take the run's lock)."""
    spec = load_recipe(TINY).run(0)
    record = new_record(spec.run_id, spec.name, spec.config, "tiny-digits")
    record["status"] = "completed"
    write_record(str(results), record)
    return results / spec.run_id


COMMANDS = {
    "run": lambda full, elsewhere: ["run", TINY, "--index", "0", "--results", full / "res", "--no-progress"],
    "launch": lambda full, elsewhere: ["launch", TINY, "--scheduler", "slurm", "--dry-run", "--results",
                                       full / "res"],
    "tune": lambda full, elsewhere: ["tune", str(ROOT / "recipes" / "tune-digits.yaml"), "--results", full / "res",
                                     "--trials", "1"],
    "collect": lambda full, elsewhere: ["collect", _run_folder(elsewhere).parent, "-o", full / "table.csv"],
    "evaluate": lambda full, elsewhere: ["evaluate", _run_folder(full / "res")],
    "infer": lambda full, elsewhere: ["infer", _run_folder(full / "res"), "--precision", "fp32"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_full_disk_at_start_names_where(command, tmp_path, capsys):
    mount = tmp_path / "mnt"
    with full_file_system(mount) as full:
        if command in ("evaluate", "infer"):  # the run's record was there before the disk filled up
            (full / "filler").unlink()
            argv = COMMANDS[command](full, tmp_path / "elsewhere")
            from tests._filesystems import fill

            fill(full)
        else:
            argv = COMMANDS[command](full, tmp_path / "elsewhere")
        code = robustperf.main([str(a) for a in argv])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    last = err.splitlines()[-1]
    assert "No space left on device" in last and "Traceback" not in err, err
    assert "?:" not in last and str(mount) in last, last  # names the file, or the folder written
