"""Hostile image files and folders (issue 22): decompression bombs and headers that lie about their size, image
files that are FIFOs, devices, folders or symlink loops, an undecodable image read by DataLoader workers, and an
empty class folder. Each ends in one DataError naming the file (exit 2 from the CLI), fast, never in a hang, a
traceback or a silently changed class count. Header fields and mutated bytes are fuzzed over Pillow's formats."""
from __future__ import annotations

import io
import os
import struct
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from benchmarks.datasets import DataError, dataset_info, eval_set, load_dataset
from benchmarks.datasets.streamed import decode
from tests.benchmarks._dataset_fixtures import make_imagefolder, make_tiny_imagenet
from tests.benchmarks._training_helpers import one_thread, run_cli  # noqa: F401 - autouse fixture

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header(width: int, height: int, payload: bytes = b"") -> bytes:
    """A PNG whose IHDR declares ``width`` x ``height`` RGB, with ``payload`` as its (deflated) pixel data."""
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(payload)) + _chunk(b"IEND", b""))


def _folder(path, tmp_path, **data):
    from types import SimpleNamespace

    return SimpleNamespace(name="imagefolder", root=str(path), image_size=16, num_workers=0, **data)


# ---------------------------------------------------------------- decompression bombs, lying headers

@pytest.mark.timeout(60)
def test_decompression_bomb_is_a_data_error_naming_the_file(tmp_path):
    make_imagefolder(tmp_path)
    bomb = tmp_path / "val" / "cat" / "bomb.png"
    bomb.write_bytes(png_header(100_000, 100_000))  # 10^10 pixels declared in 60 bytes
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"bomb\.png.*100,?000 x 100,?000"):
        load_dataset("imagefolder", "test", str(tmp_path), image_size=16)
    assert time.monotonic() - t0 < 10


@pytest.mark.timeout(120)
def test_a_real_bomb_under_pillows_limit_is_refused_by_the_image_size_bound(tmp_path, monkeypatch):
    # 6000 x 6000 zeros deflate to ~100 kB and decode to 108 MB: under Pillow's own limit (89 M pixels), over a
    # bound the user lowered for this data
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header(6000, 6000, b"\0" * (6000 * 3 + 1) * 6000))
    assert bomb.stat().st_size < 200_000
    monkeypatch.setenv("ROBUSTPERF_MAX_IMAGE_PIXELS", str(1000 * 1000))
    from benchmarks.datasets.images import pixel_bound

    assert pixel_bound(16) == 1000 * 1000 and pixel_bound(64) == 2048 * 2048  # (32 x image_size)^2 when larger
    with pytest.raises(DataError, match=r"bomb\.png: 6,000 x 6,000 pixels .*ROBUSTPERF_MAX_IMAGE_PIXELS"):
        decode(str(bomb), pixel_bound(16))
    assert decode(str(bomb), pixel_bound(256)).size == (6000, 6000)  # a larger image_size reads larger images


def _valid(fmt: str, size=(5, 4)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(size[0] * size[1] * 3, dtype=np.uint8).reshape(size[1], size[0], 3)).save(buf, fmt)
    return buf.getvalue()


#: Pillow identifies images by content, not by name: every format it opens can hide behind a .png
FORMATS = ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM", "ICO", "TGA", "PCX", "IM", "SGI", "DDS", "QOI"]
BOUND = 10_000


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP", "PPM"])
def test_valid_images_of_every_accepted_format_decode(tmp_path, fmt):
    (tmp_path / "x.png").write_bytes(_valid(fmt))  # the content decides, not the name
    img = decode(str(tmp_path / "x.png"))
    assert img.mode == "RGB" and img.size == (5, 4)


def test_other_formats_are_refused_by_name(tmp_path):
    (tmp_path / "x.png").write_bytes(_valid("ICO"))
    with pytest.raises(DataError, match=r"x\.png: not an image in a known format \(JPEG, PNG"):
        decode(str(tmp_path / "x.png"))


def _decodes_or_refuses(path, data: bytes):
    path.write_bytes(data)
    t0 = time.monotonic()
    try:
        img = decode(str(path), BOUND)
    except DataError as err:
        assert str(path) in str(err) and "\n" not in str(err), str(err)
    else:
        assert img.mode == "RGB" and img.size[0] * img.size[1] <= BOUND
    assert time.monotonic() - t0 < 5, data[:64]


@pytest.mark.timeout(240)
@FUZZ
@given(fmt=st.sampled_from(FORMATS), width=st.integers(1, 2**32 - 1), height=st.integers(1, 2**32 - 1),
       where=st.integers(0, 40), endian=st.sampled_from("<>"), bits=st.sampled_from("HI"))
def test_headers_declaring_any_size_decode_within_the_bound_or_refuse(tmp_path, fmt, width, height, where,
                                                                      endian, bits):
    """A valid small image whose header fields are overwritten with any dimensions (fields of 2 or 4 bytes, either
    byte order, anywhere in the first 40 bytes): decoded within the pixel bound, or a DataError naming the file."""
    data = bytearray(_valid(fmt))
    size = struct.calcsize(bits)
    if where + 2 * size <= len(data):
        mask = (1 << (8 * size)) - 1
        data[where:where + 2 * size] = struct.pack(endian + 2 * bits, width & mask, height & mask)
    _decodes_or_refuses(tmp_path / "x.png", bytes(data))


@pytest.mark.timeout(240)
@FUZZ
@given(fmt=st.sampled_from(FORMATS), edits=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 300)))
def test_mutated_and_truncated_images_decode_or_refuse(tmp_path, fmt, edits, cut):
    data = bytearray(_valid(fmt, (7, 6)))
    for at, value in edits:
        if at < len(data):
            data[at] = value
    _decodes_or_refuses(tmp_path / "x.png", bytes(data if cut is None else data[:cut]))


@pytest.mark.timeout(60)
@pytest.mark.parametrize("declared", [(9000, 9000), (2**31 - 1, 1), (1, 2**31 - 1), (65535, 65535)])
def test_png_declaring_a_huge_size_in_a_tiny_file_is_fast(tmp_path, declared):
    path = tmp_path / "lie.png"
    path.write_bytes(png_header(*declared, b"\0" * 64))
    t0 = time.monotonic()
    with pytest.raises(DataError, match="lie.png"):
        decode(str(path), BOUND)
    assert time.monotonic() - t0 < 5


# ---------------------------------------------------------------- files that are not image files

def _not_a_file(kind, path, tmp_path):
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.symlink("/dev/zero", path)
    elif kind == "loop":
        os.symlink(path.name, path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "dangling":
        os.symlink(tmp_path / "nowhere.png", path)
    elif kind == "unreadable":
        path.write_bytes(_valid("PNG"))
        path.chmod(0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["fifo", "device", "loop", "folder", "dangling", "unreadable"])
@pytest.mark.parametrize("split", ["train", "val"])
def test_an_image_name_that_is_no_image_file_is_named_at_once(tmp_path, kind, split):
    """The folder that hung for 150 s held a FIFO named *.png: opening it waits for a writer forever."""
    if kind == "unreadable" and os.geteuid() == 0:
        pytest.skip("root reads any file")
    make_imagefolder(tmp_path)
    path = tmp_path / split / "cat" / "zz.png"
    _not_a_file(kind, path, tmp_path)
    t0 = time.monotonic()
    with pytest.raises(DataError, match=r"zz\.png"):
        load_dataset("imagefolder", "train" if split == "train" else "test", str(tmp_path), image_size=16)
    assert time.monotonic() - t0 < 10


@pytest.mark.timeout(60)
def test_decode_refuses_a_fifo_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "f.png")
    with pytest.raises(DataError, match=r"f\.png.*FIFO"):
        decode(str(tmp_path / "f.png"))


# ---------------------------------------------------------------- DataLoader workers

@pytest.mark.timeout(120)
def test_an_undecodable_image_is_the_same_one_line_error_with_workers(tmp_path):
    make_imagefolder(tmp_path)
    (tmp_path / "val" / "cat" / "1.png").write_bytes(b"not an image")
    messages = []
    for workers in (0, 2):
        data = _folder(tmp_path, tmp_path)
        data.num_workers = workers
        with pytest.raises(DataError) as err:
            for _ in eval_set(data, "test").batches(2):
                pass
        messages.append(str(err.value))
    assert messages[0] == messages[1] and "\n" not in messages[1] and "1.png" in messages[1], messages
    assert "Traceback" not in messages[1] and "worker" not in messages[1]


@pytest.mark.timeout(240)
def test_run_with_workers_and_a_broken_training_image_exits_2_in_one_line(tmp_path):
    make_imagefolder(tmp_path / "data")
    (tmp_path / "data" / "train" / "dog" / "3.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: folder
base:
  data: {{name: imagefolder, root: {tmp_path / 'data'}, image_size: 16, batch_size: 5, num_workers: 2}}
  model: {{arch: wrn, depth: 10, width: 1}}
  training: {{loss: fgsm_rs, epochs: 1, warmup_epochs: 0, lr_base_batch_size: 5, select_subset: 4,
             select_pgd_steps: 1, select_on: test}}
  attack: {{eps: 8/255, steps: 1}}
  evaluation: {{pgd_steps: 1}}
""")
    proc = run_cli(["run", recipe, "--index", "0", "--results", tmp_path / "res", "--device", "cpu", "--no-progress",
                    "--no-flops", "--no-eval"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "3.png" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr and "Caught DataError" not in proc.stderr, proc.stderr


# ---------------------------------------------------------------- class folders

def test_an_empty_class_folder_is_named_not_counted(tmp_path):
    make_imagefolder(tmp_path)
    assert dataset_info("imagefolder", str(tmp_path)).num_classes == 2
    (tmp_path / "train" / "empty").mkdir()
    (tmp_path / "train" / "notes").mkdir()
    (tmp_path / "train" / "notes" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"2 class folders hold no images.*empty.*notes"):
        dataset_info("imagefolder", str(tmp_path))


def test_a_tiny_imagenet_class_without_images_is_named(tmp_path):
    make_tiny_imagenet(tmp_path)
    (tmp_path / "tiny-imagenet-200" / "train" / "n99999999" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match=r"n99999999"):
        dataset_info("tinyimagenet", str(tmp_path))


def test_a_val_folder_that_is_no_training_class_is_named(tmp_path):
    make_imagefolder(tmp_path)
    (tmp_path / "val" / "cow").mkdir()
    (tmp_path / "val" / "cow" / "0.png").write_bytes(_valid("PNG"))
    with pytest.raises(DataError, match=r"val.*cow.*not a class"):
        load_dataset("imagefolder", "test", str(tmp_path), image_size=16)
