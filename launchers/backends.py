"""The launcher backends by name: lookups in the plug-in catalog (``robustperf.executors``), no list of them here.

A backend is one module with an :class:`~launchers.core.Executor` subclass and one
:class:`recipes.catalog.ExecutorEntry` naming it, registered under the ``robustperf.executors`` entry-point group
(the built-ins': :mod:`launchers.catalog`). ``launch.scheduler``, ``--scheduler`` of ``launch`` and ``tune``, the
launch, its idempotence checks and ``status`` find it here and ask its class what they need to know.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Type

from recipes import LaunchConfig, catalog

from .core import Executor
from .errors import LaunchError

KIND = "executors"
#: The backend of a record or ledger that names none (a run started by hand): ``launch.scheduler``'s default.
DEFAULT_SCHEDULER: str = LaunchConfig().scheduler


def get_executor(name: str) -> Type[Executor]:
    """The executor class registered as ``name``; LaunchError naming the registered ones otherwise."""
    try:
        entry = catalog.get(KIND, name)
    except catalog.PluginError as err:
        raise LaunchError(f"unknown scheduler {name!r}: {err}") from None
    cls = entry.load()
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise LaunchError(f"executor {name!r} ({entry.impl}) is not a subclass of launchers.core.Executor")
    return cls


def find_executor(name: Optional[str]) -> Optional[Type[Executor]]:
    """The executor class registered as ``name`` (a record's ``job.scheduler``; None: :data:`DEFAULT_SCHEDULER`),
    or None when no installed package registers it."""
    name = DEFAULT_SCHEDULER if name is None else name
    if catalog.find(KIND, name) is None:
        return None
    return get_executor(name)


class JobQueues(Mapping[str, Callable[..., Any]]):
    """Scheduler name -> ``alive_jobs(job_ids)`` of its executor, read from the catalog at each use (a backend
    registered later is asked too); what :func:`launchers.plan.plan_launch` and ``status`` ask by default."""

    def __getitem__(self, name: str) -> Callable[..., Any]:
        cls = find_executor(name)
        if cls is None:
            raise KeyError(name)
        return cls.alive_jobs

    def __iter__(self) -> Iterator[str]:
        return iter(catalog.names(KIND))

    def __len__(self) -> int:
        return len(catalog.names(KIND))


#: every registered backend's queue, asked by name
QUEUES = JobQueues()


def job_environment(env: Mapping[str, str]) -> Dict[str, Optional[str]]:
    """The record's ``scheduler``, ``job_id``, ``array_job_id`` and ``array_task_id`` of a process with environment
    ``env``: the first backend that recognises its variables, else :data:`DEFAULT_SCHEDULER` without ids."""
    for name in catalog.names(KIND):
        found = get_executor(name).job_from_environment(env)
        if found is not None:
            return {"scheduler": name, **found}
    return {"scheduler": DEFAULT_SCHEDULER, "job_id": None, "array_job_id": None, "array_task_id": None}
