"""Hostile data files other than images (issue 22): Tiny ImageNet annotations in another encoding, and synthetic
``.npz`` files whose headers declare arrays the file cannot hold. One DataError naming the file, fast, never a
UnicodeDecodeError or an ArrayMemoryError; headers are fuzzed over shapes, dtypes and versions."""
from __future__ import annotations

import struct
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.datasets import DataError, load_dataset, load_synthetic
from tests.benchmarks._dataset_fixtures import make_tiny_imagenet, synthetic_npz

FUZZ = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- Tiny ImageNet annotations

def _annotations(tmp_path):
    return tmp_path / "tiny-imagenet-200" / "val" / "val_annotations.txt"


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-8-sig", "utf-8"])
def test_annotations_in_latin_1_or_utf_8_are_read(tmp_path, encoding):
    """A file name with a non-ASCII letter, written in the annotation file's encoding: the image is found."""
    make_tiny_imagenet(tmp_path)
    notes = _annotations(tmp_path)
    images = notes.parent / "images"
    text = notes.read_text()
    (images / "val_0.JPEG").rename(images / "caf\u00e9.JPEG".encode(encoding).decode("utf-8", "surrogateescape")
                                   if encoding in ("latin-1", "cp1252") else images / "caf\u00e9.JPEG")
    notes.write_bytes(text.replace("val_0.JPEG", "caf\u00e9.JPEG").encode(encoding))
    x, y = load_dataset("tinyimagenet", "test", str(tmp_path))
    assert x.shape[0] == 6 and sorted(y.tolist()) == [0, 0, 1, 1, 2, 2]


def test_undecodable_annotations_name_the_file_and_line(tmp_path):
    make_tiny_imagenet(tmp_path)
    notes = _annotations(tmp_path)
    lines = notes.read_bytes().splitlines()
    lines[2] = b"val_9.JPEG\t\xff\xfe\x00n0\t0\t0\t63\t63"  # a wnid that is no class, in no encoding
    notes.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(DataError, match=r"val_annotations\.txt:3: .*wnid"):
        load_dataset("tinyimagenet", "test", str(tmp_path))
    notes.write_bytes(notes.read_text(errors="replace").encode("utf-16"))  # UTF-16: every line has NUL bytes
    with pytest.raises(DataError, match=r"val_annotations\.txt:1: .*UTF-16"):
        load_dataset("tinyimagenet", "test", str(tmp_path))


def test_an_annotation_line_without_end_is_bounded(tmp_path):
    make_tiny_imagenet(tmp_path)
    with open(_annotations(tmp_path), "ab") as fh:
        fh.write(b"x" * (3 << 20))  # 3 MB without a newline
    with pytest.raises(DataError, match=r"val_annotations\.txt:7: .*longer than"):
        load_dataset("tinyimagenet", "test", str(tmp_path))


# ---------------------------------------------------------------- synthetic .npz headers

def _npy_header(shape, descr="|u1", fortran=False, version=(1, 0)) -> bytes:
    """An .npy header (format versions 1 to 3) declaring any shape and dtype, as numpy writes it."""
    text = repr({"descr": descr, "fortran_order": fortran, "shape": tuple(shape)}).encode("latin-1")
    size = "<H" if version == (1, 0) else "<I"
    start = b"\x93NUMPY" + bytes(version)
    pad = -(len(start) + struct.calcsize(size) + len(text) + 1) % 64
    return start + struct.pack(size, len(text) + pad + 1) + text + b" " * pad + b"\n"


def _npz(path, members, compress=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compress) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return str(path)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("compress", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_header_declaring_a_huge_array_is_refused_before_allocating(tmp_path, compress):
    path = _npz(tmp_path / "s.npz", {"image.npy": _npy_header((10**12, 32, 32, 3)) + b"\0" * 3072,
                                     "label.npy": _npy_header((10**12,), "<i8") + b"\0" * 8}, compress)
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"s\.npz.*image.*1000000000000, 32, 32, 3"):
        load_synthetic(path)
    assert time.monotonic() - t0 < 5


def test_a_bound_guards_even_a_consistent_file(tmp_path, monkeypatch):
    path = synthetic_npz(tmp_path / "s.npz", n=400)
    monkeypatch.setenv("ROBUSTPERF_MAX_SYNTHETIC_MB", "1")
    with pytest.raises(DataError, match=r"s\.npz.*1,228,800 bytes.*ROBUSTPERF_MAX_SYNTHETIC_MB"):
        load_synthetic(path)
    monkeypatch.delenv("ROBUSTPERF_MAX_SYNTHETIC_MB")
    assert load_synthetic(path)[0].shape == (400, 3, 32, 32)


@pytest.mark.parametrize("what", ["npy", "fifo", "folder", "pickle"])
def test_what_is_no_npz_is_named(tmp_path, what):
    import os

    path = tmp_path / "s.npz"
    if what == "npy":
        np.save(path, np.zeros((2, 32, 32, 3), np.uint8))
        os.replace(str(path) + ".npy", path)
    elif what == "fifo":
        os.mkfifo(path)
    elif what == "folder":
        path.mkdir()
    else:
        np.savez(path, image=np.array([None, 1], dtype=object), label=np.zeros(2, np.int64))
    with pytest.raises(DataError, match=r"s\.npz"):
        load_synthetic(str(path))


DTYPES = ["|u1", "<i8", ">i4", "<f4", "|b1", "<U3", "|O", "<c16", "|V4", "<M8[s]"]


@pytest.mark.timeout(240)
@FUZZ
@given(image=st.lists(st.integers(0, 2**62), min_size=0, max_size=5), label=st.lists(st.integers(0, 2**62),
       max_size=2), dtype=st.sampled_from(DTYPES), label_dtype=st.sampled_from(DTYPES), fortran=st.booleans(),
       extra=st.integers(-8, 8), version=st.sampled_from([(1, 0), (2, 0), (3, 0)]),
       compress=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
def test_any_header_loads_or_is_refused_fast(tmp_path, image, label, dtype, label_dtype, fortran, extra, version,
                                             compress):
    """Headers declaring any shape, dtype and layout over payloads of about the declared size (or not): the
    file loads as valid synthetic data, or one DataError names it; never a MemoryError, never seconds."""
    def member(shape, descr):
        n = int(np.prod(shape, dtype=object)) if shape else 1
        size = n * np.dtype(descr).itemsize if n < 10**6 else 64
        return _npy_header(shape, descr, fortran, version) + b"\1" * max(0, size + extra)

    path = _npz(tmp_path / "s.npz", {"image.npy": member(image, dtype), "label.npy": member(label, label_dtype)},
                compress)
    t0 = time.monotonic()
    try:
        x, y = load_synthetic(path)
    except DataError as err:
        assert "s.npz" in str(err) and "\n" not in str(err)
    else:
        assert x.dtype.is_floating_point is False and x.shape[1:] == (3, 32, 32) and len(y) == len(x)
    assert time.monotonic() - t0 < 5
