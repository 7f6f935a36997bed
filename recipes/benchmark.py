"""Benchmark definitions: data (one YAML file per benchmark), validated into a frozen :class:`Benchmark`.

A benchmark fixes what a result is measured on and how: the dataset, the threat model (norm, eps), the quality
target and the per-epoch check on held-out training images that measures it (never the test set), the
confirmation of the checkpoint that reached the target on the test set (AutoAttack), the runs per result and how
they are scored, and the rules of its two divisions, as MLPerf Training's benchmarks do:

* **closed**: the benchmark's reference model and its dataset with no extra or synthetic data; the training method
  and hyper-parameters are free within the documented ``bounds``;
* **open**: anything else (other models, extra or synthetic data, pre-training), declared in the run's config.

Both divisions keep the *protocol* fixed: the dataset, the threat model and the check (``training.select_*``);
:meth:`Benchmark.rules` lists every governed key with the rule that governs it, and :mod:`recipes.divisions`
applies them to a recipe. The built-in definitions live in ``recipes/benchmarks/<id>.yaml`` and are registered as
plug-ins of kind ``benchmarks`` (:class:`recipes.entries.BenchmarkEntry`), so another package adds a benchmark as
it adds a method.
"""
from __future__ import annotations

import importlib.resources
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple

from . import catalog
from .checks import check_autoattack
from .errors import RecipeError, nearest
from .fields import parse_fraction, validate_value
from .loading import parse_yaml
from .schema import all_paths

__all__ = ["Benchmark", "Bound", "Check", "Confirmation", "Division", "Rule", "DIVISIONS", "METRICS", "SCORING_DROPS",
           "get_benchmark", "read_benchmark", "benchmark_from_dict"]

#: The divisions of every benchmark.
DIVISIONS = ("closed", "open")
#: Quality metrics of the per-epoch check -> the per-epoch metrics (metrics.jsonl) key that holds it.
METRICS: Mapping[str, str] = {"robust_accuracy": "pgd_subset", "clean_accuracy": "clean_subset"}
#: What olympic scoring may drop from a result's runs, ordered by time to target.
SCORING_DROPS = ("fastest", "slowest")
_TOP = ("id", "title", "dataset", "threat_model", "quality", "confirmation", "repeats", "scoring", "divisions")
#: Sections a division may not govern: the seed differs between a result's runs; the benchmark section is the rule.
_UNGOVERNED = ("seed", "benchmark")


@dataclass(frozen=True)
class Check:
    """The per-epoch check that measures the target: ``attack`` with ``steps`` of ``step_size`` (null: the
    check's default 2.5 eps / steps) on the first ``subset`` of ``val_size`` held-out training images."""

    attack: str
    steps: int
    step_size: Optional[float]
    val_size: int
    subset: int


@dataclass(frozen=True)
class Confirmation:
    """How the target checkpoint is confirmed on the test set: AutoAttack ``autoattack`` (a version or a tuple of
    attacks) on the first ``n`` test points; confirmed when robust accuracy >= target - ``tolerance`` (points)."""

    autoattack: Any
    n: int
    tolerance: float


@dataclass(frozen=True)
class Bound:
    """A closed-division bound of a key: ``min`` <= value <= ``max``, or one of ``choices``."""

    min: Optional[float] = None
    max: Optional[float] = None
    choices: Optional[Tuple[Any, ...]] = None

    def allows(self, value: Any) -> bool:
        if self.choices is not None:
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def text(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        lo = "" if self.min is None else f"{self.min:g}"
        hi = "" if self.max is None else f"{self.max:g}"
        return f">= {lo}" if not hi else (f"<= {hi}" if not lo else f"{lo}..{hi}")


@dataclass(frozen=True)
class Division:
    """One division's own rules (the protocol's keys come on top, :meth:`Benchmark.rules`)."""

    name: str
    fixed: Mapping[str, Any] = field(default_factory=dict)
    bounds: Mapping[str, Bound] = field(default_factory=dict)


@dataclass(frozen=True)
class Rule:
    """The rule that governs one key: it is ``fixed`` to ``value``, or ``bound`` to ``bound``; ``why`` says by what."""

    path: str
    kind: str
    value: Any = None
    bound: Optional[Bound] = None
    why: str = ""

    def allows(self, value: Any) -> bool:
        return _same(value, self.value) if self.kind == "fixed" else self.bound.allows(value)

    def message(self, benchmark: str, division: str) -> str:
        """``closed division of cifar10-linf-8 fixes model.depth to 28 (the reference model)``."""
        if self.kind == "fixed":
            return f"{division} division of {benchmark} fixes {self.path} to {self.value!r} ({self.why})"
        return f"{division} division of {benchmark} bounds {self.path} to {self.bound.text()} ({self.why})"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(b)))
        except (TypeError, ValueError):
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b and type(a) is type(b) or (a is None and b is None)


@dataclass(frozen=True)
class Benchmark:
    """A validated benchmark definition (read with :func:`get_benchmark`)."""

    id: str
    title: str
    dataset: str
    norm: str
    eps: float
    metric: str
    target: float
    check: Check
    confirmation: Confirmation
    repeats: int
    drop: Tuple[str, ...]
    max_missed: int
    divisions: Mapping[str, Division]
    file: str = ""

    def protocol(self) -> Dict[str, Tuple[Any, str]]:
        """``{path: (value, why)}``: the keys every division fixes (dataset, threat model, the target's check)."""
        c = self.check
        out = {"data.name": (self.dataset, "the benchmark's dataset"),
               "attack.norm": (self.norm, "the threat model"), "attack.eps": (self.eps, "the threat model")}
        why = "the check that measures the target, on held-out training images"
        for path, value in (("training.select_on", "validation"), ("training.val_size", c.val_size),
                            ("training.select_subset", c.subset), ("training.select_attack", c.attack),
                            ("training.select_pgd_steps", c.steps), ("training.select_pgd_step_size", c.step_size)):
            out[path] = (value, why)
        return out

    def rules(self, division: str) -> Dict[str, Rule]:
        """Every key ``division`` governs, with its rule: the protocol, the division's fixed keys and bounds, and
        ``tracking.submission_division`` (the log declares the division)."""
        if division not in self.divisions:
            raise RecipeError(f"benchmark {self.id} has no division {division!r}", key="division", value=division,
                              allowed=tuple(self.divisions))
        own = self.divisions[division]
        out = {p: Rule(p, "fixed", v, why=why) for p, (v, why) in self.protocol().items()}
        out["tracking.submission_division"] = Rule("tracking.submission_division", "fixed", division,
                                                   why="the division the recipe declares")
        what = "the reference model, no extra data" if division == "closed" else "the division's rule"
        out.update({p: Rule(p, "fixed", v, why=what) for p, v in own.fixed.items()})
        out.update({p: Rule(p, "bound", bound=b, why="the closed division's documented bounds")
                    for p, b in own.bounds.items()})
        return out

    def describe(self) -> Dict[str, Any]:
        """The definition as JSON-able facts (``robustperf benchmarks --json``)."""
        aa = self.confirmation.autoattack
        return {"id": self.id, "title": self.title, "dataset": self.dataset,
                "threat_model": {"norm": self.norm, "eps": self.eps},
                "quality": {"metric": self.metric, "target": self.target, "check": vars(self.check).copy()},
                "confirmation": {"autoattack": list(aa) if isinstance(aa, tuple) else aa, "n": self.confirmation.n,
                                 "tolerance": self.confirmation.tolerance},
                "repeats": self.repeats, "scoring": {"drop": list(self.drop), "max_missed": self.max_missed},
                "divisions": {name: {"fixed": dict(d.fixed),
                                     "bounds": {p: {k: (list(v) if isinstance(v, tuple) else v)
                                                    for k, v in vars(b).items() if v is not None}
                                                for p, b in d.bounds.items()}}
                              for name, d in self.divisions.items()},
                "file": self.file}


# ---------------------------------------------------------------- reading and validation

def get_benchmark(name: Any, *, file: Optional[str] = None, key: str = "benchmark") -> Benchmark:
    """The benchmark ``name`` of the catalog, read and validated once.

    Raises:
        RecipeError: no benchmark of that name (naming ``file`` and ``key``, with near matches), or its definition
            is invalid (naming the definition's file and key).
    """
    entry = catalog.find("benchmarks", name)
    if entry is None:
        valid = catalog.names("benchmarks")
        hint = nearest(str(name), valid)
        raise RecipeError("no such benchmark" + (f" (did you mean '{hint}'?)" if hint else "")
                          + "; robustperf benchmarks lists them", file=file, key=key, value=name, allowed=valid)
    return entry.load()


def read_benchmark(entry: Any) -> Benchmark:
    """Read and validate the YAML resource ``"package:file.yaml"`` an entry names (:class:`BenchmarkEntry`)."""
    package, _, name = str(entry.impl).partition(":")
    try:
        resource = importlib.resources.files(package).joinpath(name)
        text = resource.read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError, IsADirectoryError, NotADirectoryError, OSError,
            UnicodeDecodeError) as err:
        raise RecipeError(f"benchmark {entry.name!r}: cannot read its definition {entry.impl} "
                          f"({type(err).__name__}: {err})") from None
    where = str(resource) if os.path.exists(str(resource)) else str(entry.impl)
    data, lines = parse_yaml(text, where)
    bench = benchmark_from_dict(data, file=where, lines=lines)
    if bench.id != entry.name:
        raise RecipeError(f"the definition's id differs from its catalog name {entry.name!r}", file=where, key="id",
                          value=bench.id, line=lines.get("id"))
    return bench


def benchmark_from_dict(data: Any, *, file: str = "<benchmark>", lines: Optional[Dict[str, int]] = None
                        ) -> Benchmark:
    """Validate a parsed benchmark definition (see the module docstring and ``recipes/benchmarks/*.yaml``)."""
    lines = lines or {}

    def fail(message: str, key: str, value: Any = RecipeError._MISSING, allowed=None) -> RecipeError:
        return RecipeError(message, file=file, key=key, value=value, allowed=allowed, line=lines.get(key))

    def mapping(value: Any, key: str, keys: Optional[Tuple[str, ...]], required: Tuple[str, ...] = ()
                ) -> Dict[str, Any]:
        if not isinstance(value, dict):
            raise fail("expected a mapping", key, value if not isinstance(value, (list, dict)) else type(value).__name__)
        for k in value if keys is not None else ():
            if k not in keys:
                hint = nearest(str(k), keys)
                raise fail("unknown key" + (f" (did you mean '{hint}'?)" if hint else ""), f"{key}.{k}".lstrip("."),
                           allowed=keys)
        for k in required:
            if k not in value:
                raise fail("missing", f"{key}.{k}".lstrip("."), allowed=None)
        return value

    def number(value: Any, key: str, *, lo: float, hi: float = float("inf"), integer: bool = False) -> Any:
        value = parse_fraction(value)
        ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float)) and lo <= value <= hi
        if not ok:
            kind = "an integer" if integer else "a number"
            raise fail(f"expected {kind} in [{lo:g}, {hi:g}]", key, value)
        return int(value) if integer else float(value)

    def run_key(path: str, value: Any, key: str) -> Any:
        paths = all_paths()
        if not isinstance(path, str) or path not in paths or path.split(".")[0] in _UNGOVERNED:
            hint = nearest(str(path), [p for p in paths if p.split(".")[0] not in _UNGOVERNED])
            raise fail("not a run key a division can govern" + (f" (did you mean '{hint}'?)" if hint else ""), key)
        try:
            return validate_value(path, value, paths[path], file)
        except RecipeError as err:
            raise fail(err.message, key, err.value, err.allowed) from None

    data = mapping(data, "", _TOP, required=("id", "dataset", "threat_model", "quality", "confirmation", "divisions"))
    bench_id = data["id"]
    if not isinstance(bench_id, str) or not bench_id or any(c.isspace() or c in "/\\" for c in bench_id):
        raise fail("expected a name without spaces or slashes", "id", bench_id)
    title = data.get("title", bench_id)
    if not isinstance(title, str):
        raise fail("expected a string", "title", title)
    dataset = run_key("data.name", data["dataset"], "dataset")
    threat = mapping(data["threat_model"], "threat_model", ("norm", "eps"), required=("norm", "eps"))
    norm = run_key("attack.norm", threat["norm"], "threat_model.norm")
    eps = run_key("attack.eps", threat["eps"], "threat_model.eps")
    quality = mapping(data["quality"], "quality", ("metric", "target", "check"), required=("target", "check"))
    metric = quality.get("metric", "robust_accuracy")
    if metric not in METRICS:
        raise fail("not a metric of the check", "quality.metric", metric, tuple(METRICS))
    target = number(quality["target"], "quality.target", lo=0.0, hi=100.0)
    raw = mapping(quality["check"], "quality.check", ("attack", "steps", "step_size", "val_size", "subset"),
                  required=("val_size",))
    check = Check(attack=run_key("training.select_attack", raw.get("attack", "pgd"), "quality.check.attack"),
                  steps=run_key("training.select_pgd_steps", raw.get("steps", 10), "quality.check.steps"),
                  step_size=run_key("training.select_pgd_step_size", raw.get("step_size"), "quality.check.step_size"),
                  val_size=run_key("training.val_size", raw["val_size"], "quality.check.val_size"),
                  subset=run_key("training.select_subset", raw.get("subset", raw["val_size"]), "quality.check.subset"))
    raw = mapping(data["confirmation"], "confirmation", ("autoattack", "n", "tolerance"),
                  required=("autoattack", "n", "tolerance"))
    try:
        aa = check_autoattack("confirmation.autoattack", raw["autoattack"], file)
    except RecipeError as err:
        raise fail(err.message, "confirmation.autoattack", err.value, err.allowed) from None
    confirmation = Confirmation(autoattack=tuple(aa) if isinstance(aa, list) else aa,
                                n=number(raw["n"], "confirmation.n", lo=1, integer=True),
                                tolerance=number(raw["tolerance"], "confirmation.tolerance", lo=0.0, hi=100.0))
    repeats = number(data.get("repeats", 5), "repeats", lo=1, hi=1000, integer=True)
    scoring = mapping(data.get("scoring") or {}, "scoring", ("drop", "max_missed"))
    drop = scoring.get("drop", list(SCORING_DROPS))
    if not isinstance(drop, list) or any(d not in SCORING_DROPS for d in drop) or len(set(drop)) != len(drop):
        raise fail("expected a list of distinct values", "scoring.drop", drop, SCORING_DROPS)
    if len(drop) >= repeats:
        raise fail(f"drops every one of the {repeats} runs of a result", "scoring.drop", drop)
    max_missed = number(scoring.get("max_missed", 0), "scoring.max_missed", lo=0, hi=repeats - 1, integer=True)
    divisions = mapping(data["divisions"], "divisions", DIVISIONS, required=("closed",))
    bench = Benchmark(id=bench_id, title=title, dataset=dataset, norm=norm, eps=eps, metric=metric, target=target,
                      check=check, confirmation=confirmation, repeats=repeats, drop=tuple(drop),
                      max_missed=max_missed, divisions={}, file=file)
    protocol = bench.protocol()
    parsed: Dict[str, Division] = {}
    for name in DIVISIONS:
        raw = mapping(divisions.get(name) or {}, f"divisions.{name}", ("fixed", "bounds"))
        fixed: Dict[str, Any] = {}
        for path, value in mapping(raw.get("fixed") or {}, f"divisions.{name}.fixed", None).items():
            where = f"divisions.{name}.fixed.{path}"
            fixed[path] = run_key(path, value, where)
            if path in protocol or path == "tracking.submission_division":
                raise fail("fixed by the benchmark itself (its dataset, threat model or check); not a division's key",
                           where)
        bounds: Dict[str, Bound] = {}
        raw_bounds = mapping(raw.get("bounds") or {}, f"divisions.{name}.bounds", None)
        if raw_bounds and name != "closed":
            raise fail("only the closed division has bounds", f"divisions.{name}.bounds")
        for path, spec in raw_bounds.items():
            where = f"divisions.{name}.bounds.{path}"
            bounds[path] = _bound(path, mapping(spec, where, ("min", "max", "choices")), where, run_key, fail)
            if path in fixed or path in protocol:
                raise fail("both fixed and bounded", where)
        parsed[name] = Division(name=name, fixed=fixed, bounds=bounds)
    object.__setattr__(bench, "divisions", parsed)
    return bench


def _bound(path: str, spec: Dict[str, Any], where: str, run_key, fail) -> Bound:
    if "choices" in spec:
        if set(spec) != {"choices"} or not isinstance(spec["choices"], list) or not spec["choices"]:
            raise fail("choices is a non-empty list, alone", where)
        return Bound(choices=tuple(run_key(path, v, f"{where}.choices") for v in spec["choices"]))
    if not spec:
        raise fail("a bound needs min, max or choices", where)
    lo = run_key(path, spec["min"], f"{where}.min") if spec.get("min") is not None else None
    hi = run_key(path, spec["max"], f"{where}.max") if spec.get("max") is not None else None
    for value, key in ((lo, "min"), (hi, "max")):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise fail("min and max bound numbers", f"{where}.{key}", value)
    if lo is not None and hi is not None and lo > hi:
        raise fail("min is above max", where, {"min": lo, "max": hi})
    return Bound(min=lo, max=hi)
