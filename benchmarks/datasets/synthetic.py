"""Synthetic training data: DeepMind's generated CIFAR-10 ``.npz`` (``image`` uint8 Nx32x32x3, ``label``).

Mixed into every training batch at ``data.synthetic_fraction`` (:class:`benchmarks.datasets.batches.TrainBatches`)
as in Gowal et al. 2021 (https://arxiv.org/abs/2110.09468) and Wang et al. 2023 (https://arxiv.org/abs/2302.04638).

The file is checked before any array is read: it must be a regular file and a zip archive (``np.savez`` or
``np.savez_compressed``) whose ``image`` and ``label`` members are ``.npy`` arrays; each member's header
(``np.lib.format.read_array_header_*``) must declare the expected dtype and shape, exactly the bytes the member
holds, and at most ``ROBUSTPERF_MAX_SYNTHETIC_MB`` (:mod:`recipes.limits`) of data. A header that declares 10^12
images in a kilobyte is refused in milliseconds instead of asking numpy for terabytes (``ArrayMemoryError``).
Nothing is ever unpickled (``allow_pickle=False``; object dtypes are refused).
"""
from __future__ import annotations

import math
import os
import stat
import zipfile
import zlib
from typing import Optional, Tuple

import numpy as np
import torch

from recipes.limits import LIMITS, limit

from .base import DataError

__all__ = ["load_synthetic"]

HINT = "expected an .npz with 'image' (uint8, N x 32 x 32 x 3) and 'label' (N integers)"
#: deflate cannot expand data more than about 1032:1; a member claiming more lies about its size
MAX_DEFLATE_RATIO = 1100


def _member(zf: zipfile.ZipFile, key: str) -> zipfile.ZipInfo:
    for name in (f"{key}.npy", key):
        try:
            return zf.getinfo(name)
        except KeyError:
            continue
    raise KeyError(f"no {key!r} array (members: {', '.join(zf.namelist()[:10])})")


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Tuple[tuple, np.dtype, int]:
    """``(shape, dtype, data bytes)`` that the member's ``.npy`` header declares, checked against its size."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{info.filename} is compressed with method {info.compress_type}; numpy writes stored or "
                         f"deflated members only")
    if info.file_size > max(info.compress_size, 1) * (MAX_DEFLATE_RATIO if info.compress_type else 1) + 1024:
        raise ValueError(f"{info.filename} claims {info.file_size:,} bytes from {info.compress_size:,} compressed")
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"{info.filename} is .npy format {version}; expected 1.0 or 2.0 (as np.savez writes)")
        offset = fh.tell()
    if dtype.hasobject:
        raise ValueError(f"{info.filename} holds Python objects (dtype {dtype}), which are never unpickled")
    nbytes = math.prod(shape) * dtype.itemsize  # Python integers: no overflow however large the shape
    if offset + nbytes != info.file_size:
        raise ValueError(f"{info.filename} declares an array of shape {shape} and dtype {dtype} ({nbytes:,} bytes) "
                         f"but holds {max(info.file_size - offset, 0):,} bytes of data")
    var = LIMITS["synthetic_mb"][0]
    if nbytes > limit("synthetic_mb") * 10**6:
        raise ValueError(f"{info.filename} is {nbytes:,} bytes, above the bound of {limit('synthetic_mb'):,} MB "
                         f"(raise it with the environment variable {var})")
    return shape, dtype, nbytes


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with zf.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)  # never unpickle objects from a data file


def _open(path: str) -> zipfile.ZipFile:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"synthetic data {path!r} not found; {HINT}") from None
    except OSError as err:
        raise DataError(f"synthetic data {path!r} cannot be read ({err.strerror or err}); {HINT}") from None
    if not stat.S_ISREG(mode):  # a FIFO would block open(); a folder or device is no archive
        raise DataError(f"synthetic data {path!r} is not a regular file; {HINT}")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise DataError(f"synthetic data {path!r} is not an .npz (zip) archive; {HINT}") from None
    except OSError as err:
        raise DataError(f"synthetic data {path!r} cannot be read ({err.strerror or err}); {HINT}") from None


def _labels(label: np.ndarray, n: int, num_classes: int) -> Optional[np.ndarray]:
    label = label.reshape(-1)
    if label.dtype.kind == "f":
        if not np.all(np.isfinite(label)) or np.any(label != np.round(label)):
            return None
    if len(label) != n or len(label) == 0:
        return None
    label = label.astype(np.int64)
    return label if label.min() >= 0 and label.max() < num_classes else None


def load_synthetic(path: str, num_classes: int = 10) -> Tuple[torch.Tensor, torch.Tensor]:
    """DeepMind's generated-data ``.npz``: ``(images uint8 Nx3x32x32, labels int64)``.

    Raises:
        DataError: not a regular file or no .npz, missing arrays, headers that do not match the file or are over
            the bound, wrong dtypes, shapes or labels (names the file).
    """
    with _open(path) as zf:
        try:
            image_info, label_info = _member(zf, "image"), _member(zf, "label")
            shape, dtype, _ = _header(zf, image_info)
            label_shape, label_dtype, _ = _header(zf, label_info)
            label_n = math.prod(label_shape)
            if dtype != np.uint8 or len(shape) != 4 or tuple(shape[1:]) != (32, 32, 3) or label_n != shape[0] \
                    or label_dtype.kind not in "buif":
                raise DataError(f"synthetic data {path!r}: image {dtype} {tuple(shape)}, label {label_dtype} "
                                f"{tuple(label_shape)}; {HINT}")
            image, label = _read(zf, image_info), _read(zf, label_info)
        except DataError:
            raise
        except MemoryError:
            raise DataError(f"synthetic data {path!r}: its {shape[0]:,} images do not fit in this process's "
                            f"memory; {HINT}") from None
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as err:
            raise DataError(f"synthetic data {path!r}: {err}; {HINT}") from None
    labels = _labels(label, len(image), num_classes)
    if labels is None:
        raise DataError(f"synthetic data {path!r}: labels not integers in 0..{num_classes - 1}, one per image; "
                        f"{HINT}")
    return torch.from_numpy(np.ascontiguousarray(image.transpose(0, 3, 1, 2))), torch.from_numpy(labels)
