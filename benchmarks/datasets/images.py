"""Reading one image file of a folder dataset, safely: hostile or broken files end in one :class:`DataError`
naming the file, in bounded time and memory.

* **Only regular files.** A FIFO named ``x.png`` makes ``open`` wait for a writer forever (the image folder that
  hung for 150 s in the issue-22 probe); a device never ends. The listing (:func:`image_files`) names every
  image-named entry that is not a regular file (FIFO, device, socket, folder, dangling symlink, symlink loop),
  and :func:`decode` checks again on the open descriptor (the file may change between listing and decoding).
* **A pixel bound, checked on the header before decoding.** Pillow reads the size from the header and decodes
  only on ``load``; a 60-byte PNG can declare 10^10 pixels and a 100 kB one decodes to 100 MB (a
  decompression bomb). An image may have at most :func:`pixel_bound` pixels: ``ROBUSTPERF_MAX_IMAGE_PIXELS``
  (default 89,478,485, Pillow's own warning threshold, about 9459^2: more than any ImageNet photo) or, for a run
  at a larger ``data.image_size``, ``(32 x image_size)^2``. This bound replaces Pillow's own check (its warning
  above ``Image.MAX_IMAGE_PIXELS`` and its ``DecompressionBombError`` above twice that).
* **Known formats only.** The formats of the listed extensions (JPEG, with its MPO variant, PNG, BMP, WebP,
  PPM/PGM/PBM, TIFF) and GIF, identified by content as Pillow does; a file in any other format (ICO, PSD, ...)
  is refused, so no container format can hide a larger image behind its header.
* **Every decoder failure is a DataError.** Pillow's plug-ins raise ``OSError``, ``ValueError``,
  ``SyntaxError``, ``struct.error``, ``EOFError``, ``IndexError``, ``MemoryError`` and others on hostile bytes
  (tests/benchmarks/datasets/test_hostile_images.py fuzzes headers and bytes of every format).
"""
from __future__ import annotations

import errno
import os
import stat
import warnings
from typing import Iterable, List, Optional

from PIL import Image

from recipes.limits import LIMITS, limit

from .base import DataError

__all__ = ["EXTENSIONS", "FORMATS", "decode", "first_image", "image_files", "not_a_file", "pixel_bound"]

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")
#: Pillow formats an image file may be in, whatever its extension says
FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "PPM", "TIFF", "GIF")  # JPEG includes its MPO variant
#: a run reads images up to this many times its image side in each direction (when above the variable's bound)
SIDE_FACTOR = 32


def pixel_bound(image_size: Optional[int] = None) -> int:
    """The most pixels one image file may have for a run at ``image_size``:
    ``max(ROBUSTPERF_MAX_IMAGE_PIXELS, (32 x image_size)^2)``."""
    side = SIDE_FACTOR * int(image_size or 0)
    return max(limit("image_pixels"), side * side)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def not_a_file(path: str) -> DataError:
    """The DataError for an image name that is not a regular file (says what it is instead)."""
    try:
        what = f"is {_kind(os.stat(path).st_mode)}"
    except OSError as err:  # dangling symlink, symlink loop, vanished, no permission on the folder
        if err.errno == errno.ELOOP:
            what = "is a symlink loop"
        elif err.errno == errno.ENOENT:
            what = "is a dangling symlink" if os.path.islink(path) else "does not exist"
        else:
            what = f"cannot be read ({err.strerror or err})"
    return DataError(f"{path} {what}, not an image file: remove it or replace it with the image (image files "
                     f"are regular files, or symlinks to them)")


def image_files(folder: str) -> List[str]:
    """The image files directly in ``folder`` (by extension), sorted.

    Raises:
        DataError: an entry with an image extension is not a regular file (or a symlink to one).
    """
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.lower().endswith(EXTENSIONS):
                continue
            try:
                regular = entry.is_file()  # follows symlinks; free (no stat) for plain files on most file systems
            except OSError:  # a symlink loop
                regular = False
            if not regular:
                raise not_a_file(entry.path)
            found.append(entry.path)
    return sorted(found)


def first_image(folders: Iterable[str]) -> Optional[str]:
    """The first image-named entry found in any of ``folders`` (stops at the first: cheap on huge folders)."""
    for folder in folders:
        if not os.path.isdir(folder):
            continue
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.lower().endswith(EXTENSIONS):
                    return entry.path
    return None


def _too_large(path: str, width: int, height: int, bound: int) -> DataError:
    var = LIMITS["image_pixels"][0]
    return DataError(f"{path}: {width:,} x {height:,} pixels ({width * height:,}), over the bound of {bound:,} "
                     f"pixels (max({var}, ({SIDE_FACTOR} x data.image_size)^2)): a decompression bomb or an image "
                     f"far larger than the run reads; remove it, or raise the bound with {var}")


def decode(path: str, max_pixels: Optional[int] = None) -> Image.Image:
    """The image at ``path`` as RGB, at most ``max_pixels`` pixels (default: :func:`pixel_bound` ``()``).

    Raises:
        DataError: the file is not a regular file, is over the bound, or cannot be decoded (names the file).
    """
    bound = pixel_bound() if max_pixels is None else int(max_pixels)
    try:
        mode = os.stat(path).st_mode
    except OSError:
        raise not_a_file(path) from None
    if not stat.S_ISREG(mode):
        raise not_a_file(path)  # before open(): opening a FIFO waits for a writer
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        raise DataError(f"cannot decode image {path}: {err.strerror or err}") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced since the stat above
            raise not_a_file(path)
        return _decode_open(path, fh, bound)


def _open(fh):
    """``Image.open`` without Pillow's own size check (the caller checks :func:`pixel_bound`, which may be above
    Pillow's), for the formats of :data:`FORMATS` only."""
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # read at the end of open(); restored at once, the bound is checked next
    try:
        return Image.open(fh, formats=FORMATS)
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _decode_open(path: str, fh, bound: int) -> Image.Image:
    size = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with _open(fh) as img:
                size = img.size
                if size[0] < 1 or size[1] < 1:
                    raise ValueError(f"the header declares {size[0]} x {size[1]} pixels")
                if size[0] * size[1] <= bound:
                    return img.convert("RGB")
    except Image.UnidentifiedImageError:
        raise DataError(f"cannot decode image {path}: not an image in a known format ({', '.join(FORMATS)})"
                        ) from None
    except Exception as err:  # noqa: BLE001 - Pillow's plug-ins raise many types on hostile bytes (module doc)
        reason = " ".join(str(err).split())[:200] or type(err).__name__
        raise DataError(f"cannot decode image {path}: {reason}") from None
    raise _too_large(path, size[0], size[1], bound)
