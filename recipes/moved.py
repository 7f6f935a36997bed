"""Recipe keys that moved or split between releases: one table, read by the loader and rendered into the docs.

A key renamed or moved to another section (``evaluation.pgd_subset`` became ``training.select_subset`` when the
per-epoch check got its own ``training.select_*`` keys) used to be an unknown key, answered with the nearest
spelling in its old section ("did you mean 'evaluation.pgd_steps'?"), a wrong hint. Each move is in
:data:`MOVES`:

- ``same meaning``: the old key is read as the new one for one release, with a warning naming the new key; from
  ``refused_from`` on it is refused naming the new key.
- otherwise the meaning changed: the old key is refused at once, naming the new key and what changed.

:data:`SPLITS` lists keys that still exist but no longer set something they used to (the final evaluation's
``evaluation.pgd_steps`` set the per-epoch check too); they are documented, never warned about, since the old
key keeps its narrower meaning. :data:`RENAMED_VALUES` lists values of a key that were renamed (the energy meters
``nvml`` and ``rapl`` became ``zeus``, which reads both): the old value is read as the new one for one release,
with a warning naming it. The docs list the tables (``docs/hooks.py``, ``<!-- reference: moved -->``).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Dict, Optional, Set, Tuple

from .errors import RecipeError

__all__ = ["Move", "MOVES", "SPLITS", "RenamedValue", "RENAMED_VALUES", "moved", "accepted", "warn_moved",
           "relocate_base", "renamed_value"]


@dataclass(frozen=True)
class Move:
    """``old`` (``section.key``) became ``new`` in release ``moved_in``."""

    old: str
    new: str
    moved_in: str
    refused_from: str
    same_meaning: bool
    note: str = ""


MOVES: Tuple[Move, ...] = (
    Move("evaluation.pgd_subset", "training.select_subset", "0.2", "0.3", True,
         "the per-epoch check now picks from held-out training images unless training.select_on: test"),
)

#: (key that still exists, what it no longer sets, the key that sets that now, release)
SPLITS: Tuple[Tuple[str, str, str, str], ...] = (
    ("evaluation.pgd_steps", "the per-epoch check's PGD steps", "training.select_pgd_steps", "0.2"),
    ("evaluation.pgd_step_size", "the per-epoch check's PGD step size", "training.select_pgd_step_size", "0.2"),
    ("evaluation.batch_size", "the per-epoch check's batch size", "training.select_batch_size", "0.2"),
)



@dataclass(frozen=True)
class RenamedValue:
    """The value ``old`` of ``key`` (``section.key``) became ``new`` in release ``renamed_in``."""

    key: str
    old: str
    new: str
    renamed_in: str
    refused_from: str
    note: str = ""


RENAMED_VALUES: Tuple[RenamedValue, ...] = (
    RenamedValue("measurement.energy_source", "nvml", "zeus", "0.2", "0.3",
                 "Zeus reads the GPUs' NVML counters and the host's CPU and DRAM beside them"),
    RenamedValue("measurement.energy_source", "rapl", "zeus", "0.2", "0.3",
                 "Zeus reads the RAPL counters of the CPU packages and DRAM"),
)

_BY_OLD: Dict[str, Move] = {m.old: m for m in MOVES}
_WARNED: Set[Tuple[str, str]] = set()


def moved(path: str) -> Optional[Move]:
    """The move of ``section.key`` if it is an old key, else None."""
    return _BY_OLD.get(path)


def _version(text: str) -> Tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _current() -> Optional[str]:
    try:
        from importlib.metadata import version

        return version("robustperf")
    except Exception:  # noqa: BLE001 - a source tree that is not installed: read the old keys as documented
        return None


def accepted(move: Move, current: Optional[str] = None) -> bool:
    """Whether the old key is still read as the new one (same meaning, and this release is before
    ``refused_from``)."""
    current = _current() if current is None else current
    return move.same_meaning and (current is None or _version(current) < _version(move.refused_from))


def warn_moved(move: Move, file: Optional[str], where: str, line: Optional[int] = None) -> str:
    """Refuse an old key no longer read, or warn once per file and key that it is read as the new one; returns
    the new key path.

    Raises:
        RecipeError: the move changed the meaning, or this release no longer reads the old key.
    """
    if not accepted(move):
        why = "" if move.same_meaning else " with another meaning"
        raise RecipeError(f"moved to '{move.new}' in {move.moved_in}{why}; write that key instead"
                          + (f" ({move.note})" if move.note else ""), file=file, key=where, line=line)
    if (str(file), move.old) not in _WARNED:  # once per file and key: not once per grid value
        _WARNED.add((str(file), move.old))
        at = f"{file}:{line}" if line is not None else str(file)
        print(f"robustperf: warning: {at}: key '{where}': '{move.old}' is now '{move.new}' (moved in {move.moved_in}; "
              f"the old name is refused from {move.refused_from}){'; ' + move.note if move.note else ''}",
              file=sys.stderr)
    return move.new


def relocate_base(raw: Dict[str, Any], file: str, lines: Dict[str, int]) -> Dict[str, Any]:
    """``base`` with each old key read as its new one (in its new section), warning once per key.

    Raises:
        RecipeError: an old key no longer read, or set together with its new key.
    """
    out = dict(raw)
    for section, values in raw.items():
        if not isinstance(values, dict):
            continue
        for key in list(values):
            move = moved(f"{section}.{key}") if isinstance(key, str) else None
            if move is None:
                continue
            where = f"base.{section}.{key}"
            new = warn_moved(move, file, where, lines.get(where))
            new_section, new_key = new.split(".", 1)
            values_out = dict(out[section]) if out[section] is values else out[section]
            value = values_out.pop(key)
            out[section] = values_out
            target = out.get(new_section)
            target = {} if target is None else target
            if not isinstance(target, dict):
                continue  # the section's own mistake is reported where it is validated
            if new_key in target:
                raise RecipeError(f"set twice: as '{move.old}' (its old name) and as '{new}'; keep '{new}'",
                                  file=file, key=where, line=lines.get(where))
            out[new_section] = {**target, new_key: value}
    return out


def renamed_value(path: str, value: Any, file: Optional[str] = None) -> Any:
    """``value`` of the key at ``path`` (``section.key``, possibly under ``base.``/``grid.``), or its new name with a
    warning (once per file, key and value) when it is a renamed value still read; else ``value`` unchanged.

    Raises:
        RecipeError: a renamed value this release no longer reads, naming the new one.
    """
    if not isinstance(value, str):
        return value
    for r in RENAMED_VALUES:
        if r.old == value and (path == r.key or path.endswith("." + r.key)):
            current = _current()
            if current is not None and _version(current) >= _version(r.refused_from):
                raise RecipeError(f"'{value}' was renamed '{r.new}' in {r.renamed_in}; write that instead ({r.note})",
                                  file=file, key=path, value=value)
            if (str(file), f"{r.key}={value}") not in _WARNED:
                _WARNED.add((str(file), f"{r.key}={value}"))
                print(f"robustperf: warning: {file}: key '{path}': '{value}' is now '{r.new}' (renamed in "
                      f"{r.renamed_in}; the old name is refused from {r.refused_from}); {r.note}", file=sys.stderr)
            return r.new
    return value
