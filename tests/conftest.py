"""Suite-wide test set-up: markers for GPU and SLURM tests, the repository root, quiet offline W&B, and the cache
of trained fixtures (tests/_fixture_cache.py)."""
from __future__ import annotations

import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("DS_ACCELERATOR", "cpu")


def _has_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if any(item.get_closest_marker("gpu") for item in items) and not _has_cuda():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if item.get_closest_marker("gpu"):
                item.add_marker(skip)


@pytest.fixture(scope="session")
def repo_root() -> pathlib.Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_recipe() -> pathlib.Path:
    """recipes/tiny-digits.yaml: two runs (AT, TRADES) of a WRN-10-1 on digits, seconds each."""
    return ROOT / "recipes" / "tiny-digits.yaml"


_CACHE = pytest.StashKey()


@pytest.fixture(scope="session")
def fixture_cache(request, tmp_path_factory):
    """The on-disk cache of trained fixtures (see tests/_fixture_cache.py): ``entry(name, description, build)``."""
    from tests._fixture_cache import open_cache

    cache = open_cache(request.config, tmp_path_factory.mktemp("fixture-cache"))
    request.config.stash[_CACHE] = cache
    return cache


def pytest_terminal_summary(terminalreporter, config):
    cache = config.stash.get(_CACHE, None)
    if cache is not None and (cache.built or cache.reused):
        where = cache.root if cache.persistent else "this session only"
        terminalreporter.write_line(f"trained fixtures: {len(cache.built)} made, {len(cache.reused)} reused "
                                    f"from the cache ({where})")


def stop_process(proc: subprocess.Popen, grace: float = 10) -> None:
    """Terminate a server a test started (optuna-dashboard, ...); kill it if it has not ended after ``grace`` s."""
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
