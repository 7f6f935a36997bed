"""Import timm on a CPU-only torch next to a CUDA-built torchvision.

timm imports torchvision at module level. A torchvision wheel built for another torch (here the PyPI
CUDA build next to a ``+cpu`` torch) cannot load its ``_C`` extension, so its custom operators are never
declared; ``torchvision/_meta_registrations.py`` still registers fake kernels for ``torchvision::nms`` and
``torchvision::qnms`` unconditionally and the import dies with
``RuntimeError: operator torchvision::nms does not exist``.

:func:`import_timm` tries the plain import first. Only on exactly that failure it declares the two missing
schemas (as torchvision's ``csrc/ops/nms.cpp`` does), drops the half-imported torchvision and timm modules
and imports again. Every other torchvision operator is registered by torchvision only when ``_C`` loaded,
so nothing else is needed. The operators stay without kernels: calling ``torchvision.ops.nms`` still fails
with a clear "no kernel" error, which nothing in robustperf does.

Every import of timm (and torchvision) in robustperf goes through this module.
"""
from __future__ import annotations

import re
import sys
from types import ModuleType
from typing import List, Optional

#: Schemas declared by torchvision's C++ extension for the operators its Python side registers fakes for
#: whether or not the extension loaded (``csrc/ops/nms.cpp``).
TORCHVISION_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

_MISSING_OP = re.compile(r"operator torchvision::(\w+) does not exist")
_LIBRARY = None  # the torch.library.Library holding our definitions; kept alive for the process
_DEFINED: List[str] = []


def import_timm() -> ModuleType:
    """Return the ``timm`` module, working around a torchvision whose C++ operators failed to load.

    Raises:
        RuntimeError: any import failure other than the missing-operator one, unchanged.
    """
    if "timm" in sys.modules and getattr(sys.modules["timm"], "create_model", None) is not None:
        return sys.modules["timm"]
    try:
        import timm
    except RuntimeError as err:
        missing = _missing_operator(err)
        if missing is None:
            raise
        _declare_torchvision_ops()
        _forget("torchvision", "timm")
        import timm
    return timm


def import_torchvision() -> ModuleType:
    """Return ``torchvision``, with the same workaround as :func:`import_timm`."""
    try:
        import torchvision
    except RuntimeError as err:
        if _missing_operator(err) is None:
            raise
        _declare_torchvision_ops()
        _forget("torchvision")
        import torchvision
    return torchvision


def declared_ops() -> List[str]:
    """The torchvision operators this module had to declare (empty when torchvision loaded normally)."""
    return list(_DEFINED)


def _missing_operator(err: BaseException) -> Optional[str]:
    match = _MISSING_OP.search(str(err))
    if match is None or match.group(1) not in TORCHVISION_SCHEMAS:
        return None
    return match.group(1)


def _declare_torchvision_ops() -> None:
    global _LIBRARY
    import torch

    if _LIBRARY is None:
        _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")
    for name, schema in TORCHVISION_SCHEMAS.items():
        if name in _DEFINED or _has_schema(name):
            continue
        _LIBRARY.define(schema)
        _DEFINED.append(name)


def _has_schema(name: str) -> bool:
    import torch

    try:
        torch._C._get_schema(f"torchvision::{name}", "")
    except RuntimeError:
        return False
    return True


def _forget(*packages: str) -> None:
    """Drop half-imported modules so the next import executes them from the start."""
    for mod in list(sys.modules):
        if mod.split(".")[0] in packages:
            del sys.modules[mod]
