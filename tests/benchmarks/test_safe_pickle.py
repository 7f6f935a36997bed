"""Data files are never code: CIFAR batches load through a restricted unpickler (issue 12, code execution)."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from benchmarks.datasets import DataError, load_dataset
from benchmarks.safe_pickle import UnsafePickleError, safe_loads

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _CreatesFile:
    """Unpickling this calls os.system (as a crafted batch on a shared file system would)."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


class _Eval:
    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return eval, (f"open({self.target!r}, 'w').close()",)


def _cifar(folder, poison=None, poison_file="data_batch_2"):
    rng = np.random.RandomState(0)
    folder.mkdir(parents=True, exist_ok=True)
    for file in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"batch_label": file.encode(), b"data": rng.randint(0, 256, (4, 3072), dtype=np.uint8),
                 b"labels": rng.randint(0, 10, 4).tolist(), b"filenames": [b"a.png"] * 4}
        if file == poison_file and poison is not None:
            batch[b"filenames"] = poison
        with open(folder / file, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_data_and_numpy_arrays_load(protocol):
    data = {b"data": np.arange(12, dtype=np.uint8).reshape(2, 6), b"labels": [1, 2], "n": np.int64(7),
            "f": np.float32(0.5), "nested": {"t": (1, 2.5, None, True)}}
    back = safe_loads(pickle.dumps(data, protocol=protocol))
    assert np.array_equal(back[b"data"], data[b"data"]) and back[b"data"].dtype == np.uint8
    assert back[b"labels"] == [1, 2] and back["n"] == 7 and back["nested"] == {"t": (1, 2.5, None, True)}


def test_numpy1_module_names_load():
    """Batches pickled under numpy 1 (and Python 2, as the official archive) name numpy.core, not numpy._core."""
    raw = pickle.dumps({b"data": np.ones((2, 3), np.uint8)}, protocol=2).replace(b"numpy._core", b"numpy.core")
    assert b"numpy.core.multiarray" in raw
    assert np.array_equal(safe_loads(raw, encoding="bytes")[b"data"], np.ones((2, 3), np.uint8))


@pytest.mark.parametrize("make", [_CreatesFile, _Eval])
def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path, make):
    target = tmp_path / "pwned"
    with pytest.raises(UnsafePickleError, match="refused global"):
        safe_loads(pickle.dumps({b"data": make(target)}))
    assert not target.exists()


def test_object_arrays_and_unknown_modules_are_refused():
    with pytest.raises(UnsafePickleError, match="object"):
        safe_loads(pickle.dumps(np.array([1, "a"], dtype=object)))
    # a global whose module does not exist is refused before any import (no ModuleNotFoundError traceback)
    raw = b"\x80\x02cno_such_module_xyz\nthing\nq\x00."
    with pytest.raises(UnsafePickleError, match="no_such_module_xyz.thing"):
        safe_loads(raw)


def test_poisoned_cifar_batch_is_a_data_error_and_runs_nothing(tmp_path):
    target = tmp_path / "pwned"
    _cifar(tmp_path / "cifar", poison=_CreatesFile(target))
    with pytest.raises(DataError, match=r"data_batch_2 was refused: refused global .*system") as err:
        load_dataset("cifar10", "train", str(tmp_path / "cifar"))
    assert err.value.exit_code == 2 and not target.exists()
    x, y = load_dataset("cifar10", "test", str(tmp_path / "cifar"))  # the clean split still loads
    assert x.shape == (4, 3, 32, 32)


def test_robustperf_run_on_a_poisoned_batch_exits_2_without_running_it(tmp_path):
    target = tmp_path / "pwned"
    data = tmp_path / "cifar"
    _cifar(data, poison=_CreatesFile(target), poison_file="data_batch_1")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(textwrap.dedent(f"""\
        name: poisoned
        base:
          data: {{name: cifar10, root: {str(data)!r}, batch_size: 2}}
          model: {{arch: wrn, depth: 10, width: 1}}
          training: {{epochs: 1, warmup_epochs: 0}}
        """))
    env = {**os.environ, "PYTHONPATH": ROOT, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "robustperf", "run", str(recipe), "--index", "0", "--results",
                           str(tmp_path / "res"), "--device", "cpu", "--no-progress"], capture_output=True,
                          text=True, env=env, cwd=str(tmp_path), timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "data_batch_1 was refused" in proc.stderr and "Traceback" not in proc.stderr
    assert not target.exists()


# ---------------------------------------------------------------- crafted streams (issue 22)
#
# A BYTEARRAY8 declaring 2^39 bytes made CPython's C unpickler allocate it (MemoryError) and print a stray
# "SystemError: deallocated bytearray object has exported buffers" line on stderr before the clean error; a dtype
# state with object flags (fuzz-found) made numpy read an array's bytes as object pointers and print a RuntimeError
# when it was freed. Every crafted stream must now end in one UnpicklingError, with nothing on stderr.

def _array_pickle(protocol):
    return pickle.dumps({b"data": np.arange(12, dtype=np.uint8).reshape(2, 6), b"labels": [1, 2],
                         "s": np.float32(1)}, protocol=protocol)


CRAFTED = {
    "bytearray8 of 2^39 bytes": b"\x80\x05\x96" + (2 ** 39).to_bytes(8, "little") + b"abc.",
    "binbytes8 of 2^33 bytes": b"\x80\x05\x8e" + (2 ** 33).to_bytes(8, "little") + b"abc.",
    "binunicode8 of 2^40 bytes": b"\x80\x05\x8d" + (2 ** 40).to_bytes(8, "little") + b"abc.",
    "frame of 2^50 bytes": b"\x80\x05\x95" + (2 ** 50).to_bytes(8, "little") + b"N.",
    "binbytes of 2^31 bytes": b"\x80\x03B" + (2 ** 31 - 1).to_bytes(4, "little") + b"x.",
    "no STOP": b"\x80\x02]q\x00(K\x01K\x02e",
    "unknown opcode": b"\x80\x02\xff.",
    "dtype state with object flags": _array_pickle(2).replace(
        b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tq\x14b", b"J\xff\xff\xff\xffJ\xff\xff\xff\xffK\x85tq\x14b", 1),
}


def test_the_object_flag_case_is_what_it_claims():
    assert CRAFTED["dtype state with object flags"] != _array_pickle(2)


@pytest.mark.parametrize("name", sorted(CRAFTED))
def test_a_crafted_stream_ends_in_one_error_and_prints_nothing(name):
    """In a fresh interpreter, so a message printed at interpreter exit (an object freed late) is seen too."""
    code = ("import sys, pickle\n"
            "from benchmarks.safe_pickle import safe_loads\n"
            "data = sys.stdin.buffer.read()\n"
            "try:\n    safe_loads(data, encoding='bytes')\n"
            "except pickle.UnpicklingError as err:\n    print('REFUSED', type(err).__name__, err)\n"
            "else:\n    print('LOADED')\n")
    proc = subprocess.run([sys.executable, "-c", code], input=CRAFTED[name], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": ROOT}, cwd=ROOT)
    assert proc.stderr == b"", proc.stderr.decode()
    assert proc.stdout.startswith(b"REFUSED"), proc.stdout


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(protocol=st.sampled_from([2, 4, 5]), edits=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)),
                                                          min_size=1, max_size=4))
def test_mutated_array_pickles_load_or_end_in_unpickling_error_quietly(protocol, edits, capfd):
    raw = bytearray(_array_pickle(protocol))
    for at, byte in edits:
        raw[at % len(raw)] = byte
    try:
        safe_loads(bytes(raw), encoding="bytes")
    except pickle.UnpicklingError as err:
        assert "\n" not in str(err)
    assert capfd.readouterr().err == ""


def test_a_cifar_batch_declaring_a_huge_bytearray_is_a_data_error(tmp_path, capfd):
    _cifar(tmp_path / "cifar")
    (tmp_path / "cifar" / "data_batch_3").write_bytes(CRAFTED["bytearray8 of 2^39 bytes"])
    with pytest.raises(DataError, match=r"data_batch_3 is not a CIFAR python batch \(UnpicklingError: truncated or "
                                        r"malformed pickle \(BYTEARRAY8 at byte 2 declares 549,755,813,888 bytes"):
        load_dataset("cifar10", "train", str(tmp_path / "cifar"))
    assert capfd.readouterr().err == ""
