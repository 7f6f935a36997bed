"""Safe writes (issue 22): no write follows a symbolic link or leaves the folder it was given, a run id is one
folder name, and a write the file system refuses names its file.

The classes are large (which file, which folder on the way, which kind of link; which string becomes a path), so
they are covered by property tests over the writers and over generated names, on real files."""
from __future__ import annotations

import errno
import os
import pathlib
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import results
from results import RecordError, UnsafePathError
from results.io import atomic_write_text, links_in, make_folder, open_append, refuse_links
from results.validation import run_id_problem
from tests._filesystems import full_file_system

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _snapshot(folder: pathlib.Path):
    """Every path under ``folder`` with its bytes (files) or its kind: a write outside shows here."""
    out = {}
    for p in sorted(folder.rglob("*")):
        out[str(p.relative_to(folder))] = p.read_bytes() if p.is_file() and not p.is_symlink() else \
            ("link" if p.is_symlink() else "dir")
    return out


def _append(path, root):
    with open_append(str(path), root=str(root), encoding="utf-8") as fh:
        fh.write("appended\n")


def _atomic(path, root):
    atomic_write_text(str(path), "written\n", root=str(root))


def _record(path, root):
    record = results.new_record(path.parent.name, "n", {"seed": 0})
    results.write_run_record(str(path.parent), record)


WRITERS = {"append": _append, "atomic": _atomic}
KINDS = ("link-to-file", "link-to-folder", "dangling-link")


def _plant(where: pathlib.Path, kind: str, outside: pathlib.Path) -> None:
    where.parent.mkdir(parents=True, exist_ok=True)
    if kind == "link-to-file":
        os.symlink(outside / "victim.txt", where)
    elif kind == "link-to-folder":
        os.symlink(outside, where, target_is_directory=True)
    else:
        os.symlink(outside / "does-not-exist", where)


@SETTINGS
@given(writer=st.sampled_from(sorted(WRITERS)), kind=st.sampled_from(KINDS),
       depth=st.integers(0, 3), at=st.integers(0, 3), name=st.sampled_from(["train.log", "mllog.txt",
                                                                           "result.json", "pareto.csv"]))
def test_no_write_follows_a_link_at_the_file_or_any_folder_below_the_root(tmp_path_factory, writer, kind, depth,
                                                                          at, name):
    """A link at the file itself or at any folder between the root and it: refused, naming it; nothing outside
    changes and no file appears there."""
    base = tmp_path_factory.mktemp("w")
    root, outside = base / "root", base / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("keep\n")
    folders = [f"d{i}" for i in range(depth)]
    target = root.joinpath(*folders, name)
    at = min(at, depth)  # the link replaces the file (at == depth) or the folder folders[at]
    link = root.joinpath(*folders[:at + 1]) if at < depth else target
    _plant(link, kind, outside)
    before = _snapshot(outside)
    with pytest.raises(UnsafePathError) as err:
        WRITERS[writer](target, root)
    assert err.value.path == str(link) and "symbolic link" in str(err.value)
    assert isinstance(err.value, results.UnsafePathError) and err.value.exit_code == 2
    assert _snapshot(outside) == before
    assert os.path.islink(link)  # refused, not replaced behind the user's back


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_writes_inside_real_folders_still_work_and_leave_no_temp_files(tmp_path, writer):
    target = tmp_path / "root" / "a" / "b" / "f.txt"
    WRITERS[writer](target, tmp_path / "root")
    WRITERS[writer](target, tmp_path / "root")
    assert target.read_text() in ("appended\nappended\n", "written\n")
    assert not [p for p in target.parent.iterdir() if p.name.startswith(".tmp-")]


def test_a_path_outside_the_root_is_refused(tmp_path):
    with pytest.raises(UnsafePathError, match="outside"):
        atomic_write_text(str(tmp_path / "root" / ".." / "elsewhere.txt"), "x", root=str(tmp_path / "root"))
    assert not (tmp_path / "elsewhere.txt").exists()


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "train.log")
    with pytest.raises(UnsafePathError, match="FIFO"):
        open_append(str(tmp_path / "train.log"))


def test_refuse_links_names_the_first_link_and_skips_foreign_folders(tmp_path):
    run = tmp_path / "run"
    (run / "wandb").mkdir(parents=True)
    os.symlink(run / "wandb", run / "wandb" / "latest-run")  # W&B's own link: not ours to judge
    refuse_links(str(run), skip=("wandb",))
    (run / "evaluation" / "best").mkdir(parents=True)
    os.symlink("/etc/hostname", run / "evaluation" / "best" / "progress.json")
    with pytest.raises(UnsafePathError) as err:
        refuse_links(str(run), skip=("wandb",))
    assert err.value.path.endswith("evaluation/best/progress.json")
    assert links_in(str(run), skip=("wandb",)) == [str(run / "evaluation" / "best" / "progress.json")]
    os.symlink(run, tmp_path / "alias")
    with pytest.raises(UnsafePathError, match="not a run folder"):
        refuse_links(str(tmp_path / "alias"), what="run folder")


# ---------------------------------------------------------------- run ids: a name that becomes a folder

_ID_CHARS = string.ascii_letters + string.digits + "._-/\\ ~$:\0\n" + "é"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ID_CHARS, max_size=140) | st.sampled_from(["..", ".", "../x", "/tmp/x", "a/../../b",
                                                                     "x" * 129, "", "-rf", ".hidden"]))
def test_a_run_id_is_one_folder_name_or_refused(run_id):
    problem = run_id_problem(run_id)
    if problem is None:
        assert run_id not in (".", "..") and "/" not in run_id and "\\" not in run_id and "\0" not in run_id
        assert os.path.dirname(os.path.join("/results", run_id)) == "/results" and len(run_id) <= 128
        assert run_id[0].isalnum()
    else:
        assert "run id" in problem or "non-empty" in problem


@SETTINGS
@given(run_id=st.sampled_from(["../../../tmp/x", "../escaped", "/tmp/abs", "a/b", "..", ".", "x\0y", "a b"]))
def test_a_record_with_a_path_for_run_id_is_neither_written_nor_read(tmp_path_factory, run_id):
    base = tmp_path_factory.mktemp("ids")
    res = base / "a" / "b" / "res"
    res.mkdir(parents=True)
    record = results.new_record("abc123def456", "n", {"seed": 0})
    record["run_id"] = run_id
    before = _snapshot(base)
    with pytest.raises(ValueError, match="run_id"):
        results.write_record(str(res), record)
    assert _snapshot(base) == before
    folder = res / "abc123def456"
    folder.mkdir()
    (folder / "result.json").write_text(results.record_text(record))
    with pytest.raises(RecordError, match="run_id"):
        results.read_record(str(folder / "result.json"))
    entries = list(results.iter_records(str(res)))
    assert [(r, bool(why)) for _, r, why in entries] == [(None, True)]


def test_a_record_is_read_and_written_only_in_the_folder_named_by_its_run_id(tmp_path):
    record = results.new_record("abc123def456", "n", {"seed": 0})
    results.write_record(str(tmp_path), record)
    os.rename(tmp_path / "abc123def456", tmp_path / "copy")
    with pytest.raises(RecordError, match="named 'copy' but holds run 'abc123def456'"):
        results.read_run_record(str(tmp_path / "copy"))
    with pytest.raises(RecordError, match="named 'copy'"):
        results.write_run_record(str(tmp_path / "copy"), record)
    (tmp_path / "other").mkdir()
    os.rename(tmp_path / "copy" / "result.json", tmp_path / "other" / "result.json")
    with pytest.raises(RecordError, match="holds run 'abc123def456'"):
        results.load_record(str(tmp_path), "other")
    with pytest.raises(RecordError, match="not a run id"):
        results.load_record(str(tmp_path), "../other")
    assert not (tmp_path / "abc123def456").exists()


# ---------------------------------------------------------------- a full disk names the file

def test_a_full_disk_names_the_file_for_every_writer(tmp_path):
    with full_file_system(tmp_path / "mnt") as mnt:
        for writer, name in [(_atomic, "a.txt"), (_append, "train.log"), (_record, "result.json")]:
            target = mnt / "run0" / name
            make_folder(str(target.parent))
            with pytest.raises(OSError) as err:
                writer(target, mnt)
            assert err.value.errno == errno.ENOSPC and err.value.filename == str(target), (writer, err.value)
        import robustperf

        message = robustperf.file_system_message(err.value)
        assert message.startswith(str(mnt / "run0" / "result.json") + ": No space left")


def test_a_full_disk_error_without_a_file_name_names_the_folder_written_never_a_question_mark():
    import robustperf

    err = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert robustperf.file_system_message(err, "/scratch/runs").startswith("a file under /scratch/runs: No space")
    assert "?" not in robustperf.file_system_message(err)
