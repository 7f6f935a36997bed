"""Real small file systems for the tests: a tmpfs mounted for the test (a disk that fills up, a read-only one).

Mounting needs root, or an unprivileged user namespace; where neither is allowed the test is skipped with the
reason (a mocked ``OSError`` would not show which call names its file and which does not).
"""
from __future__ import annotations

import contextlib
import pathlib
import subprocess

import pytest


@contextlib.contextmanager
def small_file_system(path: pathlib.Path, options: str = "size=64k"):
    """A real tmpfs mounted at ``path`` (root only; skipped where mounting is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path: pathlib.Path) -> None:
    """Fill the file system holding the folder ``path`` (a file ``filler`` takes every free block)."""
    with contextlib.suppress(OSError), open(path / "filler", "wb") as fh:
        while True:
            fh.write(b"\0" * 4096)
            fh.flush()


@contextlib.contextmanager
def full_file_system(path: pathlib.Path):
    """A tmpfs at ``path`` with no free block left (inodes remain: folders and empty files can still be made,
    as on a real full disk, and the first data written fails with ENOSPC)."""
    with small_file_system(path, "size=64k") as mount:
        fill(mount)
        yield mount
