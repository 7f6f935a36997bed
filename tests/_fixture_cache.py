"""Trained test fixtures cached on disk by content: a session trains each tiny model or run once, and a later
session on unchanged code trains nothing.

An entry is a folder ``<name>-<slot>-<key>``: the slot is a digest of what the fixture makes, the key the SHA-256 of

* what the fixture makes (its name and a JSON description: recipe text, overrides, arguments, epochs, seed),
* every file that can change the result: ``robustperf*.py`` and the ``.py``/``.yaml`` files of ``benchmarks/``,
  ``recipes/``, ``results/``, ``launchers/`` and ``scaling/``, plus the test helpers the fixture names,
* the environment: the Python version, every installed distribution and its version, the machine and CPU model
  (float results can depend on the CPU's kernels, and the resume tests compare bits).

Any change gives another key, so the fixture is made again; the last few keys of each slot are kept (an edit and
its revert both stay warm). An entry is built in a scratch folder beside the cache and renamed into place
when complete (two sessions building the same entry at once keep the first). Tests never get the entry itself,
only a copy (:func:`copy_tree`), so no test sees another's changes. A run's text files name where it was made (the
record's ``tracking.mllog``, train.log): :func:`copy_tree` rewrites that folder to the copy's, so the copy reads
as if the run had been made there; an entry whose binary files (checkpoints) name it is refused.

Location: ``$ROBUSTPERF_TEST_CACHE`` if set, else pytest's cache (``.pytest_cache/d/robustperf-fixtures``, ignored
by git and emptied by ``pytest --cache-clear``). ``ROBUSTPERF_TEST_CACHE=off`` (or ``-p no:cacheprovider``) keeps
entries for the session only: each fixture is made once per session, as on a fresh CI machine.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import pathlib
import platform
import shutil
import sys
import time
import uuid
from importlib import metadata
from typing import Callable, Iterable

from tests.conftest import ROOT

CACHE_ENV = "ROBUSTPERF_TEST_CACHE"
#: the source folders whose files can change what a fixture trains, and the suffixes read there
SOURCE_DIRS = ("benchmarks", "recipes", "results", "launchers", "scaling")
SOURCE_SUFFIXES = (".py", ".yaml")
#: entries kept per fixture (name and description), the most recently used: older code's results go
KEEP = 3
#: scratch folders of builds older than this were left by a killed session
STALE_BUILD_SECONDS = 6 * 3600


def _file_digest(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@functools.lru_cache(maxsize=1)
def sources_digest() -> str:
    """SHA-256 over the paths and contents of the source files (see :data:`SOURCE_DIRS`)."""
    files = sorted(ROOT.glob("robustperf*.py"))
    for folder in SOURCE_DIRS:
        files += sorted(p for p in (ROOT / folder).rglob("*") if p.suffix in SOURCE_SUFFIXES and p.is_file())
    h = hashlib.sha256()
    for path in files:
        h.update(f"{path.relative_to(ROOT)}\0{_file_digest(path)}\n".encode())
    return h.hexdigest()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


@functools.lru_cache(maxsize=1)
def environment_digest() -> str:
    """SHA-256 of the Python version, the installed distributions and the machine."""
    dists = sorted({f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in metadata.distributions()})
    text = json.dumps([sys.version, platform.machine(), _cpu_model(), dists])
    return hashlib.sha256(text.encode()).hexdigest()


def _json_digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def fixture_slot(name: str, description) -> str:
    """``<name>-<digest of the description>``: one fixture, whatever the code; its entries differ by key."""
    return f"{name}-{_json_digest(description)[:10]}"


def entry_key(name: str, description, helpers: Iterable[pathlib.Path] = ()) -> str:
    """The content key of an entry: its description, the sources, the named test helpers, the environment."""
    helpers = [pathlib.Path(p).resolve() for p in helpers]
    parts = {"name": name, "description": description, "sources": sources_digest(),
             "environment": environment_digest(),
             "helpers": {str(p.relative_to(ROOT) if ROOT in p.parents else p): _file_digest(p) for p in helpers}}
    return _json_digest(parts)[:16]


META = ".fixture.json"


def _entry_of(folder: pathlib.Path) -> pathlib.Path:
    for candidate in (folder, *folder.parents):
        if (candidate / META).is_file():
            return candidate
    raise ValueError(f"{folder} is not inside a fixture cache entry")


def copy_tree(source: pathlib.Path, dest: pathlib.Path) -> pathlib.Path:
    """Copy an entry, or a folder inside one, into ``dest`` (made if missing), with the build folder named in its
    text files replaced by ``dest``; returns ``dest``."""
    source, dest = pathlib.Path(source), pathlib.Path(dest)
    assert '"' not in str(dest) and "\\" not in str(dest), f"a copy's path needs no JSON escaping: {dest}"
    entry = _entry_of(source)
    meta = json.loads((entry / META).read_text())
    shutil.copytree(source, dest, symlinks=True, dirs_exist_ok=True)
    built = pathlib.Path(meta["built_at"], source.relative_to(entry))
    for name in meta["relocate"]:
        try:
            inside = pathlib.Path(name).relative_to(source.relative_to(entry))
        except ValueError:
            continue  # not part of this copy
        path = dest / inside
        text = path.read_text(encoding="utf-8").replace(str(built), str(dest))
        assert meta["built_at"] not in text, f"{path} names {meta['built_at']} outside the copied folder"
        path.write_text(text, encoding="utf-8")
    return dest


def _naming(folder: pathlib.Path, needle: str):
    """(text files, binary files) under ``folder`` whose bytes contain ``needle``."""
    raw, text, binary = needle.encode(), [], []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if raw in data:
                try:
                    data.decode("utf-8")
                    text.append(str(path.relative_to(folder)))
                except UnicodeDecodeError:
                    binary.append(str(path.relative_to(folder)))
    return text, binary


class FixtureCache:
    """Entries under ``root``; ``persistent=False`` means ``root`` is a session folder (nothing outlives it)."""

    def __init__(self, root: pathlib.Path, persistent: bool = True):
        self.root = pathlib.Path(root)
        self.persistent = persistent
        self.root.mkdir(parents=True, exist_ok=True)
        self.built, self.reused = [], []

    def entry(self, name: str, description, build: Callable[[pathlib.Path, pathlib.Path], None],
              helpers: Iterable[pathlib.Path] = ()) -> pathlib.Path:
        """The cached folder of fixture ``name`` for ``description``; ``build(entry, scratch)`` fills an empty
        ``entry`` folder on a miss (``scratch``: a folder for inputs that are not part of the entry). Treat the
        returned folder as read-only: copy it (:func:`copy_tree`) before changing anything."""
        slot = fixture_slot(name, description)
        final = self.root / f"{slot}-{entry_key(name, description, helpers)}"
        if final.is_dir():
            os.utime(final)  # most recently used: kept by _prune
            self.reused.append(final.name)
            return final
        build_root = self.root / f".build-{name}-{uuid.uuid4().hex[:12]}"
        entry, scratch = build_root / "entry", build_root / "scratch"
        entry.mkdir(parents=True)
        scratch.mkdir()
        try:
            build(entry, scratch)
            if '"' in str(build_root) or "\\" in str(build_root):
                raise RuntimeError(f"the fixture cache's path needs no JSON escaping: {build_root}")
            text, binary = _naming(entry, str(build_root))
            stray = [t for t in text if str(build_root) in (entry / t).read_text().replace(str(entry), "")]
            if binary or stray:
                raise RuntimeError(f"fixture {name!r} cannot be cached: {binary + stray} name the folder it was built "
                                   f"in ({build_root}) where a copy cannot rename it")
            (entry / META).write_text(json.dumps({"name": name, "description": description, "built_at": str(entry),
                                                  "relocate": text}, indent=1, default=str))
            try:
                os.rename(entry, final)
            except OSError:
                if not final.is_dir():  # not a concurrent session that finished first
                    raise
        finally:
            shutil.rmtree(build_root, ignore_errors=True)
        self.built.append(final.name)
        self._prune(slot)
        return final

    def _prune(self, slot: str) -> None:
        if not self.persistent:
            return
        now = time.time()
        entries = []
        for path in self.root.iterdir():
            if path.name.startswith(".build-") and now - path.stat().st_mtime > STALE_BUILD_SECONDS:
                shutil.rmtree(path, ignore_errors=True)
            elif path.name.rsplit("-", 1)[0] == slot and path.is_dir():
                entries.append(path)
        entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            shutil.rmtree(old, ignore_errors=True)


def open_cache(config, session_tmp: pathlib.Path) -> FixtureCache:
    """The suite's cache: ``$ROBUSTPERF_TEST_CACHE``, else pytest's cache folder, else a session folder."""
    where = os.environ.get(CACHE_ENV, "").strip()
    if where.lower() in ("0", "off", "no", "false"):
        return FixtureCache(session_tmp, persistent=False)
    if where:
        return FixtureCache(pathlib.Path(where).expanduser())
    cache = getattr(config, "cache", None)
    if cache is None:  # -p no:cacheprovider
        return FixtureCache(session_tmp, persistent=False)
    return FixtureCache(cache.mkdir("robustperf-fixtures"))
