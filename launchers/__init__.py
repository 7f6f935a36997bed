"""Launchers: the run matrix as local processes or scheduler array jobs, behind one ``Executor``.

The backends (``local``, ``slurm``, ``lsf`` and any a package registers) are plug-ins of the catalog
(:mod:`launchers.catalog`); :func:`get_executor` finds one by name.
"""
from .backends import QUEUES, get_executor
from .core import DEFAULT_PARAMETERS, Executor, Job, ScriptExecutor, TaskCommand, parse_indices
from .errors import LaunchError

__all__ = [
    "DEFAULT_PARAMETERS", "Executor", "Job", "ScriptExecutor", "TaskCommand", "parse_indices", "LaunchError",
    "QUEUES", "get_executor",
]
