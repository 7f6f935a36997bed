"""Restricted unpickling for data files: a pickle may build only plain data and numpy arrays, never run code.

``pickle.load`` calls whatever callable a file names (``os.system``, ``builtins.eval``, any importable
function): a crafted CIFAR batch on a shared file system would run code as the user who trains on it. The
official CIFAR python batches need only dicts, lists, bytes, str and int, plus numpy arrays and their dtypes;
:class:`DataUnpickler` admits exactly those globals (numpy's array reconstructors under both numpy 1 and 2
module names, ``numpy.dtype`` except the object dtype, and ``_codecs.encode`` with latin-1 as protocol-2 bytes
need it) and refuses every other global before importing its module, so a file naming a missing module is
refused the same way. Compare ``torch.load(weights_only=True)``, which does the same for checkpoints.

A crafted pickle can also declare a ``bytearray``/``bytes`` far longer than the file (``BYTEARRAY8`` with a
length of 2^39): CPython's C unpickler then allocates it (a MemoryError, or gigabytes of memory for a
truncated file) and, freeing the half-built object, prints a stray ``SystemError: deallocated bytearray object
has exported buffers`` on stderr through the unraisable hook, before the caller's clean error. :func:`safe_load`
therefore walks the opcodes first (their lengths, from :mod:`pickletools`' table, checked against the bytes
that are really there, frames included; the data is seeked over, not read) and refuses a truncated or malformed stream before the C unpickler sees it; and
while unpickling, any other failure (numpy's own errors on a malformed array, its deprecation warnings) becomes
one :class:`pickle.UnpicklingError`, with nothing printed.
"""
from __future__ import annotations

import codecs
import io
import os
import pickle
import pickletools
import sys
import warnings
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


#: dtype flags only an object dtype has (NPY_ITEM_REFCOUNT, NPY_LIST_PICKLE, NPY_ITEM_IS_POINTER,
#: NPY_USE_GETITEM, NPY_USE_SETITEM): set on a numeric dtype by its pickled state, they make numpy read the array's
#: bytes as object pointers (a crash, or worse, when the array is freed)
_OBJECT_FLAGS = 0x01 | 0x02 | 0x04 | 0x20 | 0x40


def _check_build(inst: Any, state: Any) -> None:
    """Refuse the ``BUILD`` (``__setstate__``) of a numpy dtype or array that would make it hold objects."""
    if isinstance(inst, np.dtype):
        flags = state[-1] if isinstance(state, tuple) and state else None
        if not isinstance(flags, int) or isinstance(flags, bool) or flags & _OBJECT_FLAGS:
            raise UnsafePickleError(f"refused numpy dtype state with flags {flags!r} (they mark an object dtype)")
        parts = [state[2]] if len(state) > 2 and state[2] is not None else []
        if len(state) > 4 and isinstance(state[4], dict):
            parts += list(state[4].values())
        for part in parts:
            inner = part[0] if isinstance(part, tuple) and part else part
            if not isinstance(inner, np.dtype) or inner.hasobject:
                raise UnsafePickleError("refused numpy dtype state: a field or subarray is not a plain dtype")
    elif isinstance(inst, np.ndarray):
        dtype = state[2] if isinstance(state, tuple) and len(state) > 2 else None
        if not isinstance(dtype, np.dtype) or dtype.hasobject:
            raise UnsafePickleError("refused numpy array state without a plain dtype")
    elif inst is not None and not isinstance(inst, (dict, list)):
        raise UnsafePickleError(f"refused state of a {type(inst).__name__}: plain data is built whole")


class DataUnpickler(pickle._Unpickler):  # noqa: SLF001 - the pure-Python unpickler: its BUILD can be checked
    """An unpickler for plain data: containers, strings, numbers, bytes and numpy arrays; nothing else.

    It is the pure-Python unpickler (``pickle._Unpickler``): the C one applies ``BUILD`` (``__setstate__``)
    without a hook, and a numpy dtype's state can set flags that make numpy read raw bytes as object pointers.
    Here every ``BUILD`` is checked first (:func:`_check_build`). Plain data has few opcodes (a CIFAR batch:
    one bytes object for the pixels, lists of labels and file names), so the pure-Python loop costs
    milliseconds.
    """

    dispatch = dict(pickle._Unpickler.dispatch)  # noqa: SLF001

    def load_build(self) -> None:
        _check_build(self.stack[-2] if len(self.stack) > 1 else None, self.stack[-1] if self.stack else None)
        pickle._Unpickler.load_build(self)  # noqa: SLF001

    dispatch[pickle.BUILD[0]] = load_build

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


#: bytes of the length prefix of each counted argument kind of :mod:`pickletools` (TAKEN_FROM_ARGUMENT*)
_COUNTED = {pickletools.TAKEN_FROM_ARGUMENT1: (1, False), pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
            pickletools.TAKEN_FROM_ARGUMENT4U: (4, False), pickletools.TAKEN_FROM_ARGUMENT8U: (8, False)}
_OPCODES = {op.code.encode("latin-1"): op for op in pickletools.opcodes}


def _scan(fh: IO[bytes], size: int) -> None:
    """Walk the opcodes of a pickle, checking every length against the ``size`` bytes there, reading none of
    the data (pickletools' lengths, seeked over). Raises ValueError on anything malformed."""
    start = fh.tell()
    while True:
        code = fh.read(1)
        op = _OPCODES.get(code)
        if op is None:
            raise ValueError(f"no pickle opcode {code!r} at byte {fh.tell() - start - 1}" if code else
                             "the data ends before the pickle's STOP")
        arg = op.arg
        if arg is not None:
            if arg.n >= 0:
                raw = fh.read(arg.n)
                if len(raw) != arg.n:
                    raise ValueError(f"{op.name} at byte {fh.tell() - start}: the data ends inside its argument")
                if op.name == "FRAME" and int.from_bytes(raw, "little") > size - (fh.tell() - start):
                    raise ValueError(f"a frame of {int.from_bytes(raw, 'little'):,} bytes runs past the end")
            elif arg.n == pickletools.UP_TO_NEWLINE:
                for _ in range(2 if arg.name.endswith("_pair") else 1):
                    if not fh.readline().endswith(b"\n"):
                        raise ValueError(f"{op.name}: a line argument without its newline")
            else:
                width, signed = _COUNTED[arg.n]
                prefix = fh.read(width)
                if len(prefix) != width:
                    raise ValueError(f"{op.name}: the data ends inside its length")
                n = int.from_bytes(prefix, "little", signed=signed)
                left = size - (fh.tell() - start)
                if not 0 <= n <= left:
                    raise ValueError(f"{op.name} at byte {fh.tell() - start - width - 1} declares {n:,} bytes; "
                                     f"{left:,} remain")
                fh.seek(n, os.SEEK_CUR)
        if op.name == "STOP":
            return


def _check_stream(fh: IO[bytes]) -> IO[bytes]:
    """Walk the opcodes of the pickle in ``fh`` (lengths against the bytes really there); rewind and return it.

    Raises:
        pickle.UnpicklingError: truncated, malformed, or a length (of data or of a frame) past the end.
    """
    if not fh.seekable():
        fh = io.BytesIO(fh.read())
    start = fh.tell()
    size = fh.seek(0, os.SEEK_END) - start
    fh.seek(start)
    try:
        _scan(fh, size)
    except (ValueError, OSError) as err:
        raise pickle.UnpicklingError(f"truncated or malformed pickle ({str(err)[:200]})") from None
    fh.seek(start)
    return fh


def _quiet(_unraisable) -> None:
    """The unraisable hook while unpickling: a half-built object's dealloc complaint is not the user's news."""


def safe_load(fh: IO[bytes], **kwargs: Any) -> Any:
    """``pickle.load`` through :class:`DataUnpickler` (``encoding=`` etc. as for ``pickle.Unpickler``).

    Raises:
        UnsafePickleError: a global or persistent id plain data does not need.
        pickle.UnpicklingError: anything else wrong with the file (truncated, malformed, a bad array), in one
            line; nothing is printed on stderr meanwhile.
    """
    fh = _check_stream(fh)
    failure = None
    hook, sys.unraisablehook = sys.unraisablehook, _quiet
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # numpy's deprecation warnings on crafted dtypes: a malformed file
            return DataUnpickler(fh, **kwargs).load()
    except (UnsafePickleError, pickle.UnpicklingError):
        raise
    except Exception as err:  # noqa: BLE001 - numpy and the unpickler raise many kinds on malformed data
        failure = f"{type(err).__name__}: {str(err)[:200]}"
    finally:
        sys.unraisablehook = hook
    raise pickle.UnpicklingError(f"malformed pickle ({failure})")


def safe_loads(data: bytes, **kwargs: Any) -> Any:
    return safe_load(io.BytesIO(data), **kwargs)
