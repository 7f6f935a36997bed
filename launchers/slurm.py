"""SLURM backend: one ``sbatch`` array script per chunk of the matrix, chained with ``afterany`` dependencies.

The script asks SLURM to signal the batch shell (``--signal=B:USR1@<s>``) before the wall-time; the shell
passes the signal to the run, which checkpoints and exits, and the next link of the chain resumes it.
Arrays larger than the cluster's ``MaxArraySize`` are split. ``sbatch --parsable`` prints ``<id>[;cluster]``.
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, Mapping, Optional, Sequence

from .core import ScriptExecutor
from .errors import LaunchError
from .query import run_query

#: MaxArraySize when the controller cannot be asked (SLURM's own default).
SLURM_DEFAULT_MAX_ARRAY_SIZE = 1001
#: squeue states of a job that is still going to run or is running.
ALIVE_STATES = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD",
                "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED", "RESV_DEL_HOLD"}


class SlurmExecutor(ScriptExecutor):
    """Submits the matrix as SLURM job arrays (``sbatch``)."""

    name = "slurm"
    script_suffix = ".sbatch"
    default_max_array_size = SLURM_DEFAULT_MAX_ARRAY_SIZE
    _equivalence_dict: Dict[str, str] = {
        "job_name": "job-name",
        "timeout_min": "time",
        "partition": "partition",
        "account": "account",
        "gpus_per_node": "gpus-per-node",
        "cpus_per_task": "cpus-per-task",
        "mem_gb": "mem",
        "signal_delay_s": "signal",
    }

    _max_array_size_query = ["scontrol", "show", "config"]

    @classmethod
    def _parse_max_array_size(cls, text: str) -> Optional[int]:
        return parse_max_array_size(text)

    def _make_submission_file_text(self, indices: List[int]) -> str:
        p = self.parameters
        flag = self._equivalence_dict
        n = len(indices)
        throttle = f"%{int(p['max_parallel'])}" if p["max_parallel"] else ""
        lines = [
            "#!/bin/bash",
            f"# robustperf: {n} run(s) of the matrix as one SLURM array; task k runs matrix index INDICES[k].",
            f"#SBATCH --{flag['job_name']}={self.job_name}",
            f"#SBATCH --array=0-{n - 1}{throttle}",
            # relative to the submission directory, the launch folder (no user text in directives)
            "#SBATCH --output=logs/%A_%a.out",
            f"#SBATCH --{flag['timeout_min']}={int(p['timeout_min'])}",
            f"#SBATCH --{flag['signal_delay_s']}=B:USR1@{int(p['signal_delay_s'])}",
            *([f"#SBATCH --nodes={self.nodes}", "#SBATCH --ntasks-per-node=1"] if self.nodes > 1 else
              ["#SBATCH --nodes=1", "#SBATCH --ntasks=1"]),
            f"#SBATCH --{flag['cpus_per_task']}={int(p['cpus_per_task'])}",
        ]
        if p["gpus_per_node"]:
            lines.append(f"#SBATCH --{flag['gpus_per_node']}={int(p['gpus_per_node'])}")
        if p["mem_gb"]:
            lines.append(f"#SBATCH --{flag['mem_gb']}={_mem_mb(p['mem_gb'])}M")
        if p["partition"]:
            lines.append(f"#SBATCH --{flag['partition']}={p['partition']}")
        if p["account"]:
            lines.append(f"#SBATCH --{flag['account']}={p['account']}")
        lines += [f"#SBATCH {d}" for d in p["directives"]]
        lines += self._script_body(indices, "$SLURM_ARRAY_TASK_ID")
        return "\n".join(lines)

    #: SIGTERM to srun would end the job step (its tasks killed KillWait later, no checkpoint): the signal goes to
    #: the step's processes instead, every node's torchrun and its workers, as a plain signal
    _signal_nodes = 'scancel --signal="$1" "$SLURM_JOB_ID" 2>/dev/null'

    def _rendezvous_lines(self) -> List[str]:
        """srun starts one torchrun per node (``--ntasks-per-node=1``), each with the task's cores; the first node
        of ``$SLURM_JOB_NODELIST`` hosts the c10d rendezvous, on a port and under an id taken from the job id."""
        cpus = int(self.parameters["cpus_per_task"])
        return ["# Multi-node run: srun starts one torchrun on each node; they meet at a c10d rendezvous hosted on",
                "# the job's first node, named by the job (every array task is a job of its own).",
                'RDZV_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
                "RDZV_PORT=$((20000 + ${SLURM_JOB_ID:-0} % 20000))",
                'RDZV_ID="robustperf-${SLURM_JOB_ID:-0}"',
                f"NODE_LAUNCH=(srun --nodes={self.nodes} --ntasks-per-node=1 --cpus-per-task={cpus})"]

    def _make_submission_command(self, script: str, depends_on: Optional[str]) -> List[str]:
        command = ["sbatch", "--parsable"]
        if depends_on:
            command.append(f"--dependency=afterany:{depends_on}")
        return command + [script]

    @staticmethod
    def _get_job_id_from_submission_command(output: str) -> str:
        """``sbatch --parsable`` prints ``<job id>`` or ``<job id>;<cluster>``."""
        for line in output.strip().splitlines()[::-1]:
            match = re.fullmatch(r"\s*(\d+)(?:;\S+)?\s*", line)
            if match:
                return match.group(1)
        raise LaunchError(f"could not find a job id in sbatch's output {output!r}")

    @classmethod
    def task_environment(cls, array_job_id: str, position: int) -> Dict[str, str]:
        return {"SLURM_JOB_ID": str(array_job_id), "SLURM_ARRAY_JOB_ID": str(array_job_id),
                "SLURM_ARRAY_TASK_ID": str(position)}

    @classmethod
    def job_from_environment(cls, env: Mapping[str, str]) -> Optional[Dict[str, Optional[str]]]:
        if not env.get("SLURM_JOB_ID"):
            return None
        return {"job_id": env["SLURM_JOB_ID"], "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
                "array_task_id": env.get("SLURM_ARRAY_TASK_ID")}

    @classmethod
    def alive_jobs(cls, job_ids: Sequence[str]) -> Optional[set]:
        """Job ids (plain or ``<array>_<task>``) that squeue still lists as pending or running."""
        wanted = {str(j) for j in job_ids if j}
        if not wanted:
            return set()
        command = ["squeue", "--noheader", "--array", "--states=all", "--format=%A|%i|%F|%T"]
        proc = run_query(command)  # a query that hangs raises: never read as "nothing alive"
        if proc is None:
            return None
        if proc.returncode != 0:
            raise LaunchError("squeue failed; cannot tell which runs are still queued", command=command,
                              stderr=proc.stderr, returncode=proc.returncode)
        return wanted & parse_squeue_alive(proc.stdout)


def parse_squeue_alive(text: str) -> set:
    """Ids that name a live job in ``squeue --format=%A|%i|%F|%T`` output: each task's own id, its
    ``<array>_<task>`` name and the array job id while any task of the array is alive."""
    alive = set()
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4 or parts[3] not in ALIVE_STATES:
            continue
        job_id, name, array_id, _ = parts
        alive.update(x for x in (job_id, name, array_id) if x and x not in ("N/A",))
    return alive


def parse_max_array_size(config_text: str) -> int:
    """``MaxArraySize`` from ``scontrol show config`` output (1001 when absent)."""
    match = re.search(r"^\s*MaxArraySize\s*=\s*(\d+)", config_text, re.MULTILINE)
    return int(match.group(1)) if match else SLURM_DEFAULT_MAX_ARRAY_SIZE


def _mem_mb(mem_gb: float) -> int:
    return int(math.ceil(float(mem_gb) * 1024))
