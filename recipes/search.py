"""The recipe's ``search:`` section: a multi-objective hyper-parameter search run by ``robustperf tune``.

::

    search:
      trials: 40                 # runs in all
      startup_trials: 10         # random trials before TPE models the results
      seed: 0                    # of the sampler
      objectives: {accuracy.clean: max, accuracy.autoattack: max, timing.train_seconds: min}
      space:
        training.lr: {log_uniform: [1.0e-4, 1.0]}
        data.batch_size: {int_log_uniform: [16, 1024]}
        training.epochs: {int: [1, 50]}
        training.loss: {choice: [at, trades]}

Every trial is one run of the recipe's ``base`` with the sampled values (the ``grid`` is for ``launch``). Space
keys are run-config paths; bounds and choices are validated like the key's own values, so a space can only
produce valid runs. Objective names are record fields (checked against the record schema by the tuner).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from .errors import RecipeError, nearest
from .moved import moved

SEARCH_KEYS = ("trials", "startup_trials", "seed", "objectives", "space")
DIRECTIONS = {"max": "maximize", "min": "minimize", "maximize": "maximize", "minimize": "minimize"}
KINDS = ("log_uniform", "int_log_uniform", "uniform", "int", "choice")
#: The paper's start-up trials (Meyers et al., Fig. 1: 128 random trials before TPE).
DEFAULT_STARTUP_TRIALS = 10
MAX_TRIALS = 100_000


@dataclass(frozen=True)
class Dimension:
    """One searched key: ``kind`` in :data:`KINDS`, ``low``/``high`` for ranges, ``choices`` for choice."""

    path: str
    kind: str
    low: Any = None
    high: Any = None
    choices: Tuple[Any, ...] = ()

    def to_json(self) -> Dict[str, Any]:
        return {self.kind: list(self.choices) if self.kind == "choice" else [self.low, self.high]}


@dataclass(frozen=True)
class SearchSpec:
    trials: int
    startup_trials: int
    seed: int
    objectives: Tuple[Tuple[str, str], ...]  # (record field, "maximize" | "minimize")
    space: Tuple[Dimension, ...] = field(default_factory=tuple)

    @property
    def directions(self) -> List[str]:
        return [d for _, d in self.objectives]

    @property
    def objective_names(self) -> List[str]:
        return [n for n, _ in self.objectives]


def parse_search(raw: Any, file: str, lines: Optional[Dict[str, int]] = None) -> SearchSpec:
    """Validate a ``search:`` mapping; RecipeError names the file, line, key and value of any mistake."""
    from .schema import all_paths, validate_value

    lines = lines or {}

    def check(path: str, value: Any, where: str) -> Any:
        # a bound or choice must be a valid value of its key; the error names the search entry and the key
        try:
            return validate_value(path, value, paths[path], file)
        except RecipeError as error:
            raise err(f"{error.message} (as a value of {path})", where, value) from None

    def err(message: str, key: str, value: Any = None, allowed=None):
        return RecipeError(message, file=file, key=key, value=value, allowed=allowed, line=lines.get(key))

    if not isinstance(raw, dict):
        raise err("search must be a mapping with keys " + ", ".join(SEARCH_KEYS), "search", raw)
    for key in raw:
        if key not in SEARCH_KEYS:
            hint = nearest(str(key), SEARCH_KEYS)
            raise err("unknown key" + (f" (did you mean 'search.{hint}'?)" if hint else ""), f"search.{key}",
                      allowed=SEARCH_KEYS)

    def integer(key: str, default: Any, lo: int) -> int:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= MAX_TRIALS:
            raise err(f"expected an integer from {lo} to {MAX_TRIALS}", f"search.{key}", value)
        return value

    if "trials" not in raw:
        raise err("search needs trials (how many runs in all)", "search.trials")
    trials = integer("trials", None, 1)
    startup = integer("startup_trials", DEFAULT_STARTUP_TRIALS, 0)
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise err("expected an integer seed >= 0", "search.seed", seed)

    objectives_raw = raw.get("objectives")
    if not isinstance(objectives_raw, dict) or not objectives_raw:
        raise err("objectives must map record fields to max or min, e.g. {accuracy.clean: max}",
                  "search.objectives", objectives_raw)
    objectives = []
    for name, direction in objectives_raw.items():
        where = f"search.objectives.{name}"
        if not isinstance(name, str) or not name or any(not part for part in name.split(".")):
            raise err("an objective is a record field such as accuracy.clean", where, name)
        if not isinstance(direction, str) or direction not in DIRECTIONS:
            raise err("direction must be max or min", where, direction, allowed=("max", "min"))
        objectives.append((name, DIRECTIONS[direction]))

    space_raw = raw.get("space")
    if not isinstance(space_raw, dict) or not space_raw:
        raise err("space must map run-config keys to a distribution, e.g. training.lr: {log_uniform: [1e-4, 1]}",
                  "search.space", space_raw)
    paths = all_paths()
    dims = []
    for path, spec in space_raw.items():
        where = f"search.space.{path}"
        if not isinstance(path, str) or path not in paths or "." not in path:
            move = moved(path) if isinstance(path, str) else None
            hint = move.new if move is not None else nearest(str(path), [p for p in paths if "." in p])
            raise err("not a run-config key" + (f" (did you mean '{hint}'?)" if hint else ""), where,
                      allowed=None)
        if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in KINDS:
            raise err("expected one distribution: {log_uniform|int_log_uniform|uniform|int: [low, high]} or "
                      "{choice: [values]}", where, spec, allowed=KINDS)
        kind, values = next(iter(spec.items()))
        if kind == "choice":
            if not isinstance(values, list) or not values:
                raise err("choice needs a non-empty list of values", f"{where}.choice", values)
            checked = []
            for value in values:
                ok = check(path, value, f"{where}.choice")
                if ok in checked:
                    raise err("a choice is listed twice", f"{where}.choice", value)
                if not (ok is None or isinstance(ok, (str, int, float, bool))):
                    raise err("choices must be plain values (numbers, strings, booleans, null)", f"{where}.choice",
                              value)
                checked.append(ok)
            dims.append(Dimension(path, kind, choices=tuple(checked)))
            continue
        if not isinstance(values, list) or len(values) != 2:
            raise err(f"{kind} needs [low, high]", f"{where}.{kind}", values)
        lo, hi = (check(path, v, f"{where}.{kind}") for v in values)
        integer_kind = kind in ("int", "int_log_uniform")
        if integer_kind and not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)):
            raise err(f"{kind} bounds must be integers (and {path} an integer key)", f"{where}.{kind}", values)
        if not integer_kind and not all(isinstance(v, float) for v in (lo, hi)):
            raise err(f"{kind} needs a numeric key; {path} is not a real number", f"{where}.{kind}", values)
        if not lo < hi:
            raise err("expected low < high", f"{where}.{kind}", values)
        if kind in ("log_uniform", "int_log_uniform") and lo <= 0:
            raise err("a log scale needs low > 0", f"{where}.{kind}", values)
        if not integer_kind and not (math.isfinite(lo) and math.isfinite(hi)):
            raise err("bounds must be finite", f"{where}.{kind}", values)
        dims.append(Dimension(path, kind, lo, hi))
    return SearchSpec(trials, startup, seed, tuple(objectives), tuple(dims))
