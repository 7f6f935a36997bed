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
