"""Recipe keys as dataclass fields: each carries its one-line doc, default, checks and identity facts.

:func:`key_field` declares a key (compare ``torchtitan/config/job_config.py``); :func:`field_specs` reads the
declarations of a section back as plain dicts; :func:`validate_value` checks one value against its spec. The
recipe reference, the checks, the defaults and the run identity all read these specs, so they cannot disagree.
"""
from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import field
from fractions import Fraction
from typing import Any, Callable, Dict, Optional, Tuple

from .errors import RecipeError, nearest
from .moved import renamed_value

__all__ = ["IS_SET", "IS_POSITIVE", "READS", "key_field", "field_specs", "parse_fraction", "type_name",
           "validate_value", "copy_default", "SEED_FIELD"]

#: ``when`` value: the controlling key is read when it is set (not null), e.g. ``awp_warmup`` needs ``awp_gamma``.
IS_SET = "<set>"
#: ``when`` value: the controlling number is above 0, e.g. ``data.synthetic`` needs ``synthetic_fraction > 0``.
IS_POSITIVE = "<positive>"
#: ``when`` value of a ``read_by`` key: the plug-in the controlling key names declares that it reads the key.
READS = "<reads>"


def key_field(default: Any, doc: str, *, choices: Any = None, min: Optional[float] = None,
              max: Optional[float] = None, min_exclusive: bool = False, kind: Optional[str] = None, factory=None,
              read_by: Optional[str] = None, when: Optional[Dict[str, Any]] = None,
              form: Optional[Tuple[int, int]] = None, identity: bool = True, since: Optional[str] = None,
              check: Optional[Callable[[str, Any, Optional[str]], Any]] = None):
    """A recipe key: default, one-line doc and checks.

    Args:
        default, factory: the value when the recipe does not set it (``factory`` for a mutable one).
        doc: one line for the reference.
        choices: allowed values (a tuple, or a :class:`recipes.catalog.Choices` the catalog decides).
        min, max, min_exclusive: the allowed range of a number.
        kind: a value kind beyond the type: ``fraction`` (accepts ``8/255``), ``floats`` / ``choices`` (lists),
            ``strings``; or the name of a domain check given in ``check``.
        read_by: the key whose plug-in decides whether this key is read (``training.loss``: only the methods
            that declare the key in their catalog entry's ``reads`` read it; ``model.arch``: the families).
        when: other conditions on which the key is read, ``{"section.key": allowed values, IS_SET or
            IS_POSITIVE}``. A key a run does not read stays out of its id (``recipes.identity.applies``).
        form: ``(m, r)``: the value must be ``r`` modulo ``m`` where it is read (WideResNet depth 6n+4).
        identity: False for a key that cannot change the trained weights (``data.num_workers``).
        since: the release that added an identity key after ids were first written: it enters a run's id only
            when set to another value than its default, so every run written before keeps its id.
        check: ``check(path, value, file) -> value`` for a value of a domain ``kind`` (AutoAttack, prices, ...).
    """
    conditions: Dict[str, Any] = {read_by: READS} if read_by else {}
    conditions.update(when or {})
    meta = {"doc": doc, "choices": choices, "min": min, "max": max, "min_exclusive": min_exclusive, "kind": kind,
            "read_by": read_by, "when": conditions, "form": form, "identity": identity, "since": since,
            "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


#: The spec of the top-level ``seed`` key (not a section field).
SEED_FIELD: Dict[str, Any] = {
    "doc": "random seed of the run (repeats add 0, 1, ...)", "default": 0, "choices": None, "min": 0,
    "max": 2**32 - 1, "min_exclusive": False, "kind": None, "type": int, "when": {}, "identity": True,
    "read_by": None, "form": None, "since": None, "check": None}

_SPECS: Dict[type, Dict[str, Dict[str, Any]]] = {}


def field_specs(section: type) -> Dict[str, Dict[str, Any]]:
    """The specs of a section dataclass's fields by name: the metadata of :func:`key_field`, ``type`` and
    ``default`` (a factory's value)."""
    cached = _SPECS.get(section)
    if cached is None:
        hints = typing.get_type_hints(section)
        cached = {}
        for f in dataclasses.fields(section):
            meta = dict(f.metadata)
            meta["type"] = hints[f.name]
            meta["default"] = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
            cached[f.name] = meta
        _SPECS[section] = cached
    return cached


def parse_fraction(value: Any) -> Any:
    """``'8/255'`` -> 0.0313..., numbers unchanged; anything else is returned for the type check to reject."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(Fraction(text)) if "/" in text else float(text)
        except (ValueError, ZeroDivisionError, OverflowError):
            return value
    return value


def type_name(tp: Any) -> str:
    """``int``, ``float or null``, ... for messages and the reference."""
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(type_name(a) for a in args) + " or null"
    return getattr(tp, "__name__", str(tp))


def _optional(tp: Any) -> bool:
    return typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)


def validate_value(path: str, value: Any, spec: Dict[str, Any], file: Optional[str] = None) -> Any:
    """Check (and normalise) one value against its field spec; raise RecipeError naming the key."""
    kind = spec.get("kind")
    tp = spec["type"]
    check = spec.get("check")
    if value is None:
        if _optional(tp) or tp is typing.Any:
            return None
        raise RecipeError(f"must not be null; expected {type_name(tp)}", file=file, key=path, value=value)
    if check is not None:
        return check(path, value, file)
    if kind == "fraction":
        value = parse_fraction(value)
    if kind in ("floats", "choices"):
        return _check_list(path, value, spec, file)
    if kind == "strings":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise RecipeError("expected a list of strings", file=file, key=path, value=value)
        return tuple(value)
    base = next(a for a in typing.get_args(tp) if a is not type(None)) if _optional(tp) else tp
    value = _check_type(path, value, base, kind, file)
    choices = spec.get("choices")
    if choices is not None and value not in choices:
        value = renamed_value(path, value, file)  # an old name of a value, read as its new one with a warning
        if value not in choices:
            raise _not_allowed(path, value, choices, file)
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and (value < lo or (spec.get("min_exclusive") and value == lo)):
        op = ">" if spec.get("min_exclusive") else ">="
        raise RecipeError(f"must be {op} {lo}", file=file, key=path, value=value)
    if hi is not None and value > hi:
        raise RecipeError(f"must be <= {hi}", file=file, key=path, value=value)
    return value


def _check_type(path: str, value: Any, base: Any, kind: Optional[str], file: Optional[str]) -> Any:
    if base is bool:
        if not isinstance(value, bool):
            raise RecipeError("expected true or false", file=file, key=path, value=value)
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
                return int(value)
            raise RecipeError("expected an integer", file=file, key=path, value=value)
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError("expected a number" + (" or a fraction such as 8/255" if kind == "fraction" else ""),
                              file=file, key=path, value=value)
        value = float(value)
        if not math.isfinite(value):
            raise RecipeError("expected a finite number", file=file, key=path, value=value)
    elif base is str:
        if not isinstance(value, str):
            raise RecipeError("expected a string", file=file, key=path, value=value)
    return value


def _not_allowed(path: str, value: Any, choices: Any, file: Optional[str]) -> RecipeError:
    hint = nearest(value, choices) if isinstance(value, str) else None
    return RecipeError("not an allowed value" + (f" (did you mean '{hint}'?)" if hint else ""), file=file,
                       key=path, value=value, allowed=choices)


def _check_list(path: str, value: Any, spec: Dict[str, Any], file: Optional[str]) -> Tuple[Any, ...]:
    items = [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise RecipeError("expected a non-empty list", file=file, key=path, value=value)
    out = []
    for item in items:
        if spec["kind"] == "floats":
            item = validate_value(path, parse_fraction(item), {**spec, "kind": None, "type": float}, file)
        elif item not in spec["choices"]:
            raise _not_allowed(path, item, spec["choices"], file)
        if item in out:
            raise RecipeError("listed twice", file=file, key=path, value=item)
        out.append(item)
    return tuple(out)


def copy_default(value: Any) -> Any:
    """A fresh copy of a default (mappings of lists are copied, so runs never share them)."""
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, tuple) else (dict(v) if isinstance(v, dict) else v)
                for k, v in value.items()}
    return value
