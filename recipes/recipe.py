"""Load a recipe file and expand it into the run matrix.

A recipe is YAML with the top-level keys ``name``, ``base`` (defaults of every run), ``grid`` (axes whose
Cartesian product is the matrix), ``repeats`` (seeds ``seed .. seed+repeats-1``), ``exclude`` (partial configs
to drop) and ``launch`` (how to submit; never part of a run's identity). YAML is read in this module only,
with ``yaml.safe_load`` semantics.

Expansion is a pure function of the recipe: each run gets its matrix ``index`` (the order the axes are
written in), a ``run_id`` (the first 12 hex digits of the SHA-256 of the canonical sorted-key JSON of the run's
identity: seed, data, model, training and attack with every default filled in, less keys that cannot change the
weights such as ``data.num_workers``; see :func:`recipes.schema.identity_of`) and a readable ``name``. The
final evaluation, measurement/pricing, tracking and launch settings change no id.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import yaml

from .errors import RecipeError, nearest
from .limits import limit, over_limit_message
from .matrix import Matrix, _apply
from .names import check_names
from .schema import (IDENTITY_SECTIONS, SECTIONS, TRAINING_METHODS, LaunchConfig, RunConfig, _SEED_FIELD, all_paths,
                     check_run, controllers, identity_keys, identity_of, run_identity_keys, section_fields,
                     validate_section, validate_value)

TOP_LEVEL_KEYS = ("name", "base", "grid", "repeats", "exclude", "launch", "search")
SET_SOURCE = "<--set>"
_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)

Patch = Tuple[Tuple[str, Optional[str], Any], ...]  # ((section or "seed", key or None, value), ...)


@dataclass(frozen=True)
class RunSpec:
    """One entry of the run matrix."""

    index: int
    run_id: str
    name: str
    config: Dict[str, Any] = field(repr=False, compare=False)

    def run_config(self) -> RunConfig:
        """The typed, validated config of this run."""
        return RunConfig.from_dict(self.config)

    def to_json(self) -> Dict[str, Any]:
        return {"index": self.index, "run_id": self.run_id, "name": self.name, "config": self.config}


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
    _post: Patch = ()
    _matrix: Optional[Matrix] = field(default=None, repr=False)
    _runs: Optional[List[RunSpec]] = field(default=None, repr=False)

    @property
    def matrix(self) -> Matrix:
        """The lazy run matrix (see :mod:`recipes.matrix`)."""
        if self._matrix is None:
            self._matrix = Matrix(self.base, self.axes, self.repeats, self.exclude, self._post, file=self.path)
        return self._matrix

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
        return _spec(self, index, self.matrix.config(self.matrix.choice(index)), _touched(self))


def check_run_count(count: int, file: str, what: str = "the run matrix") -> None:
    """Refuse to build more runs at once than the ``runs`` limit allows."""
    if count > limit("runs"):
        raise RecipeError(over_limit_message("runs", f"the number of runs in {what}", count)
                          + "; robustperf expand --count counts any matrix, and run --index builds one run",
                          file=file)


# ---------------------------------------------------------------- YAML with line numbers

#: libyaml's parser when PyYAML was built with it: 10-50x faster on large recipes, and it refuses nesting deeper
#: than 1000 levels at once (the pure-Python scanner slows down quadratically with depth, 10 s at 2000).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: nesting depth refused by the pure-Python fallback (libyaml's own limit is 1000)
MAX_YAML_DEPTH = 200


class RecipeLoader(_SAFE_LOADER):  # type: ignore[misc,valid-type]
    """Safe YAML loader whose implicit float rule is YAML 1.2's: ``1e-3`` and ``5e-4`` are numbers.

    YAML 1.1 (PyYAML's default) wants a dot and a signed exponent (``1.0e-3``) and reads ``1e-3`` as a string,
    so ``lr: 1e-3`` failed the number check. Only the float resolver differs; the class keeps its own copy of
    the resolver table, leaving ``yaml.SafeLoader`` untouched.
    """

    _depth = 0

    def compose_node(self, parent, index):  # the pure-Python composer only; libyaml limits depth itself
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise RecipeError(f"nested deeper than {MAX_YAML_DEPTH} levels",
                                  line=self.peek_event().start_mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


RecipeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


def _children(node: yaml.Node) -> List[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expansion(root: yaml.Node, bound: int) -> None:
    """Refuse a node graph that expands (aliases followed) to more than ``bound`` nodes, or refers to itself.

    YAML aliases let a few hundred bytes stand for billions of nodes ("billion laughs"); every walk over the
    parsed recipe would follow them. Sizes are memoised per node, so the check itself costs one pass over the
    distinct nodes, iteratively (no recursion limit).
    """
    size: Dict[int, int] = {}
    on_path: set = set()
    stack: List[Tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            on_path.discard(key)
            total = 1 + sum(size[id(child)] for child in _children(node))
            if total > bound:
                raise RecipeError(over_limit_message("yaml_nodes", "the number of YAML nodes with aliases expanded",
                                                     total) + "; nested aliases (&a, *a) repeat text many times",
                                  line=node.start_mark.line + 1)
            size[key] = total
            continue
        if key in size:
            continue
        if key in on_path:
            raise RecipeError("a YAML alias refers to a node containing itself", line=node.start_mark.line + 1)
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                raise RecipeError("a YAML alias refers to a node containing itself",
                                  line=child.start_mark.line + 1)
            if id(child) not in size:
                stack.append((child, False))


def _line_map(node: yaml.Node, prefix: str = "", out: Optional[Dict[str, int]] = None) -> Dict[str, int]:
    """Map dotted key paths to 1-based lines; duplicate keys are an error (safe_load keeps the last silently).

    Call after :func:`_check_expansion`: aliased nodes are walked once per path that reaches them.
    """
    out = {} if out is None else out
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
            path = f"{prefix}.{key}" if prefix else key
            if key in seen:
                raise RecipeError("duplicate key", key=path, line=key_node.start_mark.line + 1)
            seen.add(key)
            out.setdefault(path, key_node.start_mark.line + 1)
            _line_map(value_node, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.setdefault(f"{prefix}[{i}]", item.start_mark.line + 1)
            _line_map(item, f"{prefix}[{i}]", out)
    return out


def parse_yaml(text: str, file: str) -> Tuple[Any, Dict[str, int]]:
    """Parse YAML safely; any parser failure (syntax, unsafe tag, absurd nesting, alias bombs) is a RecipeError.

    Returns the data and a map of dotted key paths to their lines.
    """
    if len(text) > limit("recipe_bytes"):
        raise RecipeError(over_limit_message("recipe_bytes", "the size of the YAML text in bytes", len(text)),
                          file=file)
    loader = RecipeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        if "&" in text:  # without an anchor there is no alias: the graph is a tree no bigger than the text
            _check_expansion(node, limit("yaml_nodes"))
        lines = _line_map(node)
        data = loader.construct_document(node)
    except RecipeError as err:
        raise err.located(file=file) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise RecipeError(f"not valid YAML: {err.problem or err}", file=file,
                          line=mark.line + 1 if mark else None) from None
    except RecursionError:
        raise RecipeError("not valid YAML: nested too deeply", file=file) from None
    # The parser is third-party code fed arbitrary user text: whatever else it raises (ValueError on
    # impossible timestamps, ...) is still the user's file at fault.
    except Exception as err:  # noqa: BLE001
        raise RecipeError(f"not valid YAML ({type(err).__name__}: {err})", file=file) from None
    finally:
        loader.dispose()
    return data, lines


# ---------------------------------------------------------------- loading

def load_recipe(path: str, overrides: Sequence[str] = ()) -> Recipe:
    """Read, validate and return the recipe at ``path`` with ``--set KEY=VALUE`` overrides applied.

    Raises:
        RecipeError: naming the file, key path, line, value and what is allowed, for any mistake.
    """
    file = str(path)
    try:
        with open(file, "rb") as fh:
            raw = fh.read()
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
    repeats = top_sets.get("repeats", data.get("repeats", 1))
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
    search = None
    if data.get("search") is not None:
        from .search import parse_search

        search = parse_search(data["search"], file, lines)
    recipe = Recipe(name=name, path=file, base=base, axes=axes, repeats=repeats, exclude=exclude, launch=launch,
                    overrides=tuple(overrides), search=search, _post=post)
    # Validate the base (with overrides) as a run once, so a broken default is reported as the base's fault.
    try:
        check_run(_apply(_copy_cfg(base), post), file=file)
    except RecipeError as err:
        if post and _passes(base, file):  # the base alone is fine: the --set values broke it
            raise RecipeError(err.message, file=SET_SOURCE, key=err.key, value=err.value,
                              allowed=err.allowed) from None
        raise
    check_names(base, axes, post, file, lines, SET_SOURCE)
    recipe.matrix  # noqa: B018 - sorts the axes and excludes now, so their mistakes surface at load time
    return recipe


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
    sub = {k[len("base."):]: v for k, v in lines.items() if k.startswith("base.")}
    for key in raw:
        if key != "seed" and key not in SECTIONS:
            hint = nearest(str(key), ["seed", *SECTIONS])
            raise RecipeError("unknown section" + (f" (did you mean '{hint}'?)" if hint else ""), file=file,
                              key=f"base.{key}", allowed=["seed", *SECTIONS], line=lines.get(f"base.{key}"))
    cfg: Dict[str, Any] = {"seed": validate_value("seed", raw.get("seed", 0), _SEED_FIELD, file)}
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
        return (("seed", None, validate_value("seed", value, _SEED_FIELD, file)),)
    section, _, key = path.partition(".")
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
        if key in ("name", "repeats"):
            top[key] = value
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


# ---------------------------------------------------------------- expansion

def _copy_cfg(cfg: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}


def run_name(cfg: Dict[str, Any]) -> str:
    """Readable name of a run, e.g. ``wrn-28-10_relu_at_pgd5_e100_syn0_s0`` (not unique; the run_id is).

    The part after the method is the method's own (``schema.TRAINING_METHODS.name_part``): ``pgd{steps}`` for the
    PGD-trained methods, ``fgsm`` for fgsm_rs, ``free-m{steps}`` for free, none for standard. Names are not part
    of the run's identity: changing them never changes a run_id.
    """
    model, training = cfg["model"], cfg["training"]
    # The family's name: the arch, then the values of the keys its schema fields mark as name parts (wrn-28-10).
    parts = [str(model[k]) for k, spec in section_fields("model").items()
             if spec.get("name_part") and (spec.get("family") is None or model["arch"] in spec["family"])]
    arch = "-".join([model["arch"], *parts])
    ema = "_ema" if training["ema_decay"] else ""
    ema += "_awp" if training.get("awp_gamma") else ""
    syn = int(round(cfg["data"]["synthetic_fraction"] * 100))
    attack = TRAINING_METHODS.name_part(training["loss"], cfg)
    attack = f"_{attack}" if attack else ""
    return (f"{arch}_{model['activation']}_{training['loss']}{attack}_e{training['epochs']}"
            f"{ema}_syn{syn}_s{cfg['seed']}")


def identity_json(cfg: Dict[str, Any]) -> str:
    """Canonical sorted-key JSON of the parts of a config that define the run (:func:`schema.identity_of`)."""
    return _JSON.encode(identity_of(cfg))


def run_id_of(cfg: Dict[str, Any]) -> str:
    """Stable 12-hex-digit id of a resolved config: same config, same id, on every machine."""
    return hashlib.sha256(identity_json(cfg).encode("ascii")).hexdigest()[:12]


def _touched(recipe: Recipe) -> set:
    """Sections any axis or override patches (the others are serialised once per expansion), and the sections
    whose id keys depend on a patched section's values (``attack.steps`` is read by some methods only)."""
    touched = {section for _, patches in recipe.axes for patch in patches for section, _, _ in patch}
    touched |= {section for section, _, _ in recipe._post} | {"seed"}
    return touched | {k for k in IDENTITY_SECTIONS if any(s in touched for s, _ in controllers(k))}


#: the run id's top-level keys, in the sorted order of the canonical JSON
_ID_TOP = tuple(sorted(("seed",) + IDENTITY_SECTIONS))


def _identity_part(cfg: Dict[str, Any], k: str) -> str:
    """Canonical JSON of one top-level part of the identity (as in :func:`identity_json`)."""
    if k == "seed":
        return _JSON.encode(cfg[k])
    section = cfg[k]
    return _JSON.encode({name: section[name] for name in run_identity_keys(k, cfg) if name in section})


def _cached_identity_part(cfg: Dict[str, Any], k: str, cache: Dict[Any, str]) -> str:
    """:func:`_identity_part`, memoised by the section's identity values (and their types: 1 == 1.0 == True) and
    the values that decide which of them the run reads (``training.loss``, ``model.arch``, ...)."""
    if k == "seed":
        return _JSON.encode(cfg[k])
    section = cfg[k]
    getter = _GETTERS.get(k)
    if getter is None:
        names = identity_keys(k)
        getter = _GETTERS[k] = (itemgetter(*names) if len(names) > 1 else lambda d: (d[names[0]],),
                                tuple(controllers(k)))
    try:
        values = getter[0](section)
        key = (k, values, tuple(map(type, values)), tuple(cfg[s][c] for s, c in getter[1]))
        part = cache.get(key)
    except (KeyError, TypeError):  # a key left out, or an unhashable value (a list): encode it every time
        return _identity_part(cfg, k)
    if part is None:
        if len(cache) >= _PART_CACHE_SIZE:  # bounded memory on matrices whose sections rarely repeat
            cache.clear()
        part = cache[key] = _identity_part(cfg, k)
    return part


_GETTERS: Dict[str, Any] = {}
_PART_CACHE_SIZE = 4096


_ABSENT = object()


def _spec(recipe: Recipe, index: int, cfg: Dict[str, Any], touched: set,
          base_json: Optional[Dict[str, str]] = None, cache: Optional[Dict[Any, str]] = None) -> RunSpec:
    parts = []
    for k in _ID_TOP:
        cached = base_json.get(k) if (base_json is not None and k not in touched) else None
        if cached is None:
            cached = _identity_part(cfg, k) if cache is None else _cached_identity_part(cfg, k, cache)
        parts.append(f'"{k}":' + cached)
    run_id = hashlib.sha256(("{" + ",".join(parts) + "}").encode("ascii")).hexdigest()[:12]
    try:
        check_run(cfg, file=recipe.path)
    except RecipeError as err:
        raise RecipeError(f"run {index} ({run_name(cfg)}): {err.message}", file=recipe.path,
                          key=err.key, value=err.value, allowed=err.allowed) from None
    return RunSpec(index, run_id, run_name(cfg), cfg)


def expand_iter(recipe: Recipe) -> Iterator[RunSpec]:
    """The runs of ``recipe`` one at a time (no size limit: the caller decides how many to take)."""
    matrix = recipe.matrix
    touched = _touched(recipe)
    base_json = {k: _identity_part(recipe.base, k) for k in _ID_TOP}
    cache: Dict[Any, str] = {}  # a section's JSON by its values: axes repeat each value across many runs
    for index, choice in enumerate(matrix):
        yield _spec(recipe, index, matrix.config(choice), touched, base_json, cache)


def expand(recipe: Recipe) -> List[RunSpec]:
    """The run matrix of ``recipe``: grid product x repeats, overrides applied, excludes and duplicates dropped.

    Runs are ordered as the axes are written (first axis outermost), then by repeat. See :mod:`recipes.matrix`
    for how duplicates and excludes are handled without building the product.
    """
    return recipe.runs()
