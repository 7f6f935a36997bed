"""Fixtures of the submissions tests: ``robustperf`` commands as a real subprocess and in-process (:func:`console`),
the check of a user mistake's one line (:func:`one_line_error`), and a mixed input (a summary CSV of synthetic rows
and small synthetic submission folders, one with a hostile submitter name)."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from typing import Dict, List

import pytest

from submissions.board.columns import COLUMNS, SCORED
from tests.conftest import ROOT
from tests.submissions.synthetic import make_submission, summary_rows, write_summary

#: a submitter name that must render as text everywhere
HOSTILE = "<script>alert(1)</script>"


def robustperf(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``robustperf ARGS`` in a fresh interpreter, with ``env`` added to the environment."""
    return subprocess.run([sys.executable, "-m", "robustperf", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, **env))


def board(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``robustperf board ARGS`` in a fresh interpreter, with ``env`` added to the environment."""
    return robustperf("board", *args, **env)


@pytest.fixture
def console(capsys):
    """``robustperf COMMAND ARGS`` in this process (the console command's own main): exit status and output, as a
    subprocess's; :func:`robustperf` runs the same in a fresh interpreter."""
    import robustperf as command

    def run(*args):
        capsys.readouterr()
        code = command.main(list(args))
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)
    return run


def one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    """Assert that ``proc`` ended as a user mistake must (exit 2, one line on stderr, no traceback) and that the
    line holds each of ``words``; return the line."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture(scope="session")
def mixed_inputs(tmp_path_factory) -> Dict[str, object]:
    """A summary CSV of 12 rows over two benchmarks (both divisions, four systems, one unconfirmed, one with no
    score) and three submission folders on ``digits-linf-0.2``: a hostile submitter (closed, confirmed), an open
    one and one whose two missed runs leave it with no score."""
    root = tmp_path_factory.mktemp("board-inputs")
    rows = summary_rows(12, benchmarks=("cifar10-linf-8", "digits-linf-0.2"))
    rows[10].update({c: "" for c in COLUMNS if c.endswith(SCORED + ("_min", "_max"))})  # cifar10-linf-8, closed
    rows[10].update(scored_runs="", confirmed=False, reached_runs=2)
    summary = root / "summary.csv"
    write_summary(summary, rows)
    folders: List[pathlib.Path] = [
        make_submission(root / "hostile", submitter=HOSTILE),
        make_submission(root / "open", submitter="acme", division="open", system="2xNVIDIA_H200",
                        seconds=(12.0, 10.0, 11.0, 15.0, 13.0)),
        make_submission(root / "missed", submitter="slowlab", seconds=(10.0, None, None, 12.0, 11.0)),
    ]
    expected: Dict[str, int] = {}
    for row in rows:
        expected[str(row["benchmark"])] = expected.get(str(row["benchmark"]), 0) + 1
    expected["digits-linf-0.2"] += len(folders)
    return {"root": root, "summary": summary, "rows": rows, "folders": folders, "per_benchmark": expected}


@pytest.fixture(scope="session")
def built_site(mixed_inputs, tmp_path_factory) -> pathlib.Path:
    """The site of :func:`mixed_inputs`, built by ``robustperf board`` in a subprocess."""
    site = tmp_path_factory.mktemp("board-site") / "site"
    proc = board(str(mixed_inputs["summary"]), *map(str, mixed_inputs["folders"]), "-o", str(site))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(site / "index.html")
    return site
