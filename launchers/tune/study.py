"""The study of ``robustperf tune``: where it lives, its search space as optuna distributions, opening it.

The study is kept in optuna's ``JournalStorage`` with a file backend, ``<results>/_tune/<folder>/journal.log``
(append-only, locked; safe on a shared file system), one folder per study name (:func:`tune_folder`). Its
objectives are record fields; a study opened again must have the recipe's objectives and directions.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import warnings
from typing import Any, Dict

from recipes.errors import RecipeError, UserError, nearest
from results import FIELDS, make_folder, refuse_links

TUNE_DIR = "_tune"
JOURNAL = "journal.log"
#: the lock of the study's one driver (:class:`results.lock.RunLock`), beside the journal
DRIVER_LOCK = "driver.lock"
#: trial user attributes
RUN_ID_ATTR = "run_id"
REASON_ATTR = "failure_reason"


class TuneError(UserError):
    """A recipe that cannot be tuned, or a study that does not fit its recipe."""


#: a study name that is its own folder name (as before study folders were made unique): no other name maps there
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+-]{0,79}")
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9_.+-]")


def tune_folder(results_dir: str, name: str) -> str:
    """``<results>/_tune/<folder>`` of the study ``name``; distinct names never share a folder.

    A plain name (letters, digits, ``_.+-``, not starting with ``.``, at most 80 characters) is its own folder;
    any other name gets its slug (other characters as ``_``) with ``~`` and 8 hex digits of its SHA-256, which
    no plain name has. A study made before (in its name's bare slug, which ``study x`` and ``study_x`` shared)
    is still found there; a plain name whose folder holds only such another study gets a hashed folder too.
    """
    root = os.path.join(os.path.abspath(results_dir), TUNE_DIR)
    slug = _NOT_PLAIN.sub("_", name)
    hashed = os.path.join(root, f"{slug[:71]}~{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}")
    if _PLAIN_NAME.fullmatch(name):
        plain = os.path.join(root, name)
        others = _study_names(plain)
        return hashed if others and name not in others else plain
    legacy = os.path.join(root, slug[:80])
    return legacy if not os.path.lexists(hashed) and name in _study_names(legacy) else hashed


def _study_names(folder: str) -> set:
    """The names of the studies created in ``folder/journal.log`` (empty when there is none)."""
    names = set()
    try:
        with open(os.path.join(folder, JOURNAL), "rb") as fh:
            for line in fh:
                if line.startswith(b'{"op_code":0,'):  # CREATE_STUDY, as optuna's JournalStorage writes it
                    with contextlib.suppress(ValueError, AttributeError):
                        names.add(json.loads(line).get("study_name"))
    except OSError:
        pass
    return names


def storage(folder: str):
    """The study's optuna storage: a JournalStorage on ``folder/journal.log`` (file lock, atomic appends).

    Raises:
        UnsafePathError: the study folder, ``_tune`` above it, or a file in the folder is a symbolic link (optuna
            would append through it).
    """
    # optuna deferred here and below: importing launchers.tune must stay cheap (optuna takes ~0.3 s)
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

    make_folder(folder, root=os.path.dirname(os.path.dirname(folder)))  # <results>/_tune/<study>: no link
    refuse_links(folder, what="study folder")
    path = os.path.join(folder, JOURNAL)
    return JournalStorage(JournalFileBackend(path, lock_obj=JournalFileOpenLock(path)))


def distributions(spec) -> Dict[str, Any]:
    """optuna distributions of the search space, by run-config path."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: Dict[str, Any] = {}
    for dim in spec.space:
        if dim.kind == "choice":
            out[dim.path] = CategoricalDistribution(list(dim.choices))
        elif dim.kind in ("int", "int_log_uniform"):
            out[dim.path] = IntDistribution(int(dim.low), int(dim.high), log=dim.kind == "int_log_uniform")
        else:
            out[dim.path] = FloatDistribution(float(dim.low), float(dim.high), log=dim.kind == "log_uniform")
    return out


def check_objectives(recipe) -> None:
    """Objective names must be numeric record fields (``accuracy.clean``, ``timing.train_seconds``, ...)."""
    for name, _ in recipe.search.objectives:
        if name not in FIELDS:
            hint = nearest(name, FIELDS)
            raise RecipeError("not a record field" + (f" (did you mean '{hint}'?)" if hint else ""),
                              file=recipe.path, key=f"search.objectives.{name}", value=name)


def open_study(recipe, folder: str, *, create: bool = True):
    """Load (or create) the recipe's study; its objectives and directions must match the recipe's."""
    import optuna
    from optuna.samplers import TPESampler

    spec = recipe.search
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = storage(folder)
    # A resumed driver must not replay the random start-up draws of the first: seed by the trials so far.
    done = 0
    try:
        summaries = optuna.get_all_study_summaries(store)
        done = next((s.n_trials for s in summaries if s.study_name == recipe.name), 0)
    except Exception:  # noqa: BLE001 - an empty journal
        done = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = TPESampler(n_startup_trials=spec.startup_trials, multivariate=True, constant_liar=True,
                             seed=(spec.seed + done) % 2**32)
    if not create:
        try:
            study = optuna.load_study(study_name=recipe.name, storage=store, sampler=sampler)
        except KeyError:
            raise TuneError(f"no study of recipe '{recipe.name}' in {folder}; run `robustperf tune` first") from None
    else:
        study = optuna.create_study(study_name=recipe.name, storage=store, sampler=sampler,
                                    directions=spec.directions, load_if_exists=True)
    names = study.user_attrs.get("objectives")
    if names is None:
        study.set_user_attr("objectives", spec.objective_names)
        study.set_user_attr("space", {d.path: d.to_json() for d in spec.space})
        study.set_user_attr("startup_trials", spec.startup_trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(spec.objective_names)
    elif list(names) != spec.objective_names or [d.name.lower() for d in study.directions] != spec.directions:
        raise TuneError(f"{folder}: the study's objectives {names} differ from the recipe's "
                        f"{spec.objective_names}; use another --results directory or recipe name")
    return study


def resume_trial(study, frozen):
    """A live ``optuna.trial.Trial`` for a trial left running by an earlier driver (as ``Study.ask`` builds
    one), so user attributes can still be set on it before it is told."""
    import optuna

    # optuna has no public way from a FrozenTrial to its Trial; Study.ask builds it from the same id
    return optuna.trial.Trial(study, frozen._trial_id)
