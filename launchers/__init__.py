"""Launchers: the run matrix as local processes, SLURM arrays or LSF arrays, behind one ``Executor``."""
from .core import DEFAULT_PARAMETERS, Executor, Job, ScriptExecutor, TaskCommand, parse_indices
from .errors import LaunchError
from .local import LocalExecutor
from .lsf import LsfExecutor
from .slurm import SlurmExecutor

#: scheduler name -> executor class
EXECUTORS = {"local": LocalExecutor, "slurm": SlurmExecutor, "lsf": LsfExecutor}


def get_executor(name: str):
    """The executor class of a scheduler name; LaunchError listing the valid names otherwise."""
    try:
        return EXECUTORS[name]
    except KeyError:
        raise LaunchError(f"unknown scheduler {name!r}; valid: {', '.join(EXECUTORS)}") from None


def alive_checkers():
    """scheduler name -> ``alive_jobs(job_ids)`` of its executor (for idempotent launches and status)."""
    return {name: cls.alive_jobs for name, cls in EXECUTORS.items()}


__all__ = [
    "DEFAULT_PARAMETERS", "Executor", "Job", "ScriptExecutor", "TaskCommand", "parse_indices", "LaunchError",
    "LocalExecutor", "LsfExecutor", "SlurmExecutor", "EXECUTORS", "get_executor", "alive_checkers",
]
