"""Move run folders written under an older identity rule to their current ids, and upgrade their records.

A run's id hashes what changes its trained weights (:func:`recipes.run_id_of`). When that rule changes
(schema 1.1 left evaluation, measurement and pricing out of it; a later release may add a training key with a
default), finished runs sit in folders named by their old ids, and a launch would retrain them. ``migrate``:

1. reads every ``<folder>/result.json`` (older versions are upgraded on read; unknown fields are kept);
2. resolves its config with today's defaults and computes today's run id;
3. per new id, picks the primary folder (a completed run first, then the most recently updated), writes into it
   the record with every evaluation of every folder that maps to that id (``evaluations``, keyed by their
   settings: nothing is lost), moves the other folders to ``_migrated/<old id>/`` (kept, never deleted), renames
   the primary folder to the new id and writes the record with its new ``run_id``.

Every step is a rename or an atomic write, ordered so that an interrupted migration loses nothing and a rerun
finishes it; a migrated directory has nothing left to do (idempotent). ``--dry-run`` prints the plan only.
A folder that is a symbolic link (or whose record is), and a folder whose record names another run (a copy under
another name), are skipped and listed: migrate moves and writes only real run folders inside the results folder.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from recipes import RecipeError, RunConfig, run_id_of, run_name
from robustperf_errors import UserError

from .io import atomic_write_text, make_folder
from .keys import (COMPLETED, CONFIG, EVALUATIONS, NAME, RECORD_FILE, RUN_ID, SCHEMA_VERSION, SCHEMA_VERSION_KEY,
                   STATUS, UPDATED)
from .record import RecordError, misplaced_reason, read_json, record_text, write_record
from .validation import MAX_DEPTH, too_deep
from .versions import upgrade

MIGRATED_DIR = "_migrated"


class MigrateError(UserError):
    """A results directory that cannot be migrated."""


@dataclass
class Entry:
    folder: str                      # current folder name (the old run id)
    record: Dict[str, Any]           # upgraded record
    new_id: str
    config: Dict[str, Any]
    upgraded: bool                   # the file is of an older schema version


@dataclass
class MigrationPlan:
    moves: List[Tuple[str, str]] = field(default_factory=list)            # (old folder, new id)
    merges: List[Tuple[str, List[str]]] = field(default_factory=list)     # (new id, old folders merged into it)
    upgrades: List[str] = field(default_factory=list)                     # folders whose record is rewritten
    unchanged: List[str] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)          # (folder, why)

    def changes(self) -> int:
        return len(self.moves) + len(self.merges) + len(self.upgrades)

    def lines(self) -> List[str]:
        out = [f"move {old} -> {new}" for old, new in self.moves]
        out += [f"merge {', '.join(olds)} -> {new} (every evaluation kept; the others go to {MIGRATED_DIR}/)"
                for new, olds in self.merges]
        out += [f"upgrade the record of {name} to schema {SCHEMA_VERSION}" for name in self.upgrades]
        out += [f"skip {name}: {why}" for name, why in self.skipped]
        return out


def _read(path: str) -> Tuple[Optional[Dict[str, Any]], Optional[Dict[str, Any]], Optional[str]]:
    try:
        raw = read_json(path)  # bounded: a huge, FIFO or too deeply nested record is skipped with its reason
    except RecordError as err:
        return None, None, f"unreadable record: {err.reason}"
    if too_deep(raw):
        return None, None, f"corrupt record: nested deeper than {MAX_DEPTH} levels"
    try:
        return raw, upgrade(raw), None
    except ValueError as err:
        return None, None, str(err)


def _scan(results_dir: str) -> Tuple[Dict[str, List[Entry]], MigrationPlan]:
    if not os.path.isdir(results_dir):
        raise MigrateError(f"{results_dir}: no such results directory")
    plan = MigrationPlan()
    groups: Dict[str, List[Entry]] = {}
    for name in sorted(os.listdir(results_dir)):
        record_path = os.path.join(results_dir, name, RECORD_FILE)
        if name.startswith(("_", ".")) or not os.path.isfile(record_path):
            if not name.startswith(("_", ".")) and os.path.lexists(record_path):  # a FIFO, a device: never opened
                plan.skipped.append((name, "its result.json is not a regular file"))
            continue
        link = next((p for p in (os.path.join(results_dir, name), os.path.join(results_dir, name, RECORD_FILE))
                     if os.path.islink(p)), None)
        if link is not None:  # moved or written, it would move or write the link's target, elsewhere
            plan.skipped.append((name, f"{link} is a symbolic link (migrate moves and writes only real folders "
                                       f"and files inside {results_dir})"))
            continue
        raw, record, why = _read(os.path.join(results_dir, name, RECORD_FILE))
        if record is None:
            plan.skipped.append((name, why or "unreadable"))
            continue
        if not isinstance(record.get(CONFIG), dict):
            plan.skipped.append((name, "the record has no config to compute its id from"))
            continue
        try:
            config = RunConfig.from_dict(record[CONFIG], file=os.path.join(name, RECORD_FILE)).to_dict()
        except RecipeError as err:
            plan.skipped.append((name, f"its config is not valid today: {err}"))
            continue
        config = json.loads(json.dumps(config))  # tuples -> lists, as a record stores them
        new_id = run_id_of(config)
        if raw.get(RUN_ID) != name and name != new_id:  # (name == new_id: interrupted after its rename)
            plan.skipped.append((name, misplaced_reason(name, raw.get(RUN_ID))))
            continue
        record.setdefault(NAME, run_name(config))
        upgraded = raw.get(SCHEMA_VERSION_KEY) != SCHEMA_VERSION or raw.get(RUN_ID) != new_id \
            or raw.get(CONFIG) != config
        groups.setdefault(new_id, []).append(Entry(name, record, new_id, config, upgraded))
    for new_id, entries in sorted(groups.items()):
        entries.sort(key=_primary_order)
        if len(entries) > 1:
            plan.merges.append((new_id, [e.folder for e in entries]))
        elif entries[0].folder != new_id:
            plan.moves.append((entries[0].folder, new_id))
        elif entries[0].upgraded:
            plan.upgrades.append(new_id)
        else:
            plan.unchanged.append(new_id)
    return groups, plan


def _primary_order(entry: Entry):
    """Sort key: the folder already named by the new id, then completed runs, then the latest updated."""
    return (entry.folder != entry.new_id, entry.record.get(STATUS) != COMPLETED,
            "" if entry.record.get(UPDATED) is None else _invert(entry.record[UPDATED]))


def _invert(text: str) -> str:
    return "".join(chr(0x10FFFF - ord(c)) for c in text)


def _write_in_place(results_dir: str, folder: str, record: Dict[str, Any]) -> None:
    atomic_write_text(os.path.join(results_dir, folder, RECORD_FILE), record_text(record), root=results_dir)


def migrate(results_dir: str, dry_run: bool = False) -> MigrationPlan:
    """Migrate ``results_dir`` in place (see the module docstring); return what was (or would be) done."""
    groups, plan = _scan(results_dir)
    if dry_run:
        return plan
    for new_id, entries in sorted(groups.items()):
        primary, others = entries[0], entries[1:]
        if primary.folder == new_id and not others and not primary.upgraded:
            continue
        record = copy.deepcopy(primary.record)
        evaluations = {}
        for entry in reversed(entries):  # the primary's own evaluations win on a shared key
            evaluations.update(entry.record.get(EVALUATIONS) or {})
        record[EVALUATIONS] = evaluations
        record[CONFIG] = primary.config
        # 1. the merged record in the primary's current folder (its old id still names it)
        _write_in_place(results_dir, primary.folder, record)
        # 2. the other folders out of the way, kept
        for entry in others:
            aside = make_folder(os.path.join(results_dir, MIGRATED_DIR), root=results_dir)  # a link is refused
            target, n = os.path.join(aside, entry.folder), 1
            while os.path.lexists(target):
                n += 1
                target = os.path.join(aside, f"{entry.folder}-{n}")
            os.rename(os.path.join(results_dir, entry.folder), target)
        # 3. the primary folder to its new id, then the record with the new id
        if primary.folder != new_id:
            destination = os.path.join(results_dir, new_id)
            if os.path.exists(destination):
                raise MigrateError(f"{destination} exists and is not a run folder; move it away and migrate again")
            os.rename(os.path.join(results_dir, primary.folder), destination)
        record[RUN_ID] = new_id
        try:
            write_record(results_dir, record)
        except ValueError as err:
            raise RecordError(os.path.join(results_dir, new_id, RECORD_FILE), str(err)) from None
    return plan
