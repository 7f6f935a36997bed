"""Load a recipe file and expand it into the run matrix.

A recipe is YAML with the top-level keys ``name``, ``base`` (defaults of every run), ``grid`` (axes whose
Cartesian product is the matrix), ``repeats`` (seeds ``seed .. seed+repeats-1``), ``exclude`` (partial configs
to drop) and ``launch`` (how to submit; never part of a run's identity). YAML is read in this module only,
with ``yaml.safe_load`` semantics.

Expansion is a pure function of the recipe: each run gets its matrix ``index`` (the order the axes are
written in), a ``run_id`` (the first 12 hex digits of the SHA-256 of the canonical resolved config, sorted-key
JSON, ``tracking`` left out) and a readable ``name``.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from .errors import RecipeError, nearest
from .schema import (IDENTITY_EXCLUDED, SECTIONS, LaunchConfig, RunConfig, _SEED_FIELD, all_paths, check_run,
                     section_fields, validate_section, validate_value)

TOP_LEVEL_KEYS = ("name", "base", "grid", "repeats", "exclude", "launch")
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
    _post: Patch = ()
    _runs: Optional[List[RunSpec]] = field(default=None, repr=False)

    def runs(self) -> List[RunSpec]:
        """The run matrix (computed once)."""
        if self._runs is None:
            self._runs = expand(self)
        return self._runs

    def run(self, index: int) -> RunSpec:
        runs = self.runs()
        if not 0 <= index < len(runs):
            raise RecipeError(f"no run with index {index}: the matrix has {len(runs)} runs (0..{len(runs) - 1})",
                              file=self.path, key="--index", value=index)
        return runs[index]


# ---------------------------------------------------------------- YAML with line numbers

def _line_map(node: yaml.Node, prefix: str = "", out: Optional[Dict[str, int]] = None) -> Dict[str, int]:
    """Map dotted key paths to 1-based lines; duplicate keys are an error (safe_load keeps the last silently)."""
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
    """Parse YAML safely; any parser failure (syntax, unsafe tag, absurd nesting) becomes a RecipeError."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines = _line_map(node) if node is not None else {}
        data = yaml.safe_load(text)
    except RecipeError as err:
        raise err.located(file=file) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise RecipeError(f"not valid YAML: {err.problem or err}", file=file,
                          line=mark.line + 1 if mark else None) from None
    # The parser is third-party code fed arbitrary user text: whatever else it raises (RecursionError on
    # deep nesting, ValueError on impossible timestamps, ...) is still the user's file at fault.
    except Exception as err:  # noqa: BLE001
        raise RecipeError(f"not valid YAML ({type(err).__name__}: {err})", file=file) from None
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
    data.update(top_sets)
    for key in data:
        if not isinstance(key, str) or key not in TOP_LEVEL_KEYS:
            hint = nearest(str(key), TOP_LEVEL_KEYS)
            raise RecipeError("unknown top-level key" + (f" (did you mean '{hint}'?)" if hint else ""), file=file,
                              key=str(key), allowed=TOP_LEVEL_KEYS, line=lines.get(str(key)))
    default_name = os.path.splitext(os.path.basename(file))[0] if not file.startswith("<") else "recipe"
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name.strip() or any(ord(c) < 32 for c in name):
        raise RecipeError("name must be a non-empty string on one line", file=file, key="name", value=name,
                          line=lines.get("name"))
    base = _parse_base(data.get("base"), file, lines)
    axes = _parse_grid(data.get("grid"), file, lines)
    repeats = data.get("repeats", 1)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise RecipeError("repeats must be an integer >= 1", file=file, key="repeats", value=repeats,
                          line=lines.get("repeats"))
    exclude_raw = data.get("exclude")
    exclude_raw = [] if exclude_raw is None else exclude_raw
    if not isinstance(exclude_raw, list):
        raise RecipeError("exclude must be a list of partial run configs", file=file, key="exclude",
                          value=_short(exclude_raw), line=lines.get("exclude"))
    exclude = [_parse_partial(item, "", file, lines, f"exclude[{i}]") for i, item in enumerate(exclude_raw)]
    launch_raw = data.get("launch")
    launch_raw = {} if launch_raw is None else launch_raw
    launch = LaunchConfig(**validate_section("launch", launch_raw, file=file, lines=lines))
    post = tuple(p for key, value in run_sets for p in _parse_assignment(key, value, SET_SOURCE, {}, key))
    recipe = Recipe(name=name, path=file, base=base, axes=axes, repeats=repeats, exclude=exclude, launch=launch,
                    overrides=tuple(overrides), _post=post)
    # Validate the base (with overrides) as a run once, so a broken default is reported as the base's fault.
    check_run(_apply(_copy_cfg(base), post), file=file)
    return recipe


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
        elif key == "launch" or key.startswith("launch."):
            launch = top.setdefault("launch", {})
            sub = key[len("launch."):]
            if sub:
                launch[sub] = value
            elif isinstance(value, dict):
                launch.update(value)
            else:
                raise RecipeError("launch must be set to a mapping", file=SET_SOURCE, key=key, value=value)
        else:
            runs.append((key, value))
    return top, runs


# ---------------------------------------------------------------- expansion

def _copy_cfg(cfg: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (dict(v) if isinstance(v, dict) else v) for k, v in cfg.items()}


def _apply(cfg: Dict[str, Any], patch: Patch) -> Dict[str, Any]:
    for section, key, value in patch:
        if key is None:
            cfg[section] = value
        else:
            cfg[section][key] = value
    return cfg


def _matches(cfg: Dict[str, Any], patch: Patch) -> bool:
    for section, key, value in patch:
        have = cfg[section] if key is None else cfg[section][key]
        if have != value:
            return False
    return True


def run_name(cfg: Dict[str, Any]) -> str:
    """Readable name of a run, e.g. ``wrn-28-10_relu_at_pgd5_e100_syn0_s0`` (not unique; the run_id is)."""
    model, training = cfg["model"], cfg["training"]
    arch = f"wrn-{model['depth']}-{model['width']}" if model["arch"] == "wrn" else model["arch"]
    ema = "_ema" if training["ema_decay"] else ""
    syn = int(round(cfg["data"]["synthetic_fraction"] * 100))
    return (f"{arch}_{model['activation']}_{training['loss']}_pgd{cfg['attack']['steps']}_e{training['epochs']}"
            f"{ema}_syn{syn}_s{cfg['seed']}")


def identity_json(cfg: Dict[str, Any]) -> str:
    """Canonical sorted-key JSON of the parts of a config that define the run."""
    return _JSON.encode({k: v for k, v in cfg.items() if k not in IDENTITY_EXCLUDED})


def run_id_of(cfg: Dict[str, Any]) -> str:
    """Stable 12-hex-digit id of a resolved config: same config, same id, on every machine."""
    return hashlib.sha256(identity_json(cfg).encode("ascii")).hexdigest()[:12]


def expand(recipe: Recipe) -> List[RunSpec]:
    """The run matrix of ``recipe``: grid product x repeats, overrides applied, excludes and duplicates dropped.

    Runs are ordered as the axes are written (first axis outermost), then by repeat.
    """
    base = recipe.base
    keys = sorted(k for k in base if k not in IDENTITY_EXCLUDED)
    # Sections untouched by a run are serialised once; only patched sections are re-encoded per run.
    base_json = {k: _JSON.encode(base[k]) for k in keys}
    runs: List[RunSpec] = []
    seen = set()
    patch_lists = [patches for _, patches in recipe.axes]
    post_touched = {section for section, _, _ in recipe._post}
    for combo in itertools.product(*patch_lists):
        cfg = _copy_cfg(base)
        touched = set()
        for patch in combo:
            _apply(cfg, patch)
            touched.update(section for section, _, _ in patch)
        _apply(cfg, recipe._post)
        touched |= post_touched
        seed0 = cfg["seed"]
        for repeat in range(recipe.repeats):
            run_cfg = cfg if repeat == recipe.repeats - 1 else _copy_cfg(cfg)
            run_cfg["seed"] = seed0 + repeat
            if any(_matches(run_cfg, ex) for ex in recipe.exclude):
                continue
            parts = []
            for k in keys:
                parts.append(f'"{k}":' + (_JSON.encode(run_cfg[k]) if (k in touched or k == "seed")
                                          else base_json[k]))
            ident = "{" + ",".join(parts) + "}"
            run_id = hashlib.sha256(ident.encode("ascii")).hexdigest()[:12]
            if run_id in seen:
                continue
            seen.add(run_id)
            try:
                check_run(run_cfg, file=recipe.path)
            except RecipeError as err:
                raise RecipeError(f"run {len(runs)} ({run_name(run_cfg)}): {err.message}", file=recipe.path,
                                  key=err.key, value=err.value, allowed=err.allowed) from None
            runs.append(RunSpec(len(runs), run_id, run_name(run_cfg), run_cfg))
    return runs
