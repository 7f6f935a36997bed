"""recipes/files.py on real special files: every kind of path a user can give, for every reader and output check.

Before issue 22 a recipe, mapping, table, record, lock or checkpoint that was a FIFO blocked ``open()`` until a
writer came (forever), and a recipe symlinked to ``/dev/zero`` was read whole before its size was checked.
"""
from __future__ import annotations

import os
import socket
import stat
import time

import pytest

from recipes.files import (FileKindError, check_output_file, check_output_folder, check_regular, open_regular,
                           read_regular)

#: kind -> whether a reader may open it
KINDS = {"regular": True, "empty": True, "link to regular": True, "fifo": False, "link to fifo": False,
         "/dev/zero": False, "link to /dev/zero": False, "/dev/null": False, "/dev/urandom": False,
         "directory": False, "link to directory": False, "socket": False, "missing": None, "broken link": None}


def make(kind: str, folder) -> str:
    """A path of ``kind`` under ``folder`` (devices are the system's own)."""
    if kind.startswith("/dev/"):
        return kind
    path = str(folder / kind.replace(" ", "_").replace("/", "_"))
    target = str(folder / "target")
    if kind == "regular":
        open(path, "w").write("base: {}\n")
    elif kind == "empty":
        open(path, "w").close()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        os.mkdir(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(path)
        sock.close()
    elif kind == "broken link":
        os.symlink(str(folder / "nowhere"), path)
    elif kind.startswith("link to "):
        make(kind[len("link to "):], folder)
        inner = kind[len("link to "):]
        os.symlink(inner if inner.startswith("/dev/") else str(folder / inner.replace(" ", "_")), path)
    del target
    return path


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_readers_open_regular_files_only_and_never_block(kind, tmp_path):
    path = make(kind, tmp_path)
    start = time.monotonic()
    if KINDS[kind] is None:
        with pytest.raises(FileNotFoundError):
            open_regular(path)
        check_regular(path)  # a missing path is the caller's own open's to report
    elif KINDS[kind]:
        with open_regular(path, "recipe") as fh:
            assert fh.read() == open(path, "rb").read()
        check_regular(path)
        assert read_regular(path, 100) == open(path, "rb").read()
    else:
        for reader in (lambda: open_regular(path, "recipe"), lambda: read_regular(path, 100, "recipe"),
                       lambda: check_regular(path, "recipe")):
            with pytest.raises(FileKindError) as err:
                reader()
            message = str(err.value)
            assert message.startswith(path) and "recipe" in message and "\n" not in message, message
    assert time.monotonic() - start < 5


def test_a_room_gives_its_own_error_and_the_reason_without_the_path(tmp_path):
    os.mkfifo(tmp_path / "f")

    class Mine(Exception):
        pass

    with pytest.raises(Mine, match=r"^the mapping is a FIFO \(named pipe\), not a regular file"):
        read_regular(str(tmp_path / "f"), 10, "mapping", error=Mine)


def test_the_read_stops_after_the_bound(tmp_path):
    """/dev/zero and a file growing without end are refused after limit + 1 bytes, not read whole."""
    big = tmp_path / "big"
    big.write_bytes(b"x" * 1001)
    with pytest.raises(FileKindError, match="larger than 1,000 bytes"):
        read_regular(str(big), 1000)
    assert read_regular(str(big), 1001) == b"x" * 1001
    too_big = []
    with pytest.raises(FileKindError, match="custom"):
        read_regular(str(big), 10, too_big=lambda n: too_big.append(n) or "custom")
    assert too_big == [10]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_output_folders_must_be_folders(kind, tmp_path):
    path = make(kind, tmp_path)
    if kind in ("directory", "link to directory", "missing", "broken link"):
        check_output_folder(path)
        check_output_folder(os.path.join(path, "new", "deeper"))
        return
    with pytest.raises(FileKindError, match="not a directory") as err:
        check_output_folder(path, "results directory")
    assert "results directory" in str(err.value)
    # a folder to be made under a file or a FIFO is refused too, naming the part in the way
    with pytest.raises(FileKindError, match="lies inside"):
        check_output_folder(os.path.join(path, "runs"))


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_output_files_must_be_regular_files_or_missing(kind, tmp_path):
    path = make(kind, tmp_path)
    if kind in ("regular", "empty", "link to regular", "missing", "broken link"):
        check_output_file(path)
        return
    with pytest.raises(FileKindError) as err:
        check_output_file(path, "output table")
    assert "output table" in str(err.value)
    mode = os.stat(path).st_mode
    assert ("directory" in str(err.value)) == stat.S_ISDIR(mode)


def test_an_output_file_inside_a_file_is_refused(tmp_path):
    (tmp_path / "plain").write_text("x")
    with pytest.raises(FileKindError, match="the folder of the output table is a regular file, not a directory"):
        check_output_file(str(tmp_path / "plain" / "t.csv"), "output table")
