"""Vocabulary lives once: every value the recipe schema allows is exactly what the part implementing it knows.

The schema (recipes/schema.py) is the one list a recipe is checked against and the docs' recipe reference is
generated from; these tests keep it equal to the registries and libraries behind it (training methods and model
families have their own parity tests beside their registries)."""
from __future__ import annotations

import inspect
import typing

from recipes import AUTOATTACK_VERSIONS, section_fields


def _choices(section: str, key: str):
    return set(section_fields(section)[key]["choices"])


def test_norms_are_the_catalogs_and_autoattacks():
    """Every threat model a recipe may choose or an attack declares is one of ``catalog.NORMS``, whose values are
    the norm names pyautoattack takes."""
    from pyautoattack import AutoAttack

    from recipes import catalog

    annotation = inspect.signature(AutoAttack).parameters["norm"].annotation
    if isinstance(annotation, str):  # postponed annotations
        annotation = eval(annotation, vars(typing))  # noqa: S307 - pyautoattack's own Literal[...]
    assert set(catalog.NORMS.values()) == set(typing.get_args(annotation))
    assert _choices("attack", "norm") <= set(catalog.NORMS)
    for entry in catalog.entries("attacks").values():
        assert set(entry.norms) <= set(catalog.NORMS), entry.name


def test_activations():
    from benchmarks.models import ACTIVATIONS

    assert _choices("model", "activation") == set(ACTIVATIONS)


def test_lr_schedulers_are_timms():
    """Every scheduler name but 'none' and the per-update cycles (torch's, benchmarks.training.cycles) builds with
    timm's create_scheduler_v2, and timm's names are all offered."""
    import torch

    from benchmarks._compat import import_timm

    import_timm()  # timm through the suite's one import path (a CUDA torchvision beside a +cpu torch)
    from timm.scheduler import create_scheduler_v2
    from timm.scheduler import scheduler_factory

    from benchmarks.training.cycles import CYCLES

    names = _choices("training", "scheduler") - {"none", *CYCLES}
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    for name in sorted(names):
        scheduler, _ = create_scheduler_v2(optimizer, sched=name, num_epochs=4, decay_epochs=1,
                                           decay_milestones=(1, 2))
        assert scheduler is not None, name
    source = inspect.getsource(scheduler_factory.create_scheduler_v2)
    timm_names = {n for n in ("cosine", "tanh", "step", "multistep", "plateau", "poly") if f"'{n}'" in source}
    assert timm_names <= names


def test_autoattack_versions_are_pyautoattacks():
    from pyautoattack import AutoAttack

    from benchmarks import autoattack
    from benchmarks.inference import cli

    annotation = inspect.signature(AutoAttack).parameters["version"].annotation
    if isinstance(annotation, str):  # postponed annotations
        annotation = eval(annotation, vars(typing))  # noqa: S307 - pyautoattack's own Literal[...]
    assert set(typing.get_args(annotation)) - {"custom"} == set(AUTOATTACK_VERSIONS)
    assert autoattack.VERSIONS is AUTOATTACK_VERSIONS and cli.AUTOATTACK_VERSIONS is AUTOATTACK_VERSIONS


def test_no_room_imports_the_cli_module():
    """robustperf.py imports the rooms' subcommand modules; a room importing it back would be a cycle."""
    import ast
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    offenders = []
    for room in ("benchmarks", "launchers", "recipes", "results", "scaling"):
        for path in (root / room).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                if any(n in ("robustperf", "robustperf_demo") for n in names):
                    offenders.append(str(path.relative_to(root)))
    assert offenders == []
