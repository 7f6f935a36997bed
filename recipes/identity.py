"""Run identity: which keys of a resolved run make it what it is, and its id (the hash of those keys).

The identity is what changes the trained weights: the seed and the :data:`IDENTITY_SECTIONS`, every default filled
in, less the keys that cannot (``identity=False``: ``data.num_workers``), the keys the run does not read (another
method's or family's parameter: the chosen plug-in's catalog entry says what it reads; ``awp_warmup`` without
``awp_gamma``), and the keys added after ids were first written (``since``) while they hold their default. The
final evaluation, measurement and pricing, tracking and launch settings change no id: a finished run is
re-evaluated or re-priced, never retrained, for them.

``run_id`` is the first 12 hex digits of the SHA-256 of the canonical sorted-key JSON of the identity.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Dict, Optional, Tuple

from . import catalog
from .fields import IS_POSITIVE, IS_SET, READS
from .schema import section_fields
from .sections import SECTIONS

__all__ = ["IDENTITY_SECTIONS", "IDENTITY_EXCLUDED", "LATER_SECTIONS", "identity_keys", "is_identity_key", "conditions", "applies",
           "controllers", "run_identity_keys", "identity_of", "identity_json", "identity_part", "run_id_of",
           "canonical_json"]

#: The sections whose keys can be part of a run's identity.
IDENTITY_SECTIONS = ("data", "model", "training", "attack", "benchmark")
#: Identity sections added after ids were first written: they enter the id only with a key in it (a run that
#: enters no benchmark keeps the id it had before the ``benchmark`` section existed).
LATER_SECTIONS = ("benchmark",)
#: Sections left out of the run id (everything that is not an identity section).
IDENTITY_EXCLUDED = tuple(s for s in SECTIONS if s not in IDENTITY_SECTIONS)

_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
#: the kind of plug-in each ``read_by`` key chooses
_KIND_OF = {selector: kind for kind, selector in catalog.SELECTORS.items() if selector}
_MEMO: Dict[Any, Any] = {}
_MEMO_SIZE = 4096


def canonical_json(value: Any) -> str:
    """Sorted-key, compact, ASCII JSON: the form ids are hashed from."""
    return _JSON.encode(value)


def _memo(key: Any, compute: Callable[[], Any]) -> Any:
    hit = _MEMO.get(key)
    if hit is None:
        if len(_MEMO) >= _MEMO_SIZE:  # bounded: the catalog generation or an odd matrix may keep adding keys
            _MEMO.clear()
        hit = _MEMO[key] = compute()
    return hit


def identity_keys(section: str) -> Tuple[str, ...]:
    """The keys of an identity section that may be part of the run id (those some run reads), in sorted order."""
    return _memo(("keys", section, catalog.generation()),
                 lambda: tuple(sorted(k for k, s in section_fields(section).items() if s.get("identity", True))))


def is_identity_key(section: str, key: Optional[str]) -> bool:
    """Whether ``section.key`` (``key`` None: the whole section, or ``seed``) can be part of the run identity
    (it is for the runs that read it, :func:`applies`)."""
    if section == "seed":
        return True
    if section not in IDENTITY_SECTIONS:
        return False
    return key is None or key in identity_keys(section)


def conditions(section: str, key: str) -> Dict[str, Any]:
    """``{"section.key": allowed values, IS_SET, IS_POSITIVE or READS}``: when ``section.key`` is read (empty:
    always). ``READS``: when the plug-in the controlling key chooses declares that it reads the key."""
    return section_fields(section)[key].get("when") or {}


def applies(section: str, key: str, value_of: Callable[[str, str], Any]) -> bool:
    """Whether a run reads ``section.key``; ``value_of(section, key)`` gives the run's value of a controlling key.

    A ``read_by`` key is read by the runs whose chosen plug-in (``training.loss``'s method, ``model.arch``'s family
    - any name no family is registered under is a timm model - or ``data.name``'s dataset) lists it in its catalog
    entry's ``reads`` or ``keys``. ``when`` conditions on other keys apply alike.
    """
    path = f"{section}.{key}"
    for control, allowed in conditions(section, key).items():
        value = value_of(*control.split(".", 1))
        if allowed == READS:
            entry = catalog.find(_KIND_OF[control], value)
            if entry is None or path not in entry.all_reads():
                return False
        elif allowed == IS_SET:
            if value is None:
                return False
        elif allowed == IS_POSITIVE:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                return False
        else:
            try:
                if value not in allowed:
                    return False
            except TypeError:  # an unhashable value matches nothing
                return False
    return True


def controllers(section: str) -> Tuple[Tuple[str, str], ...]:
    """The ``(section, key)`` pairs whose values decide which keys of ``section`` a run reads."""
    def compute():
        paths = sorted({p for k in identity_keys(section) for p in conditions(section, k)})
        return tuple(tuple(p.split(".", 1)) for p in paths)
    return _memo(("controllers", section, catalog.generation()), compute)


def _get(cfg: Dict[str, Any], section: str, key: str) -> Any:
    values = cfg.get(section)
    return values.get(key) if isinstance(values, dict) else None


def _later(section: str) -> Tuple[Tuple[str, Any], ...]:
    """``(key, default)`` of the identity keys of ``section`` added after ids were first written (``since``)."""
    def compute():
        specs = section_fields(section)
        return tuple((k, specs[k]["default"]) for k in identity_keys(section) if specs[k].get("since"))
    return _memo(("later", section, catalog.generation()), compute)


def run_identity_keys(section: str, cfg: Dict[str, Any]) -> Tuple[str, ...]:
    """The keys of ``section`` in the id of the run ``cfg`` (a resolved config dict): the identity keys it reads,
    less those added later (``since``) that hold their default."""
    values = tuple(_get(cfg, s, k) for s, k in controllers(section))
    at_default = frozenset(k for k, default in _later(section) if _get(cfg, section, k) == default)

    def compute():
        return tuple(k for k in identity_keys(section)
                     if k not in at_default and applies(section, k, lambda s, k2: _get(cfg, s, k2)))
    try:
        key = ("run", section, values, tuple(map(type, values)), at_default, catalog.generation())
        hash(key)
    except TypeError:  # an unhashable controlling value
        return compute()
    return _memo(key, compute)


def identity_of(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The part of a resolved run config that defines the run (and its id): seed + the identity sections' keys
    that the run reads (:func:`run_identity_keys`)."""
    out: Dict[str, Any] = {"seed": cfg.get("seed")}
    for section in IDENTITY_SECTIONS:
        values = cfg.get(section) or {}
        part = {k: values.get(k) for k in run_identity_keys(section, cfg) if k in values}
        if part or section not in LATER_SECTIONS:
            out[section] = part
    return out


def identity_part(cfg: Dict[str, Any], top: str) -> str:
    """Canonical JSON of one top-level part of the identity (``seed`` or a section), as in :func:`identity_json`;
    ``""`` for a :data:`LATER_SECTIONS` section that is not in the id."""
    if top == "seed":
        return _JSON.encode(cfg[top])
    section = cfg.get(top) or {}
    if top in LATER_SECTIONS and not run_identity_keys(top, cfg):
        return ""
    return _JSON.encode({name: section[name] for name in run_identity_keys(top, cfg) if name in section})


def identity_json(cfg: Dict[str, Any]) -> str:
    """Canonical sorted-key JSON of the parts of a config that define the run (:func:`identity_of`)."""
    return _JSON.encode(identity_of(cfg))


def run_id_of(cfg: Dict[str, Any]) -> str:
    """Stable 12-hex-digit id of a resolved config: same config, same id, on every machine."""
    return hashlib.sha256(identity_json(cfg).encode("ascii")).hexdigest()[:12]
