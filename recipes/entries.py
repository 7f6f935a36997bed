"""The entry types of the plug-in catalog: one frozen dataclass per kind of plug-in, holding the facts the suite
needs before it imports the plug-in's code (see :mod:`recipes.catalog` for how entries are found).

An entry names its implementation as ``"package.module:attribute"`` and imports it on first use
(:meth:`Entry.load`); everything else on it is plain data, so a module of entries imports no torch.
"""
from __future__ import annotations

import dataclasses
import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar, Dict, Mapping, Optional, Tuple, Type

from robustperf_errors import UserError

__all__ = ["Key", "Entry", "MethodEntry", "ModelEntry", "AttackEntry", "DatasetEntry", "MeterEntry",
           "ExecutorEntry", "SectionEntry", "BenchmarkEntry", "KINDS", "SELECTORS", "NORMS", "PluginError", "RUNTIME"]

#: Source shown for an entry registered in-process (``recipes.catalog.register``).
RUNTIME = "<runtime>"

#: Threat models the suite knows, with the name AutoAttack gives each; attacks declare which they support.
NORMS: Mapping[str, str] = {"linf": "Linf", "l2": "L2", "l1": "L1"}

_IMPLS: Dict[str, Any] = {}


class PluginError(UserError):
    """A plug-in name that no installed package registers, or a plug-in that cannot be loaded."""


def _package(entry: "Entry") -> str:
    return f"package {entry.source}" if entry.source and entry.source != RUNTIME else "registered in-process"


def _qualname(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', type(obj).__name__)}"


@dataclass(frozen=True)
class Key:
    """A recipe key that a plug-in adds to a section (``training.my_beta``), validated like the schema's own.

    Attributes:
        default: the value when the recipe does not set it.
        doc: one line for the recipe reference.
        choices, min, max, min_exclusive: checks, as for the schema's fields.
        kind: a value kind of the schema (``fraction`` accepts ``8/255``), or None.
        type: ``int``, ``float``, ``str`` or ``bool`` (default: the default's type; needed for a None default,
            which also makes null allowed).
    """

    default: Any
    doc: str
    choices: Optional[Tuple[Any, ...]] = None
    min: Optional[float] = None
    max: Optional[float] = None
    min_exclusive: bool = False
    kind: Optional[str] = None
    type: Any = None

    def value_type(self) -> Any:
        """The key's type: ``type`` if given, else its default's (a None default needs ``type``)."""
        if self.type is not None:
            return self.type
        if self.kind == "fraction":
            return float
        return type(self.default) if self.default is not None else str


@dataclass(frozen=True)
class Entry:
    """One plug-in: its name, where its code is, one line on what it is, and the facts of its kind.

    Attributes:
        name: the name recipes and commands use (``training.loss: at``).
        impl: ``"package.module:attribute"`` of the implementation (imported by :meth:`load` on first use), or
            the object itself for an entry registered in-process.
        doc: one line shown by ``robustperf plugins`` and in the reference.
        reads: the ``section.key`` recipe paths the plug-in reads beyond what every plug-in of its kind reads;
            these enter the ids of its runs (see ``recipes.identity``).
        keys: recipe keys the plug-in adds (``{"training.my_beta": Key(...)}``); it reads them too.
        source: the distribution that registered it (filled in when the catalog loads it).
    """

    kind: ClassVar[str] = ""
    name: str
    impl: Any
    doc: str = ""
    reads: Tuple[str, ...] = ()
    keys: Mapping[str, Key] = field(default_factory=dict)
    source: str = field(default="", compare=False)

    def all_reads(self) -> Tuple[str, ...]:
        """Every recipe path the plug-in reads: its declared ``reads`` and the keys it adds."""
        return tuple(self.reads) + tuple(k for k in self.keys if k not in self.reads)

    def load(self) -> Any:
        """The implementation (class, function or factory), imported on first use."""
        if not isinstance(self.impl, str):
            return self.impl
        cached = _IMPLS.get(self.impl)
        if cached is None:
            module, _, attr = self.impl.partition(":")
            try:
                obj: Any = importlib.import_module(module)
                for part in attr.split(".") if attr else ():
                    obj = getattr(obj, part)
            except Exception as err:  # noqa: BLE001 - any failure of a plug-in's code is reported as its own
                raise PluginError(f"{self.kind[:-1]} {self.name!r} ({_package(self)}): cannot import "
                                  f"{self.impl}: {type(err).__name__}: {err}") from err
            cached = _IMPLS[self.impl] = obj
        return cached

    def describe(self) -> Dict[str, Any]:
        """The entry as JSON-able facts (``robustperf plugins --json``)."""
        out: Dict[str, Any] = {"kind": self.kind, "name": self.name, "source": self.source,
                               "impl": self.impl if isinstance(self.impl, str) else _qualname(self.impl),
                               "doc": self.doc}
        for f in dataclasses.fields(self):
            if f.name in out or f.name == "keys":
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["keys"] = {k: dataclasses.asdict(v) for k, v in self.keys.items()}
        return out


@dataclass(frozen=True)
class MethodEntry(Entry):
    """A training method (``training.loss``).

    Attributes:
        name_part: its part of run names, ``{section.key}`` filled from the run (``pgd{attack.steps}``); ``""``
            for a method that runs no attack.
        train_attack: the attack (kind ``attacks``) that crafts its training examples, or None.
        multi_exit: trains a multi-exit model (needs a ``models`` entry with ``multi_exit``).
        paper: the reference it implements.
    """

    kind: ClassVar[str] = "methods"
    name_part: str = ""
    train_attack: Optional[str] = None
    multi_exit: bool = False
    paper: str = ""


@dataclass(frozen=True)
class ModelEntry(Entry):
    """A model family (``model.arch``).

    Attributes:
        name_keys: ``model.*`` keys whose values follow the arch in run names (``wrn-28-10``).
        multi_exit: returns one logits tensor per exit (early-exit evaluation, slowdown attacks).
        fallback: the family of any arch no entry is named after (timm's models); at most one.
    """

    kind: ClassVar[str] = "models"
    name_keys: Tuple[str, ...] = ()
    multi_exit: bool = False
    fallback: bool = False


@dataclass(frozen=True)
class AttackEntry(Entry):
    """An attack, called through one signature (``benchmarks.attacks``).

    Attributes:
        norms: the threat models it supports (keys of :data:`NORMS`).
        roles: where recipes may choose it: ``train`` (a method's training attack), ``check`` (the per-epoch
            best-checkpoint check), ``evaluation`` (the final robust evaluation), ``slowdown`` (early-exit
            slowdown, ``evaluation.slowdown.attacks``).
    """

    kind: ClassVar[str] = "attacks"
    norms: Tuple[str, ...] = ("linf", "l2")
    roles: Tuple[str, ...] = ("train",)


@dataclass(frozen=True)
class DatasetEntry(Entry):
    """A dataset (``data.name``).

    Attributes:
        num_classes: classes (None: counted from the data, as for image folders).
        image_size: native side of its images; channels: colour channels.
        needs_root: the recipe must give ``data.root``.
        streamed: decoded from image files batch by batch (``data.image_size`` applies).
        url: where to get it (named in the error when it is missing; the suite never downloads).
    """

    kind: ClassVar[str] = "datasets"
    num_classes: Optional[int] = None
    image_size: int = 32
    channels: int = 3
    needs_root: bool = True
    streamed: bool = False
    url: str = ""


@dataclass(frozen=True)
class MeterEntry(Entry):
    """An energy meter (``measurement.energy_source``).

    Attributes:
        devices: what it measures: ``gpu``, ``cpu``, ``dram`` or ``host``, or several, comma-separated
            (``gpu,cpu``: ``energy_source: auto`` tries it on GPU and on CPU runs).
        auto: its rank in ``energy_source: auto`` among the meters of its devices (lower first); None = only
            when named.
    """

    kind: ClassVar[str] = "meters"
    devices: str = "gpu"
    auto: Optional[int] = None


@dataclass(frozen=True)
class ExecutorEntry(Entry):
    """A launcher backend (``launch.scheduler``): an ``Executor`` subclass (``launchers.core``)."""

    kind: ClassVar[str] = "executors"


@dataclass(frozen=True)
class SectionEntry(Entry):
    """An analysis section of ``robustperf analyze``.

    Attributes:
        order: its position in the analysis and the reports (lower first).
    """

    kind: ClassVar[str] = "sections"
    order: int = 500


@dataclass(frozen=True)
class BenchmarkEntry(Entry):
    """A benchmark definition (``benchmark: <id>`` of a recipe): data, not code.

    ``impl`` is ``"package:file.yaml"``, a YAML resource of a package (the built-ins':
    ``recipes.benchmarks:<id>.yaml``); :meth:`load` reads and validates it into a frozen
    :class:`recipes.benchmark.Benchmark` (errors name the file and the key).
    """

    kind: ClassVar[str] = "benchmarks"

    def load(self) -> Any:
        if not isinstance(self.impl, str):
            return self.impl
        cached = _IMPLS.get(self.impl)
        if cached is None:
            # recipes.benchmark validates against the schema, which imports the catalog: imported by name on first
            # use, as every plug-in's implementation is
            reader = importlib.import_module("recipes.benchmark").read_benchmark
            cached = _IMPLS[self.impl] = reader(self)
        return cached


#: kind -> the recipe key that chooses a plug-in of it; a key a plug-in adds is read by the runs that choose it.
SELECTORS: Dict[str, Optional[str]] = {
    "methods": "training.loss", "models": "model.arch", "datasets": "data.name", "attacks": None,
    "meters": "measurement.energy_source", "executors": "launch.scheduler", "sections": None,
    "benchmarks": "benchmark.id",
}

#: kind -> its entry class; the entry-point group of a kind is ``robustperf.<kind>``.
KINDS: Dict[str, Type[Entry]] = {cls.kind: cls for cls in (MethodEntry, ModelEntry, AttackEntry, DatasetEntry,
                                                            MeterEntry, ExecutorEntry, SectionEntry,
                                                            BenchmarkEntry)}
