"""Restricted unpickling for data files: a pickle may build only plain data and numpy arrays, never run code.

``pickle.load`` calls whatever callable a file names (``os.system``, ``builtins.eval``, any importable
function): a crafted CIFAR batch on a shared file system would run code as the user who trains on it. The
official CIFAR python batches need only dicts, lists, bytes, str and int, plus numpy arrays and their dtypes;
:class:`DataUnpickler` admits exactly those globals (numpy's array reconstructors under both numpy 1 and 2
module names, ``numpy.dtype`` except the object dtype, and ``_codecs.encode`` with latin-1 as protocol-2 bytes
need it) and refuses every other global before importing its module, so a file naming a missing module is
refused the same way. Compare ``torch.load(weights_only=True)``, which does the same for checkpoints.
"""
from __future__ import annotations

import codecs
import io
import pickle
from typing import IO, Any

import numpy as np

__all__ = ["UnsafePickleError", "DataUnpickler", "safe_load", "safe_loads"]


class UnsafePickleError(pickle.UnpicklingError):
    """The pickle names a global that plain data does not need (code execution or an unknown type)."""


def _dtype(*args, **kwargs):
    dtype = np.dtype(*args, **kwargs)
    if dtype.hasobject:
        raise UnsafePickleError(f"refused numpy dtype {dtype} (object arrays may hold arbitrary objects)")
    return dtype


def _encode(obj, encoding="utf-8", errors="strict"):
    # protocol 2 written by Python 3 stores bytes as _codecs.encode(str, 'latin1')
    if codecs.lookup(encoding).name != "iso8859-1":
        raise UnsafePickleError(f"refused _codecs.encode with encoding {encoding!r}")
    return codecs.encode(obj, "latin1", errors)


def _numpy_globals():
    from numpy._core import multiarray, numeric

    def reconstruct(subtype, shape, dtype):
        if subtype is not np.ndarray:
            raise UnsafePickleError(f"refused array subtype {subtype!r}")
        return multiarray._reconstruct(subtype, shape, _dtype(dtype))

    allowed = {}
    for module in ("numpy.core", "numpy._core"):  # numpy 1 writes numpy.core, numpy 2 numpy._core
        allowed[(f"{module}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{module}.multiarray", "scalar")] = multiarray.scalar
        allowed[(f"{module}.numeric", "_frombuffer")] = numeric._frombuffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = _dtype
    allowed[("_codecs", "encode")] = _encode
    return allowed


_ALLOWED = None


class DataUnpickler(pickle.Unpickler):
    """An unpickler for plain data: containers, strings, numbers, bytes and numpy arrays; nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        global _ALLOWED
        if _ALLOWED is None:
            _ALLOWED = _numpy_globals()
        found = _ALLOWED.get((module, name))
        if found is None:
            raise UnsafePickleError(f"refused global {module}.{name}: a data file may hold only dicts, lists, "
                                    f"strings, bytes, numbers and numpy arrays")
        return found

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError("refused a persistent id: a data file holds no external references")


def safe_load(fh: IO[bytes], **kwargs: Any) -> Any:
    """``pickle.load`` through :class:`DataUnpickler` (``encoding=`` etc. as for ``pickle.Unpickler``)."""
    return DataUnpickler(fh, **kwargs).load()


def safe_loads(data: bytes, **kwargs: Any) -> Any:
    return safe_load(io.BytesIO(data), **kwargs)
