"""Load a recipe file and validate it into a :class:`Recipe`, whose runs :mod:`recipes.expand` lists.

A recipe is YAML with the top-level keys ``name``, ``base`` (defaults of every run), ``grid`` (axes whose
Cartesian product is the matrix), ``repeats`` (seeds ``seed .. seed+repeats-1``), ``exclude`` (partial configs
to drop), ``launch`` (how to submit; never part of a run's identity), ``search`` (``robustperf tune``), and
``benchmark`` / ``division`` (the benchmark the runs enter, whose division rules :mod:`recipes.divisions`
enforces here, at load time). YAML is parsed by :mod:`recipes.loading` only.

Each run gets its matrix ``index`` (the order the axes are written in), a ``run_id`` (see
:mod:`recipes.identity`) and a readable ``name`` (:mod:`recipes.naming`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from .divisions import BENCHMARK_ALIASES, BENCHMARK_KEYS, apply_benchmark, check_patch, parse_benchmark_keys
from .errors import RecipeError, nearest
from .expand import expand_iter, run_spec, touched_sections
from .fields import SEED_FIELD, validate_value
from .files import read_regular
from .limits import limit, over_limit_message
from .loading import parse_yaml
from .matrix import Matrix, Patch, apply_patch, copy_config
from .moved import moved, relocate_base, warn_moved
from .names import check_names
from .rules import check_run
from .schema import all_paths, section_fields, validate_section
from .sections import SECTIONS, LaunchConfig
from .spec import RunSpec

__all__ = ["Recipe", "RunSpec", "load_recipe", "recipe_from_dict", "check_run_count", "TOP_LEVEL_KEYS",
           "SET_SOURCE"]

TOP_LEVEL_KEYS = ("name", "base", "grid", "repeats", "exclude", "launch", "search") + BENCHMARK_KEYS
SET_SOURCE = "<--set>"
_BENCHMARK_SECTION = ("a recipe enters one benchmark, named by its top-level keys benchmark: and division: (--set "
                      "benchmark=ID, --set division=open); they cannot vary between runs")


@dataclass
class Recipe:
    """A loaded, validated recipe. Build with :func:`load_recipe`; expand with :meth:`runs`."""

    name: str
    path: str
    base: Dict[str, Any]
    axes: List[Tuple[str, List[Patch]]]
    repeats: int = 1
    exclude: List[Patch] = field(default_factory=list)
    launch: LaunchConfig = field(default_factory=LaunchConfig)
    overrides: Tuple[str, ...] = ()
    search: Optional[Any] = None  # recipes.search.SearchSpec: the `search:` section of `robustperf tune`
    post: Patch = ()  # the --set assignments, applied to every run
    benchmark: Optional[str] = None  # the benchmark the runs enter (recipes.benchmark), and its division
    division: Optional[str] = None
    _matrix: Optional[Matrix] = field(default=None, repr=False)
    _runs: Optional[List[RunSpec]] = field(default=None, repr=False)

    @property
    def matrix(self) -> Matrix:
        """The lazy run matrix (see :mod:`recipes.matrix`)."""
        if self._matrix is None:
            self._matrix = Matrix(self.base, self.axes, self.repeats, self.exclude, self.post, file=self.path)
        return self._matrix

    def base_config(self) -> Dict[str, Any]:
        """A fresh copy of the base run config with the ``--set`` overrides applied."""
        return apply_patch(copy_config(self.base), self.post)

    def count(self) -> int:
        """Number of runs in the matrix, computed without building them (any size)."""
        return self.matrix.count()

    def runs(self) -> List[RunSpec]:
        """The run matrix (built once).

        Raises:
            RecipeError: the matrix has more runs than the ``runs`` limit (:mod:`recipes.limits`).
        """
        if self._runs is None:
            self._runs = list(self.iter_runs())
        return self._runs

    def iter_runs(self) -> Iterator[RunSpec]:
        """The runs one at a time, in matrix order (refused above the ``runs`` limit before the first one)."""
        check_run_count(self.count(), self.path, what="the run matrix")
        return expand_iter(self)

    def run(self, index: int) -> RunSpec:
        """Run ``index`` of the matrix, built alone (``robustperf run --index`` in an array task)."""
        total = self.count()
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
            raise RecipeError(f"no run with index {index}: the matrix has {total} runs (0..{total - 1})",
                              file=self.path, key="--index", value=index)
        if self._runs is not None:
            return self._runs[index]
        return run_spec(self, index, self.matrix.config(self.matrix.choice(index)), touched_sections(self))


def check_run_count(count: int, file: str, what: str = "the run matrix") -> None:
    """Refuse to build more runs at once than the ``runs`` limit allows."""
    if count > limit("runs"):
        raise RecipeError(over_limit_message("runs", f"the number of runs in {what}", count)
                          + "; robustperf expand --count counts any matrix, and run --index builds one run",
                          file=file)


# ---------------------------------------------------------------- loading

def load_recipe(path: str, overrides: Sequence[str] = ()) -> Recipe:
    """Read, validate and return the recipe at ``path`` with ``--set KEY=VALUE`` overrides applied.

    Raises:
        RecipeError: naming the file, key path, line, value and what is allowed, for any mistake.
    """
    file = str(path)
    try:  # a regular file only (a FIFO or device would block or never end), read no further than the bound
        raw = read_regular(file, limit("recipe_bytes"), "recipe", error=lambda reason: RecipeError(reason, file=file),
                           too_big=lambda n: over_limit_message("recipe_bytes", "the recipe's size in bytes", None))
    except FileNotFoundError:
        raise RecipeError("recipe file not found", file=file) from None
    except IsADirectoryError:
        raise RecipeError("is a directory, not a recipe file", file=file) from None
    except OSError as err:
        raise RecipeError(f"cannot read the recipe: {err.strerror}", file=file) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RecipeError(f"not UTF-8 text (byte {err.start})", file=file) from None
    data, lines = parse_yaml(text, file)
    if data is None:
        raise RecipeError("the recipe is empty; a recipe is a mapping with keys " + ", ".join(TOP_LEVEL_KEYS)
                          + " (see recipes/tiny-digits.yaml)", file=file)
    return recipe_from_dict(data, file=file, lines=lines, overrides=overrides)


def recipe_from_dict(data: Any, *, file: str = "<recipe>", lines: Optional[Dict[str, int]] = None,
                     overrides: Sequence[str] = ()) -> Recipe:
    """Validate an already-parsed recipe mapping (see :func:`load_recipe`)."""
    lines = lines or {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"a recipe must be a mapping with keys {', '.join(TOP_LEVEL_KEYS)}", file=file,
                          value=_short(data))
    data = dict(data)
    top_sets, run_sets = _parse_overrides(overrides)
    if "search" in top_sets:  # --set search.KEY=VALUE changes that key of the file's search section only
        file_search = data.get("search")
        data["search"] = {**file_search, **top_sets["search"]} if isinstance(file_search, dict) else top_sets["search"]
    for key in data:
        if not isinstance(key, str) or key not in TOP_LEVEL_KEYS:
            hint = nearest(str(key), TOP_LEVEL_KEYS)
            raise RecipeError("unknown top-level key" + (f" (did you mean '{hint}'?)" if hint else ""), file=file,
                              key=str(key), allowed=TOP_LEVEL_KEYS, line=lines.get(str(key)))

    def source(key: str) -> Tuple[str, Optional[int]]:
        """Where the value of a top-level key comes from: the --set flag, or the recipe and its line."""
        return (SET_SOURCE, None) if key in top_sets else (file, lines.get(key))

    default_name = os.path.splitext(os.path.basename(file))[0] if not file.startswith("<") else "recipe"
    name = top_sets.get("name", data.get("name", default_name))
    if not isinstance(name, str) or not name.strip() or any(ord(c) < 32 for c in name):
        where, line = source("name")
        raise RecipeError("name must be a non-empty string on one line", file=where, key="name", value=name,
                          line=line)
    base = _parse_base(data.get("base"), file, lines)
    axes = _parse_grid(data.get("grid"), file, lines)
    bench, division = parse_benchmark_keys(data, top_sets, file, lines, SET_SOURCE, base_section=base["benchmark"])
    if bench is None:
        base["benchmark"] = validate_section("benchmark", {})  # a resolved config's {id: null, ...}
    repeats = top_sets.get("repeats", data.get("repeats", bench.repeats if bench is not None else 1))
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        where, line = source("repeats")
        raise RecipeError("repeats must be an integer >= 1", file=where, key="repeats", value=repeats, line=line)
    exclude_raw = data.get("exclude")
    exclude_raw = [] if exclude_raw is None else exclude_raw
    if not isinstance(exclude_raw, list):
        raise RecipeError("exclude must be a list of partial run configs", file=file, key="exclude",
                          value=_short(exclude_raw), line=lines.get("exclude"))
    if len(exclude_raw) > limit("excludes"):
        raise RecipeError(over_limit_message("excludes", "the number of exclude entries", len(exclude_raw)),
                          file=file, key="exclude", line=lines.get("exclude"))
    exclude = [_parse_partial(item, "", file, lines, f"exclude[{i}]") for i, item in enumerate(exclude_raw)]
    launch_raw = data.get("launch")
    launch_raw = {} if launch_raw is None else launch_raw
    launch_values = validate_section("launch", launch_raw, file=file, lines=lines)
    if "launch" in top_sets:  # --set launch.KEY=VALUE changes that key only, and errors name the flag
        launch_values.update(validate_section("launch", top_sets["launch"], file=SET_SOURCE, partial=True))
    if launch_values["chain"] > limit("chain"):
        where = SET_SOURCE if "chain" in top_sets.get("launch", {}) else file
        raise RecipeError(over_limit_message("chain", "launch.chain", launch_values["chain"]), file=where,
                          key="launch.chain", line=None if where == SET_SOURCE else lines.get("launch.chain"))
    launch = LaunchConfig(**launch_values)
    post = tuple(p for key, value in run_sets for p in _parse_assignment(key, value, SET_SOURCE, {}, key))
    if bench is not None:  # the division's rules, before anything runs (recipes.divisions)
        covered = {f"{s}.{k}" for _, patches in axes for patch in patches for s, k, _ in patch}
        base = apply_benchmark(bench, division, base, data.get("base"), file=file, lines=lines,
                               covered=covered | {f"{s}.{k}" for s, k, _ in post})
        _check_division(bench, division, axes, exclude, run_sets, file, lines)
    search = None
    if data.get("search") is not None:
        from .search import parse_search

        search = parse_search(data["search"], file, lines)
    recipe = Recipe(name=name, path=file, base=base, axes=axes, repeats=repeats, exclude=exclude, launch=launch,
                    overrides=tuple(overrides), search=search, post=post,
                    benchmark=bench.id if bench is not None else None,
                    division=division if bench is not None else None)
    # Validate the base (with overrides) as a run once, so a broken default is reported as the base's fault.
    try:
        check_run(apply_patch(copy_config(base), post), file=file)
    except RecipeError as err:
        if post and _passes(base, file):  # the base alone is fine: the --set values broke it
            raise RecipeError(err.message, file=SET_SOURCE, key=err.key, value=err.value,
                              allowed=err.allowed) from None
        raise
    check_names(base, axes, post, file, lines, SET_SOURCE)
    recipe.matrix  # noqa: B018 - sorts the axes and excludes now, so their mistakes surface at load time
    return recipe


def _check_division(bench, division: str, axes, exclude, run_sets, file: str, lines: Dict[str, int]) -> None:
    """Every grid value, exclude entry and ``--set`` assignment keeps to the division's rules."""
    for axis, patches in axes:
        for i, patch in enumerate(patches):
            where = f"grid.{axis}[{i}]"
            check_patch(bench, division, patch, file=file, where=where, line=lines.get(where))
    for i, patch in enumerate(exclude):
        where = f"exclude[{i}]"
        check_patch(bench, division, patch, file=file, where=where, line=lines.get(where), matching=True)
    for key, value in run_sets:
        check_patch(bench, division, _parse_assignment(key, value, SET_SOURCE, {}, key), file=SET_SOURCE, where=key)


def _passes(cfg: Dict[str, Any], file: str) -> bool:
    try:
        check_run(cfg, file=file)
    except RecipeError:
        return False
    return True


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 80 else text[:77] + "..."


def _parse_base(raw: Any, file: str, lines: Dict[str, int]) -> Dict[str, Any]:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise RecipeError("base must be a mapping of sections", file=file, key="base", value=_short(raw),
                          line=lines.get("base"))
    raw = relocate_base(raw, file, lines)  # keys that moved: read as their new ones (with a warning)
    sub = {k[len("base."):]: v for k, v in lines.items() if k.startswith("base.")}
    for key in raw:
        if key != "seed" and key not in SECTIONS:
            hint = nearest(str(key), ["seed", *SECTIONS])
            raise RecipeError("unknown section" + (f" (did you mean '{hint}'?)" if hint else ""), file=file,
                              key=f"base.{key}", allowed=["seed", *SECTIONS], line=lines.get(f"base.{key}"))
    cfg: Dict[str, Any] = {"seed": validate_value("seed", raw.get("seed", 0), SEED_FIELD, file)}
    for name in SECTIONS:
        try:
            section = raw.get(name)
            cfg[name] = validate_section(name, {} if section is None else section, file=file, lines=sub)
        except RecipeError as err:
            raise RecipeError(err.message, file=file, key=f"base.{err.key}" if err.key else "base",
                              value=err.value, allowed=err.allowed, line=err.line) from None
    return cfg


def _parse_assignment(path: str, value: Any, file: str, lines: Dict[str, int], where: str) -> Patch:
    """Resolve ``path: value`` (a field, a whole section given as a mapping, or ``seed``) into a patch."""
    if not isinstance(path, str):
        raise RecipeError("keys must be strings", file=file, key=where, value=path)
    if path == "seed":
        return (("seed", None, validate_value("seed", value, SEED_FIELD, file)),)
    section, _, key = path.partition(".")
    if section == "benchmark":
        raise RecipeError(_BENCHMARK_SECTION, file=file, key=where, value=value, line=lines.get(where))
    if section not in SECTIONS:
        hint = nearest(path, all_paths()) or nearest(section, SECTIONS)
        raise RecipeError("unknown key" + (f" (did you mean '{hint}'?)" if hint else ""), file=file, key=where,
                          allowed=["seed", *SECTIONS], line=lines.get(where))
    if not key:
        if not isinstance(value, dict):
            raise RecipeError(f"a value for the section '{section}' must be a mapping of its keys", file=file,
                              key=where, value=_short(value), line=lines.get(where))
        patch: List[Tuple[str, Optional[str], Any]] = []
        for sub, sub_value in value.items():
            if isinstance(sub, str) and "." in sub:  # an absolute path inside a bundle, e.g. data.batch_size
                patch.extend(_parse_assignment(sub, sub_value, file, lines, f"{where}.{sub}"))
            else:
                patch.extend(_parse_assignment(f"{section}.{sub}", sub_value, file, lines, f"{where}.{sub}"))
        return tuple(patch)
    specs = section_fields(section)
    move = moved(path) if key not in specs else None
    if move is not None:  # an old key: read as its new one for a release, with a warning (or refused, naming it)
        return _parse_assignment(warn_moved(move, file, where, lines.get(where)), value, file, lines, where)
    if key not in specs:
        hint = nearest(key, specs)
        raise RecipeError("unknown key" + (f" (did you mean '{section}.{hint}'?)" if hint else ""), file=file,
                          key=where, allowed=[f"{section}.{k}" for k in specs], line=lines.get(where))
    try:
        return ((section, key, validate_value(path, value, specs[key], file)),)
    except RecipeError as err:
        raise RecipeError(err.message, file=file, key=where, value=err.value, allowed=err.allowed,
                          line=lines.get(where)) from None


def _parse_grid(raw: Any, file: str, lines: Dict[str, int]) -> List[Tuple[str, List[Patch]]]:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise RecipeError("grid must be a mapping of key paths to lists of values", file=file, key="grid",
                          value=_short(raw), line=lines.get("grid"))
    axes: List[Tuple[str, List[Patch]]] = []
    owner: Dict[Tuple[str, Optional[str]], str] = {}
    for axis, values in raw.items():
        where = f"grid.{axis}"
        if not isinstance(values, list) or not values:
            raise RecipeError("a grid axis must be a non-empty list of values", file=file, key=where,
                              value=_short(values), line=lines.get(where))
        patches = [_parse_assignment(axis, v, file, lines, f"{where}[{i}]") if isinstance(axis, str) else
                   _parse_assignment(axis, v, file, lines, where) for i, v in enumerate(values)]
        for patch in patches:
            for section, key, _ in patch:
                other = owner.setdefault((section, key), str(axis))
                if other != axis:
                    raise RecipeError(f"set by two grid axes ('{other}' and '{axis}'); combine them into one axis",
                                      file=file, key=f"{section}.{key}" if key else section,
                                      line=lines.get(where))
        axes.append((str(axis), patches))
    return axes


def _parse_partial(item: Any, prefix: str, file: str, lines: Dict[str, int], where: str) -> Patch:
    if not isinstance(item, dict) or not item:
        raise RecipeError("an exclude entry must be a non-empty mapping, e.g. {training.loss: trades}", file=file,
                          key=where, value=_short(item), line=lines.get(where))
    patch: List[Tuple[str, Optional[str], Any]] = []
    for key, value in item.items():
        patch.extend(_parse_assignment(key, value, file, lines, f"{where}.{key}"))
    return tuple(patch)


def _parse_overrides(overrides: Sequence[str]) -> Tuple[Dict[str, Any], List[Tuple[str, Any]]]:
    """Split ``KEY=VALUE`` strings into top-level recipe keys and run-config assignments."""
    top: Dict[str, Any] = {}
    runs: List[Tuple[str, Any]] = []
    for item in overrides:
        key, sep, text = str(item).partition("=")
        key = key.strip()
        if not sep or not key:
            raise RecipeError("expected KEY=VALUE, e.g. --set training.epochs=1", file=SET_SOURCE, value=item)
        value, _ = parse_yaml(text, SET_SOURCE) if text.strip() else (None, {})
        if key in ("name", "repeats") + BENCHMARK_KEYS:
            top[key] = value
        elif key in BENCHMARK_ALIASES:  # the run config's spelling of the top-level keys
            top[BENCHMARK_ALIASES[key]] = value
        elif key.split(".")[0] in ("launch", "search"):
            top_key = key.split(".")[0]
            section = top.setdefault(top_key, {})
            sub = key[len(top_key) + 1:]
            if sub:
                section[sub] = value
            elif isinstance(value, dict):
                section.update(value)
            else:
                raise RecipeError(f"{top_key} must be set to a mapping", file=SET_SOURCE, key=key, value=value)
        else:
            runs.append((key, value))
    return top, runs
