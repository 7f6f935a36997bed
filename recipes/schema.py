"""The schema of a run: its sections' keys (the built-in ones and those plug-ins add), their validation, and the
resolved, typed :class:`RunConfig`.

:func:`section_fields` is the one lookup of what a key is (doc, type, default, checks, who reads it): the
section dataclasses of :mod:`recipes.sections` plus the keys that plug-ins declare in their catalog entries
(``MethodEntry(keys={"training.my_beta": Key(...)})``). Cross-field rules live in :mod:`recipes.rules`, the run
identity in :mod:`recipes.identity`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from . import catalog
from .errors import RecipeError, nearest
from .fields import SEED_FIELD, copy_default, field_specs, key_field, validate_value
from .moved import moved
from .rules import check_run
from .sections import (SECTIONS, AttackConfig, BenchmarkConfig, DataConfig, EvaluationConfig, LaunchConfig,
                       MeasurementConfig, ModelConfig, TrackingConfig, TrainingConfig)

__all__ = ["RunConfig", "section_fields", "section_class", "all_paths", "validate_section", "plugin_keys"]

_PLUGIN_KEYS: Dict[str, Any] = {"generation": -1, "keys": {}}


def plugin_keys() -> Dict[str, Dict[str, Dict[str, Any]]]:
    """Section -> key -> spec of the keys plug-ins add (their entries' ``keys``), read by the runs choosing them.

    A key declared by several plug-ins of one kind is one key (the first declaration's spec); a key that would
    replace a built-in one is ignored (the catalog reports it)."""
    if _PLUGIN_KEYS["generation"] != catalog.generation():
        keys: Dict[str, Dict[str, Dict[str, Any]]] = {}
        for entry in catalog.all_entries():
            for path, spec in entry.keys.items():
                section, _, name = path.partition(".")
                cls = SECTIONS.get(section) or (LaunchConfig if section == "launch" else None)
                if cls is None or name in field_specs(cls) or name in keys.get(section, {}):
                    continue
                keys.setdefault(section, {})[name] = _spec_of(spec, catalog.SELECTORS.get(entry.kind))
        _PLUGIN_KEYS.update(generation=catalog.generation(), keys=keys)
    return _PLUGIN_KEYS["keys"]


def _spec_of(key: catalog.Key, read_by: Optional[str]) -> Dict[str, Any]:
    tp = key.value_type()
    if key.default is None:
        tp = Optional[tp]
    f = key_field(key.default, key.doc, choices=key.choices, min=key.min, max=key.max,
                  min_exclusive=key.min_exclusive, kind=key.kind, read_by=read_by)
    return {**f.metadata, "type": tp, "default": key.default}


def section_fields(section: str) -> Dict[str, Dict[str, Any]]:
    """Field specs of a section by name (``data``, ``launch``, ...): doc, type, default, choices, range, who
    reads it; the built-in keys, then the keys plug-ins add."""
    cls = SECTIONS.get(section) or {"launch": LaunchConfig}.get(section)
    if cls is None:
        raise KeyError(section)
    extra = plugin_keys().get(section)
    return {**field_specs(cls), **extra} if extra else field_specs(cls)


_CLASSES: Dict[Tuple[str, int], type] = {}


def section_class(section: str) -> type:
    """The dataclass of a section with the keys plug-ins add as fields (the built-in class when they add none)."""
    base = SECTIONS.get(section) or {"launch": LaunchConfig}[section]
    extra = plugin_keys().get(section)
    if not extra:
        return base
    key = (section, catalog.generation())
    cls = _CLASSES.get(key)
    if cls is None:
        fields = [(name, spec["type"], field(default=spec["default"])) for name, spec in extra.items()]
        cls = _CLASSES[key] = dataclasses.make_dataclass(base.__name__, fields, bases=(base,), frozen=True)
    return cls


def all_paths() -> Dict[str, Dict[str, Any]]:
    """Every addressable run-config key path with its field spec (``seed``, ``data.name``, ...)."""
    paths = {"seed": SEED_FIELD}
    for name in SECTIONS:
        for key, spec in section_fields(name).items():
            paths[f"{name}.{key}"] = spec
    return paths


def validate_section(name: str, values: Any, *, file: Optional[str] = None, partial: bool = False,
                     lines: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    """Validate a section mapping; return it normalised with defaults filled in (unless ``partial``)."""
    specs = section_fields(name)
    if not isinstance(values, dict):
        raise RecipeError("a section must be a mapping of keys to values", file=file, key=name, value=values,
                          line=(lines or {}).get(name))
    out = {} if partial else {k: copy_default(s["default"]) for k, s in specs.items()}
    for key, value in values.items():
        path = f"{name}.{key}"
        line = (lines or {}).get(path)
        if key not in specs:
            move = moved(path)
            if move is not None:
                raise RecipeError(f"unknown key: it moved to '{move.new}' in {move.moved_in}; set that key",
                                  file=file, key=path, line=line)
            hint = nearest(str(key), specs)
            raise RecipeError("unknown key" + (f" (did you mean '{name}.{hint}'?)" if hint else ""), file=file,
                              key=path, allowed=list(specs), line=line)
        try:
            out[key] = validate_value(path, value, specs[key], file)
        except RecipeError as err:
            raise err.located(line=line) from None
    return out


@dataclass(frozen=True)
class RunConfig:
    """One fully resolved run of the matrix."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    measurement: MeasurementConfig = field(default_factory=MeasurementConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)

    def __post_init__(self):
        check_run(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, config: Dict[str, Any], *, file: Optional[str] = None) -> "RunConfig":
        """Build from a resolved config dict (as in ``expand`` output or a result record)."""
        if not isinstance(config, dict):
            raise RecipeError("a run config must be a mapping", file=file, value=config)
        unknown = set(config) - set(SECTIONS) - {"seed"}
        if unknown:
            key = sorted(unknown)[0]
            raise RecipeError("unknown section", file=file, key=key, allowed=["seed", *SECTIONS])
        kwargs: Dict[str, Any] = {"seed": validate_value("seed", config.get("seed", 0), SEED_FIELD, file)}
        for name in SECTIONS:
            values = config.get(name)
            kwargs[name] = section_class(name)(**validate_section(name, {} if values is None else values,
                                                                  file=file))
        return cls(**kwargs)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def eps(self) -> float:
        return self.attack.eps

    @property
    def train_step_size(self) -> float:
        """PGD step size of the training attack (1.5*eps/steps unless set)."""
        return self.attack.step_size or 1.5 * self.attack.eps / self.attack.steps

    @property
    def select_step_size(self) -> float:
        """PGD step size of the per-epoch best-checkpoint check (2.5*eps/select_pgd_steps unless set)."""
        return self.training.select_pgd_step_size or 2.5 * self.attack.eps / self.training.select_pgd_steps

    @property
    def eval_step_size(self) -> float:
        """PGD step size of the evaluation attack (2.5*eps/steps unless set)."""
        return self.evaluation.pgd_step_size or 2.5 * self.attack.eps / self.evaluation.pgd_steps

