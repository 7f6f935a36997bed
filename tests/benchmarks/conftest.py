"""Trained fixtures of the workload tests, made at most once per session and cached on disk by content
(tests/_fixture_cache.py): the evaluation tests' small CNN, the slowdown tests' SDN, and `robustperf run` runs.

Each fixture hands out fresh objects or copies: a model loaded anew from the cached weights, a copy of a cached
results folder in the test's own tmp_path. Training happens in one CPU thread, as in the tests."""
from __future__ import annotations

import contextlib
import pathlib

import pytest
import torch

from tests._fixture_cache import copy_tree
from tests.conftest import ROOT

HERE = pathlib.Path(__file__).resolve().parent


@contextlib.contextmanager
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="session")
def small_cnn(fixture_cache):
    """``small_cnn(epochs=8, seed=0)``: tests/benchmarks/_evaluation_model.py's CNN after ``train_small_cnn``
    (``torch.manual_seed(seed)`` first, as the tests did), in eval mode; a new module on every call."""
    from tests.benchmarks import _evaluation_model as helper

    def load(epochs: int = 8, seed: int = 0) -> torch.nn.Module:
        def build(entry, _scratch):
            with _one_thread():
                torch.manual_seed(seed)
                torch.save(helper.train_small_cnn(epochs=epochs, seed=seed).state_dict(), entry / "small_cnn.pt")

        folder = fixture_cache.entry("small-cnn", {"epochs": epochs, "seed": seed}, build,
                                     helpers=[HERE / "_evaluation_model.py"])
        model = helper.small_cnn()
        model.load_state_dict(torch.load(folder / "small_cnn.pt", weights_only=True))
        return model.eval()

    return load


@pytest.fixture(scope="session")
def small_sdn(fixture_cache):
    """``small_sdn()``: tests/benchmarks/_sdn_fixture.py's SDN after ``train_small_sdn()`` (frozen, eval mode); a
    new module on every call."""
    from tests.benchmarks import _sdn_fixture as helper

    def load() -> torch.nn.Module:
        def build(entry, _scratch):
            with _one_thread():
                torch.save(helper.train_small_sdn().state_dict(), entry / "small_sdn.pt")

        folder = fixture_cache.entry("small-sdn", {"seed": 0, "backbone_epochs": 5, "ic_epochs": 3}, build,
                                     helpers=[HERE / "_sdn_fixture.py"])
        model = helper.small_sdn()
        model.load_state_dict(torch.load(folder / "small_sdn.pt", weights_only=True))
        for p in model.parameters():
            p.requires_grad_(False)
        return model.eval()

    return load


@pytest.fixture(scope="session")
def cached_run(fixture_cache):
    """``cached_run(argv)``: what ``run_cli(argv)`` (tests/benchmarks/_training_helpers.py) leaves in the results
    folder of ``argv = ["run", RECIPE, ..., "--results", DEST, ...]``, made once and cached, copied into ``DEST``;
    returns ``DEST``. The run must exit 0.

    The entry's key holds the arguments and the recipe's text; a recipe outside the repository is copied into the
    build's scratch folder, so the run never sees the test's tmp_path."""
    from tests.benchmarks._training_helpers import run_cli

    def get(argv) -> pathlib.Path:
        argv = list(argv)
        assert argv[0] == "run" and "--results" in argv, argv
        at = argv.index("--results")
        recipe, dest = pathlib.Path(argv[1]).resolve(), pathlib.Path(argv[at + 1])
        args = [str(a) for a in argv[2:at] + argv[at + 2:]]
        inside = ROOT in recipe.parents

        def build(entry, scratch):
            path = recipe if inside else scratch / recipe.name
            if not inside:
                path.write_bytes(recipe.read_bytes())
            done = run_cli(["run", path, *args, "--results", entry / "results"])
            assert done.returncode == 0, done.stdout + done.stderr

        description = {"recipe": str(recipe.relative_to(ROOT)) if inside else recipe.name,
                       "recipe_text": recipe.read_text(), "args": args}
        folder = fixture_cache.entry("run", description, build, helpers=[HERE / "_training_helpers.py"])
        return copy_tree(folder / "results", dest)

    return get
