"""A recipe that names a benchmark and a division: the benchmark's fixed keys become the base of every run, and a
key the division governs may not be set otherwise - in the base, on a grid axis, in an exclude entry or with
``--set`` - nor, in the closed division, outside its bounds.

Checked once, when the recipe loads (:func:`recipes.load_recipe`), before anything runs; the error names the place
(file and line, or ``<--set>``), the key, the value and the rule: ``closed division of cifar10-linf-8 fixes
model.depth to 28 (the reference model, no extra data)``. The open division checks its own fixed keys (the
protocol) only. Runs of a benchmark carry it in their config's ``benchmark`` section (``id``, ``division``), which
enters their ids (:mod:`recipes.identity`).
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional, Tuple

from .benchmark import DIVISIONS, Benchmark, Rule, get_benchmark
from .errors import RecipeError

__all__ = ["BENCHMARK_ALIASES", "BENCHMARK_KEYS", "apply_benchmark", "check_patch", "parse_benchmark_keys"]

#: The recipe's top-level keys that name the benchmark and the division.
BENCHMARK_KEYS = ("benchmark", "division")
#: The run config's spelling of the top-level keys (``--set benchmark.id=...``; a resolved config's ``benchmark``
#: section given as a base, as ``robustperf tune`` writes its waves).
BENCHMARK_ALIASES = {"benchmark.id": "benchmark", "benchmark.division": "division"}
_SECTION_KEY = {"benchmark": "id", "division": "division"}


def parse_benchmark_keys(data: Dict[str, Any], top_sets: Dict[str, Any], file: str, lines: Dict[str, int],
                         set_source: str, base_section: Optional[Dict[str, Any]] = None
                         ) -> Tuple[Optional[Benchmark], str]:
    """The benchmark and division a recipe names (``--set benchmark=...`` / ``division=...`` win; a base's
    ``benchmark`` section with an ``id`` stands for the top-level keys); ``(None, "closed")`` without one."""
    def where(key: str) -> Tuple[str, Optional[int]]:
        if key in top_sets:
            return set_source, None
        return (file, lines.get(key)) if key in data else (file, lines.get(f"base.benchmark.{_SECTION_KEY[key]}"))

    section = base_section or {}
    if section.get("id") is not None:
        for key, sub in _SECTION_KEY.items():
            if key in data and data[key] != section.get(sub):
                raise RecipeError(f"the top-level {key}: and base.benchmark.{sub} disagree ({data[key]!r} and "
                                  f"{section.get(sub)!r}); write the top-level key only", file=file, key=key,
                                  value=data[key], line=lines.get(key))
        data = {**{k: section.get(sub) for k, sub in _SECTION_KEY.items()}, **data}
    name = top_sets.get("benchmark", data.get("benchmark"))
    division = top_sets.get("division", data.get("division"))
    if name is None:
        if division is not None:
            path, line = where("division")
            raise RecipeError("a division needs a benchmark (the top-level key benchmark:; robustperf benchmarks "
                              "lists them)", file=path, key="division", value=division, line=line)
        return None, "closed"
    path, line = where("benchmark")
    try:
        bench = get_benchmark(name, file=path)
    except RecipeError as err:
        raise err.located(line=line) from None
    division = "closed" if division is None else division
    if division not in DIVISIONS:
        path, line = where("division")
        raise RecipeError("not a division", file=path, key="division", value=division, allowed=DIVISIONS, line=line)
    return bench, division


def apply_benchmark(bench: Benchmark, division: str, base: Dict[str, Any], raw_base: Any, *, file: str,
                    lines: Dict[str, int], covered: Iterable[str] = ()) -> Dict[str, Any]:
    """The base run config with the benchmark's fixed keys (and the reference configuration as the default of the
    keys the recipe leaves out) and its ``benchmark`` section set.

    ``covered``: the ``section.key`` paths a grid axis or ``--set`` gives every run (their values are checked
    one by one, :func:`check_patch`; the base's value of such a key is never used).

    Raises:
        RecipeError: the recipe's base sets a governed key to another value, or (closed) a bounded key - set or
            left at its default, and not covered - is outside its bounds; named with its line and the rule.
    """
    rules = bench.rules(division)
    explicit = _explicit(raw_base)
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    # the reference configuration (the closed division's fixed keys) is every division's default: an open recipe
    # starts from the reference model and changes what it declares
    for path, value in bench.divisions["closed"].fixed.items():
        if path not in explicit:
            section, key = path.split(".", 1)
            out[section][key] = value
    for path, rule in rules.items():
        section, key = path.split(".", 1)
        where = f"base.{path}"
        if rule.kind == "fixed":
            if path in explicit and not rule.allows(base[section][key]):
                raise _broken(rule, bench, division, file, where, base[section][key], lines.get(where))
            out[section][key] = rule.value
        elif path not in covered and not rule.allows(base[section][key]):
            how = "" if path in explicit else "; the default is outside them, so set it"
            raise RecipeError(rule.message(bench.id, division) + how, file=file, key=where,
                              value=base[section][key], line=lines.get(where))
    out["benchmark"] = {**out.get("benchmark", {}), "id": bench.id, "division": division}
    return out


def check_patch(bench: Benchmark, division: str, patch, *, file: str, where: str,
                line: Optional[int] = None, matching: bool = False) -> None:
    """A grid value, an exclude entry (``matching``) or a ``--set`` assignment (``(section, key, value)`` triples)
    that sets a governed key against its rule is refused."""
    rules = bench.rules(division)
    for section, key, value in patch:
        rule = rules.get(f"{section}.{key}") if key is not None else None
        if rule is not None and not rule.allows(value):
            what = " (an exclude entry that can never match: the rule holds every run)" if matching else ""
            raise _broken(rule, bench, division, file, f"{where}.{rule.path}" if matching else where, value, line,
                          what)


def _broken(rule: Rule, bench: Benchmark, division: str, file: str, where: str, value: Any, line: Optional[int],
            extra: str = "") -> RecipeError:
    return RecipeError(rule.message(bench.id, division) + extra, file=file, key=where, value=value, line=line)


def _explicit(raw_base: Any) -> List[str]:
    """The ``section.key`` paths a recipe's ``base:`` writes out."""
    if not isinstance(raw_base, dict):
        return []
    return [f"{section}.{key}" for section, values in raw_base.items() if isinstance(values, dict)
            for key in values]
