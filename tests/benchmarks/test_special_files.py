"""A run folder whose record, checkpoint or saved progress is a FIFO or a device: infer and evaluate say so in
one line (exit 2), or start the progress over; nothing waits for a writer (issue 22).

Before: a FIFO ``checkpoint-best.pt`` was reported as missing ("does not exist"), a FIFO ``result.json`` as
"no result.json", and a FIFO ``evaluation/best/progress.json`` blocked ``evaluate`` for ever.
"""
from __future__ import annotations

import os

import pytest

import robustperf
from tests.conftest import ROOT

CHEAP = ["--set", "evaluation.autoattack=null", "--set", "evaluation.pgd_steps=1", "--set", "evaluation.fgm_steps=0"]


@pytest.fixture
def run_dir(cached_run, tmp_path_factory):
    """The evaluation CLI tests' WRN-10-1 (tests/benchmarks/evaluation/test_evaluation_cli.py), a fresh copy."""
    results = tmp_path_factory.mktemp("results")
    cached_run(["run", str(ROOT / "recipes" / "tiny-digits.yaml"), "--index", "0", "--results",
                str(results), "--no-eval", "--no-flops", "--no-progress", "--set", "training.epochs=1",
                "--set", "training.warmup_epochs=0", "--set", "attack.steps=1",
                "--set", "training.select_subset=64"])
    (folder,) = [p for p in results.iterdir() if p.is_dir()]
    return folder


def special(path, kind: str) -> str:
    if os.path.lexists(path):
        os.unlink(path)
    if kind == "fifo":
        os.mkfifo(path)
    else:
        os.symlink("/dev/zero", path)
    return str(path)


INFER = ["--no-record", "--precision", "fp32", "--queries", "2", "--passes", "1", "--warmup", "0",
         "--autoattack", "none", "--accuracy-n", "8", "--calibration-n", "8", "--threads", "1"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind", ["fifo", "zero"])
@pytest.mark.parametrize("command", ["infer", "evaluate"])
@pytest.mark.parametrize("file, words", [("checkpoint-best.pt", "the checkpoint is"),
                                         ("result.json", "the record is")])
def test_a_fifo_in_a_run_folder_is_refused_in_one_line(command, file, words, kind, run_dir, capsys):
    path = special(run_dir / file, kind)
    argv = [command, str(run_dir)] + (INFER if command == "infer" else CHEAP)
    assert robustperf.main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(err) == 1 and path in err[0], err
    if kind == "zero" and "symbolic link" in err[0]:  # a run folder holding a link is refused before it is read
        assert "(to /dev/zero)" in err[0], err
    else:
        assert words in err[0] and ("FIFO" if kind == "fifo" else "character device") in err[0], err


@pytest.mark.timeout(300)
def test_a_fifo_as_saved_evaluation_progress_is_no_progress(run_dir, capsys):
    progress = run_dir / "evaluation" / "best" / "progress.json"
    progress.parent.mkdir(parents=True, exist_ok=True)
    special(progress, "fifo")
    assert robustperf.main(["evaluate", str(run_dir), *CHEAP]) == 0
    assert progress.is_file() or not progress.exists()  # replaced by the atomic write, or gone once done
