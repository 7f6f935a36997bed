"""Expansion: the runs of a recipe, each with its index, id and name, one at a time.

A pure function of the recipe. Ids are hashed section by section: a section no axis or override touches is
serialised once per expansion, and a touched one is memoised by its values, so a 10^5-run matrix expands in
seconds (``make bench``: ``expand_100k_seconds``).
"""
from __future__ import annotations

import hashlib
from operator import itemgetter
from typing import Any, Dict, Iterator, List, Optional

from . import catalog
from .errors import RecipeError
from .identity import IDENTITY_SECTIONS, canonical_json, controllers, identity_keys, identity_part
from .naming import run_name
from .rules import check_run
from .spec import RunSpec

__all__ = ["expand", "expand_iter", "run_spec", "touched_sections"]



def touched_sections(recipe) -> set:
    """Sections any axis or override patches (the others are serialised once per expansion), and the sections
    whose id keys depend on a patched section's values (``attack.steps`` is read by some methods only)."""
    touched = {section for _, patches in recipe.axes for patch in patches for section, _, _ in patch}
    touched |= {section for section, _, _ in recipe.post} | {"seed"}
    return touched | {k for k in IDENTITY_SECTIONS if any(s in touched for s, _ in controllers(k))}


#: the run id's top-level keys, in the sorted order of the canonical JSON
_ID_TOP = tuple(sorted(("seed",) + IDENTITY_SECTIONS))


def _memo_part(cfg: Dict[str, Any], k: str, cache: Dict[Any, str]) -> str:
    """:func:`recipes.identity.identity_part`, memoised by the section's identity values (and their types: 1 == 1.0 == True) and
    the values that decide which of them the run reads (``training.loss``, ``model.arch``, ...)."""
    if k == "seed":
        return canonical_json(cfg[k])
    section = cfg[k]
    getter = _GETTERS.get((k, catalog.generation()))
    if getter is None:
        names = identity_keys(k)
        getter = _GETTERS[(k, catalog.generation())] = (itemgetter(*names) if len(names) > 1 else lambda d: (d[names[0]],),
                                tuple(controllers(k)))
    try:
        values = getter[0](section)
        key = (k, values, tuple(map(type, values)), tuple(cfg[s][c] for s, c in getter[1]))
        part = cache.get(key)
    except (KeyError, TypeError):  # a key left out, or an unhashable value (a list): encode it every time
        return identity_part(cfg, k)
    if part is None:
        if len(cache) >= _PART_CACHE_SIZE:  # bounded memory on matrices whose sections rarely repeat
            cache.clear()
        part = cache[key] = identity_part(cfg, k)
    return part


_GETTERS: Dict[Any, Any] = {}
_PART_CACHE_SIZE = 4096


def run_spec(recipe, index: int, cfg: Dict[str, Any], touched: set,
             base_json: Optional[Dict[str, str]] = None, cache: Optional[Dict[Any, str]] = None) -> RunSpec:
    parts = []
    for k in _ID_TOP:
        cached = base_json.get(k) if (base_json is not None and k not in touched) else None
        if cached is None:
            cached = identity_part(cfg, k) if cache is None else _memo_part(cfg, k, cache)
        if cached:  # "": a later section the run does not enter (recipes.identity.LATER_SECTIONS)
            parts.append(f'"{k}":' + cached)
    run_id = hashlib.sha256(("{" + ",".join(parts) + "}").encode("ascii")).hexdigest()[:12]
    try:
        check_run(cfg, file=recipe.path)
    except RecipeError as err:
        raise RecipeError(f"run {index} ({run_name(cfg)}): {err.message}", file=recipe.path,
                          key=err.key, value=err.value, allowed=err.allowed) from None
    return RunSpec(index, run_id, run_name(cfg), cfg)


def expand_iter(recipe) -> Iterator[RunSpec]:
    """The runs of ``recipe`` one at a time (no size limit: the caller decides how many to take)."""
    matrix = recipe.matrix
    touched = touched_sections(recipe)
    base_json = {k: identity_part(recipe.base, k) for k in _ID_TOP}
    cache: Dict[Any, str] = {}  # a section's JSON by its values: axes repeat each value across many runs
    for index, choice in enumerate(matrix):
        yield run_spec(recipe, index, matrix.config(choice), touched, base_json, cache)


def expand(recipe) -> List[RunSpec]:
    """The run matrix of ``recipe``: grid product x repeats, overrides applied, excludes and duplicates dropped.

    Runs are ordered as the axes are written (first axis outermost), then by repeat. See :mod:`recipes.matrix`
    for how duplicates and excludes are handled without building the product.
    """
    return recipe.runs()
