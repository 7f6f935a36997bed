"""The built-in launcher backends (``launch.scheduler``), declared once: name, code, submission command.

Registered under the ``robustperf.executors`` entry-point group in the project's ``setup.cfg`` (see
:mod:`recipes.catalog`).
"""
from recipes.catalog import ExecutorEntry

LOCAL = ExecutorEntry(name="local", impl="launchers.local:LocalExecutor",
                      doc="runs the matrix here, max_parallel at a time")
SLURM = ExecutorEntry(name="slurm", impl="launchers.slurm:SlurmExecutor",
                      doc="SLURM array jobs (sbatch), chained for resumes past the wall time")
LSF = ExecutorEntry(name="lsf", impl="launchers.lsf:LsfExecutor",
                    doc="LSF array jobs (bsub), chained for resumes past the wall time")
