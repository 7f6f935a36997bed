"""Names a recipe takes from other rooms (models, optimizers), checked when the recipe loads.

A recipe may name any timm model or optimizer, and the model families ``benchmarks.models`` registers. Those
names are known only where they are defined, and ``recipes`` imports nothing above it, so the rooms that
define names register a checker here (a plug-in registry, like attacks and sections):

    @register_name_check("training.optimizer")
    def check_optimizer(name) -> Optional[str]:   # None: fine; else what is wrong, with suggestions
        ...

:func:`check_names` runs every checker once per distinct value of its key in the base, the grid axes and the
``--set`` overrides, so a misspelt name stops ``expand`` / ``launch`` at once, with the value's source (the
recipe line or the flag), instead of failing inside each job of a submitted array. The CLI imports the
checkers of ``benchmarks`` (see ``robustperf.PLUGINS``); checkers import heavy libraries only for names they
cannot answer from a short list, so common recipes load without torch.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .errors import RecipeError

NameCheck = Callable[[Any], Optional[str]]
_CHECKS: Dict[str, List[NameCheck]] = {}


def register_name_check(path: str) -> Callable[[NameCheck], NameCheck]:
    """Decorator registering ``fn(value) -> None | message`` for the run-config key ``path`` (``section.key``)."""
    if path.count(".") != 1:
        raise ValueError(f"a name check is registered on a section.key path, got {path!r}")

    def wrap(fn: NameCheck) -> NameCheck:
        _CHECKS.setdefault(path, []).append(fn)
        return fn

    return wrap


def registered_name_checks() -> Dict[str, List[NameCheck]]:
    return {k: list(v) for k, v in _CHECKS.items()}


def check_names(base: Dict[str, Any], axes: Sequence[Tuple[str, Sequence[Any]]], post: Sequence[Any], file: str,
                lines: Dict[str, int], set_source: str) -> None:
    """Run the registered checks on every distinct value of their keys; raise RecipeError naming the source."""
    for path, checks in _CHECKS.items():
        section, key = path.split(".")
        candidates: List[Tuple[Any, str, Optional[int], str]] = []
        overridden = [v for s, k, v in post if (s, k) == (section, key)]
        if overridden:  # --set fixes the key for every run: only the flag's value is used
            candidates.append((overridden[-1], set_source, None, path))
        else:
            candidates.append((base[section][key], file, lines.get(f"base.{path}"), f"base.{path}"))
            for axis, patches in axes:
                for i, patch in enumerate(patches):
                    for s, k, v in patch:
                        if (s, k) == (section, key):
                            where = f"grid.{axis}[{i}]"
                            candidates.append((v, file, lines.get(where), where))
        seen = set()
        for value, source, line, where in candidates:
            marker = repr(value)
            if marker in seen:
                continue
            seen.add(marker)
            for check in checks:
                problem = check(value)
                if problem:
                    raise RecipeError(problem, file=source, key=where, value=value, line=line)


__all__ = ["register_name_check", "registered_name_checks", "check_names"]
