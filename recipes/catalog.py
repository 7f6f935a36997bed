"""The plug-in catalog: every method, model family, attack, dataset, energy meter, executor, analysis section and
benchmark definition, by kind and name, with the facts the suite needs before it imports the plug-in's code.

A plug-in is declared once, by an *entry* (a frozen dataclass of :mod:`recipes.entries`: ``MethodEntry``,
``ModelEntry``, ...) that lives next to its code in a module that imports no torch (the built-ins' are the
``catalog.py`` files of their folders, e.g. ``benchmarks/training/methods/catalog.py``). The entry names the
implementation as ``"package.module:attribute"``, imported on first use (:meth:`Entry.load`), and states the
facts the schema, the run identity, the recipe reference and ``robustperf plugins`` are derived from: the recipe
keys the plug-in reads, its part of run names, its flags. There is no second copy of these facts anywhere.

Entries are found through Python entry points, one group per kind (:data:`GROUPS`: ``robustperf.methods``,
``robustperf.models``, ...), read with :func:`importlib.metadata.entry_points` as pytest reads ``pytest11``.
The built-ins are registered the same way, in the project's own metadata (``setup.cfg``), so a package installed
with pip adds a plug-in exactly as the suite adds its own::

    # setup.cfg of another package
    [options.entry_points]
    robustperf.methods =
        my_method = my_package.catalog:MY_METHOD

A plug-in that fails to load (an import error, an entry of the wrong type, a name taken by another package) is
reported once on stderr in one line naming its package, and skipped; the built-ins keep working
(:func:`problems` lists them). Tests and notebooks may also :func:`register` an entry in-process.
"""
from __future__ import annotations

import dataclasses
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from robustperf_errors import nearest

from .entries import (KINDS, NORMS, RUNTIME, SELECTORS, AttackEntry, BenchmarkEntry, DatasetEntry, Entry,
                      ExecutorEntry, Key, MeterEntry, MethodEntry, ModelEntry, PluginError, SectionEntry, _package)

__all__ = [
    "Entry", "MethodEntry", "ModelEntry", "AttackEntry", "DatasetEntry", "MeterEntry", "ExecutorEntry",
    "SectionEntry", "BenchmarkEntry", "Key", "KINDS", "GROUPS", "SELECTORS", "NORMS", "PluginError", "entries",
    "names", "get", "find", "load", "register", "unregister", "problems", "generation", "all_entries", "Choices",
]

#: The project's own distribution name (its entry points are the built-ins).
PROJECT = "robustperf"
GROUPS: Dict[str, str] = {kind: f"{PROJECT}.{kind}" for kind in KINDS}

_LOCK = threading.RLock()
_FOUND: Optional[Dict[str, Dict[str, Entry]]] = None  # from entry points, read once per process
_RUNTIME: Dict[str, Dict[str, Entry]] = {kind: {} for kind in KINDS}
_PROBLEMS: List[str] = []
_MERGED: Dict[str, Dict[str, Entry]] = {}
_generation = 0


def generation() -> int:
    """A number that changes whenever the catalog changes (memoised derivations are keyed by it)."""
    return _generation


def _report(message: str) -> None:
    _PROBLEMS.append(message)
    print(f"robustperf: warning: {message}", file=sys.stderr)


def _distribution(ep: Any) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "?"
    version = getattr(dist, "version", None)
    name = dist.metadata["Name"] if getattr(dist, "metadata", None) is not None else getattr(dist, "name", "?")
    return f"{name} {version}" if version else str(name)


def _is_project(source: str) -> bool:
    return source.split(" ")[0].replace("_", "-").lower() == PROJECT


def _discover() -> Dict[str, Dict[str, Entry]]:
    """Read every ``robustperf.*`` entry point once: the built-ins first, then other packages by name; within a
    package, in the order its catalog modules declare the entries."""
    from importlib.metadata import entry_points

    found: Dict[str, Dict[str, Entry]] = {kind: {} for kind in KINDS}
    for kind, group in GROUPS.items():
        loaded = []
        for ep in entry_points(group=group):
            source = _distribution(ep)
            where = f"{group} plug-in {ep.name!r} of package {source}"
            try:
                entry = ep.load()
            except Exception as err:  # noqa: BLE001 - a broken plug-in must not break the host
                _report(f"{where} failed to load ({type(err).__name__}: {err}); skipped")
                continue
            problem = _check_entry(kind, ep.name, entry)
            if problem:
                _report(f"{where}: {problem}; skipped")
                continue
            names = list(vars(sys.modules[ep.module])) if ep.module in sys.modules else []
            position = names.index(ep.attr) if ep.attr in names else len(names)
            loaded.append(((not _is_project(source), source, ep.module, position), where, entry, source))
        for _, where, entry, source in sorted(loaded, key=lambda item: item[0]):
            taken = found[kind].get(entry.name)
            if taken is not None:
                if taken.impl != entry.impl:
                    _report(f"{where}: the name is taken by package {taken.source}; skipped")
                continue
            found[kind][entry.name] = dataclasses.replace(entry, source=source)
    return found


def _check_entry(kind: str, name: str, entry: Any) -> Optional[str]:
    cls = KINDS[kind]
    if not isinstance(entry, cls):
        return f"expected a recipes.catalog.{cls.__name__}, got {type(entry).__name__}"
    if entry.name != name:
        return f"the entry point is named {name!r} but the entry {entry.name!r}"
    if not entry.name or not isinstance(entry.name, str):
        return "an entry needs a name"
    if isinstance(entry.impl, str) and ":" not in entry.impl:
        return f"impl must be 'package.module:attribute', got {entry.impl!r}"
    bad = [p for p in entry.all_reads() if not isinstance(p, str) or p.count(".") != 1]
    if bad:
        return f"reads must be 'section.key' paths, got {bad[0]!r}"
    bad = [k for k, v in entry.keys.items() if not isinstance(v, Key)]
    if bad:
        return f"keys must map 'section.key' to a recipes.catalog.Key, got {bad[0]!r}"
    return None


def _found() -> Dict[str, Dict[str, Entry]]:
    global _FOUND
    if _FOUND is None:
        with _LOCK:
            if _FOUND is None:
                _FOUND = _discover()
    return _FOUND


def entries(kind: str) -> Dict[str, Entry]:
    """The registered entries of ``kind`` by name: the built-ins, other packages', then in-process ones."""
    if kind not in KINDS:
        raise ValueError(f"unknown plug-in kind {kind!r}; kinds: {', '.join(KINDS)}")
    merged = _MERGED.get(kind)
    if merged is None:
        with _LOCK:
            merged = dict(_found()[kind])
            merged.update(_RUNTIME[kind])
            _MERGED[kind] = merged
    return merged


def names(kind: str) -> Tuple[str, ...]:
    """The registered names of ``kind``, in catalog order."""
    return tuple(entries(kind))


def find(kind: str, name: Any) -> Optional[Entry]:
    """The entry ``name`` of ``kind``, else the kind's fallback entry (models: any timm name), else None."""
    table = entries(kind)
    try:
        hit = table.get(name)
    except TypeError:  # an unhashable value names nothing
        return None
    if hit is not None:
        return hit
    return next((e for e in table.values() if getattr(e, "fallback", False)), None)


def get(kind: str, name: Any) -> Entry:
    """The entry ``name`` of ``kind`` (or the kind's fallback); :class:`PluginError` with near matches else."""
    entry = find(kind, name)
    if entry is None:
        valid = names(kind)
        hint = nearest(str(name), valid)
        raise PluginError(f"no {kind[:-1]} named {name!r}" + (f" (did you mean {hint!r}?)" if hint else "")
                          + f"; registered: {', '.join(valid)}")
    return entry


def load(kind: str, name: Any) -> Any:
    """The implementation of plug-in ``name`` of ``kind`` (see :meth:`Entry.load`)."""
    return get(kind, name).load()


def register(entry: Entry, *, replace: bool = False) -> Entry:
    """Add an entry in-process (tests, notebooks); returns it with ``source`` set. A name already registered is
    an error unless ``replace``."""
    kind = entry.kind
    problem = _check_entry(kind, entry.name, entry) if kind in KINDS else f"unknown kind {kind!r}"
    if problem:
        raise ValueError(problem)
    global _generation
    with _LOCK:
        if not replace and entry.name in entries(kind):
            raise ValueError(f"{kind[:-1]} {entry.name!r} is already registered "
                             f"({_package(entries(kind)[entry.name])})")
        entry = dataclasses.replace(entry, source=RUNTIME)
        _RUNTIME[kind][entry.name] = entry
        _MERGED.pop(kind, None)
        _generation += 1
    return entry


def unregister(kind: str, name: str) -> None:
    """Remove an entry registered with :func:`register` (the installed ones stay)."""
    global _generation
    with _LOCK:
        if _RUNTIME[kind].pop(name, None) is not None:
            _MERGED.pop(kind, None)
            _generation += 1


def problems() -> List[str]:
    """The plug-ins that failed to load in this process, one line each."""
    _found()
    return list(_PROBLEMS)


def all_entries() -> Iterator[Entry]:
    """Every registered entry, kind by kind."""
    for kind in KINDS:
        yield from entries(kind).values()


class Choices:
    """The allowed values of a recipe key that the catalog decides (``training.loss``: the methods' names).

    Evaluated at each use, so a plug-in registered later is allowed at once. Iterates, compares and prints like
    the tuple of its values. ``where`` keeps the entries that qualify (``roles`` of attacks, ...); ``before`` and
    ``after`` are fixed values around them (``auto`` and ``none`` of ``energy_source``).
    """

    def __init__(self, kind: str, *, where: Optional[Callable[[Entry], bool]] = None, before: Tuple[Any, ...] = (),
                 after: Tuple[Any, ...] = (), values: Optional[Callable[[Entry], Tuple[Any, ...]]] = None):
        self.kind = kind
        self._where = where
        self._before, self._after = tuple(before), tuple(after)
        self._values = values
        self._memo: Tuple[int, Tuple[Any, ...]] = (-1, ())

    def _tuple(self) -> Tuple[Any, ...]:
        gen = generation()
        if self._memo[0] != gen or _FOUND is None:
            out: List[Any] = list(self._before)
            for entry in entries(self.kind).values():
                if self._where is None or self._where(entry):
                    for value in (self._values(entry) if self._values else (entry.name,)):
                        if value not in out:
                            out.append(value)
            out.extend(v for v in self._after if v not in out)
            self._memo = (gen, tuple(out))
        return self._memo[1]

    def __contains__(self, value: object) -> bool:
        try:
            return value in self._tuple()
        except TypeError:
            return False

    def __iter__(self):
        return iter(self._tuple())

    def __len__(self) -> int:
        return len(self._tuple())

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, (tuple, list, Choices)) else NotImplemented

    def __hash__(self) -> int:
        return hash((self.kind, self._before, self._after))

    def __repr__(self) -> str:
        return repr(self._tuple())
