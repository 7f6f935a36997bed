"""Import RobustBench's model zoo offline: every accommodation robustbench 1.1.1 needs, in this one module.

RobustBench (Croce et al., "RobustBench: a standardized adversarial robustness benchmark", NeurIPS 2021 Datasets
and Benchmarks, https://github.com/RobustBench/robustbench) ships the architecture definitions of its leaderboard
models. Importing even ``robustbench.model_zoo`` runs the package's ``__init__`` (``data``, ``utils``, ``eval``),
which needs, measured with robustbench 1.1.1 on this suite's pins:

- ``torchvision`` / ``timm``: the CPU torch next to a CUDA torchvision fails with "operator torchvision::nms
  does not exist"; :mod:`benchmarks._compat` handles it, so timm and torchvision are imported through it first.
- ``geotorch``, ``torchdiffeq`` (the ODE blocks of the SODEF models), ``gdown``, ``requests``, ``jinja2``:
  installed (``pip install -e '.[zoo]'``, pins in ``constraints.txt``); robustbench itself is installed with
  ``--no-deps`` because it pins ``timm==1.0.9`` and ``gdown==5.1.0``: the suite keeps its own timm
  (``make install`` does both steps).
- ``autoattack``: ``robustbench.eval`` imports ``autoattack`` and ``autoattack.state``; pyautoattack, the suite's
  AutoAttack, names its module ``pyautoattack``. Aliased (``sys.modules``) for the duration of the import only.
- ``pkg_resources`` (``robustbench.loaders``): gone from setuptools >= 81 and not installable apart from it.
  STUBBED when missing: a module with the one function robustbench calls, ``resource_filename``, answered by
  :mod:`importlib.resources`; present only during the import, so other packages still see it missing.

Nothing is fetched: importing does no I/O beyond reading installed files, and the download functions of
robustbench (``utils.download_gdrive_new``, ``utils.download_gdrive``, ``data.zenodo_download``) are replaced by
one that raises :class:`ZooDownloadRefused`. Every import of robustbench in robustperf goes through
:func:`import_robustbench`.
"""
from __future__ import annotations

import contextlib
import functools
import importlib
import sys
import warnings
from types import ModuleType
from typing import Dict, Iterator

from robustperf_errors import UserError

#: The robustbench version whose model zoo, tables and loader this module was written against.
ROBUSTBENCH_VERSION = "1.1.1"
#: What to run when robustbench or one of its dependencies is missing.
INSTALL_HINT = "install the zoo extra: make install (or pip install -c constraints.txt -e '.[zoo]' && " \
               "pip install -c constraints.txt --no-deps robustbench)"
#: the accommodations that are stubs (not the real package), for the docs and ``robustperf zoo list --json``
STUBBED = ("pkg_resources",)
#: the accommodations that are aliases of an installed package
ALIASED = {"autoattack": "pyautoattack", "autoattack.state": "pyautoattack.state"}

_DOWNLOADERS = (("robustbench.utils", "download_gdrive_new"), ("robustbench.utils", "download_gdrive"),
                ("robustbench.data", "zenodo_download"))


class ZooUnavailable(UserError):
    """robustbench, or a package it needs, is not installed."""


class ZooDownloadRefused(UserError):
    """Something asked robustbench to download a checkpoint or data set: robustperf never downloads."""


def _refuse_download(*args, **kwargs):
    raise ZooDownloadRefused(f"robustbench tried to download {args[-1] if args else 'a file'}: robustperf never "
                             "downloads; put the checkpoint under --model-dir (see docs/how-to/zoo.md)")


def _pkg_resources_stub() -> ModuleType:
    """A ``pkg_resources`` holding only ``resource_filename``, the one function robustbench 1.1.1 calls."""
    module = ModuleType("pkg_resources")
    module.__doc__ = "robustperf stub (benchmarks.zoo.compat): resource_filename only"

    def resource_filename(package: str, resource: str) -> str:
        import importlib.resources as resources

        return str(resources.files(package.rpartition(".")[0] or package).joinpath(resource))

    module.resource_filename = resource_filename
    return module


@contextlib.contextmanager
def _accommodations() -> Iterator[None]:
    """The aliases and stubs, in ``sys.modules`` for the duration of the import only."""
    added: Dict[str, ModuleType] = {}
    for alias, real in ALIASED.items():
        if alias not in sys.modules:
            try:
                added[alias] = importlib.import_module(real)
            except ImportError as err:
                raise ZooUnavailable(f"robustbench needs {real} (as {alias}): {err}; {INSTALL_HINT}") from None
    try:
        import pkg_resources  # noqa: F401 - an old setuptools still has it
    except ImportError:
        added["pkg_resources"] = _pkg_resources_stub()
    sys.modules.update(added)
    try:
        yield
    finally:
        for name, module in added.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


def import_robustbench() -> ModuleType:
    """Return the ``robustbench`` package, imported offline with the accommodations above.

    Raises:
        ZooUnavailable: robustbench or one of its installable dependencies is missing (names it and how to
            install); any other import failure is raised unchanged.
    """
    module = sys.modules.get("robustbench")
    if module is not None and getattr(module, "_robustperf_offline", False):
        return module
    from .._compat import import_timm, import_torchvision

    import_torchvision()
    import_timm()
    with _accommodations(), warnings.catch_warnings():
        # robustbench imports timm.models.layers / helpers, which timm >= 1.0 still has but calls deprecated
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"timm\..*")
        try:
            import robustbench
            import robustbench.model_zoo  # noqa: F401
            import robustbench.utils  # noqa: F401
        except ModuleNotFoundError as err:
            raise ZooUnavailable(f"robustbench's model zoo cannot be imported: no module {err.name!r}; "
                                 f"{INSTALL_HINT}") from None
    for module_name, function in _DOWNLOADERS:
        owner = sys.modules.get(module_name)
        if owner is not None and hasattr(owner, function):
            setattr(owner, function, _refuse_download)
    robustbench._robustperf_offline = True
    return robustbench


@contextlib.contextmanager
def offline_build() -> Iterator[None]:
    """While a zoo model is built: its architecture only, and no byte from the network.

    robustbench builds some models with ``pretrained=True`` (``Standard_R50`` is torchvision's ``resnet50
    (pretrained=True)``), which would fetch ImageNet weights. Here torchvision's model builders get
    ``pretrained=False, weights=None`` (the weights come from ``--model-dir``), and any socket a builder still
    opens fails at once with :class:`ZooDownloadRefused`, naming what it tried to reach. On a machine without
    CUDA, ``.cuda()`` keeps a module or tensor where it is (the mixing-network ensembles of Bai et al. move their
    parts to the GPU while they are built).
    """
    import socket

    import torch

    from .._compat import import_torchvision

    models = import_torchvision().models
    originals = {name: fn for name, fn in vars(models).items()
                 if callable(fn) and not isinstance(fn, type) and name[:1].islower() and not name.startswith("get")}

    def architecture_only(fn):
        @functools.wraps(fn)
        def build(*args, **kwargs):
            if kwargs.pop("pretrained", False) or kwargs.get("weights") is not None:
                kwargs["weights"] = None
            return fn(*args, **kwargs)
        return build

    def refuse(self, address, *args, **kwargs):
        raise ZooDownloadRefused(f"a zoo model's builder tried to connect to {address!r}: robustperf builds "
                                 "architectures offline and reads weights from --model-dir only")

    connect = socket.socket.connect
    cuda = (torch.nn.Module.cuda, torch.Tensor.cuda)
    try:
        for name, fn in originals.items():
            setattr(models, name, architecture_only(fn))
        socket.socket.connect = refuse  # type: ignore[method-assign]
        if not torch.cuda.is_available():
            torch.nn.Module.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
            torch.Tensor.cuda = lambda self, *a, **k: self  # type: ignore[method-assign]
        yield
    finally:
        socket.socket.connect = connect  # type: ignore[method-assign]
        torch.nn.Module.cuda, torch.Tensor.cuda = cuda  # type: ignore[method-assign]
        for name, fn in originals.items():
            setattr(models, name, fn)


def robustbench_version() -> str:
    """The installed robustbench's version ('' when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("robustbench")
    except PackageNotFoundError:
        return ""
