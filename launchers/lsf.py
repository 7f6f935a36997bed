"""LSF backend: one ``bsub`` array script per chunk of the matrix, chained with ``-w 'ended(<id>)'``.

LSF numbers array elements from 1 (``LSB_JOBINDEX``), so task k runs ``INDICES[k - 1]``. The warning
action (``-wa USR1 -wt <minutes>``) signals the job before its run limit so the run checkpoints. Arrays are
split at ``MAX_JOB_ARRAY_SIZE`` (from ``bparams -a`` when reachable, else 1000). ``bsub`` reads the script on
stdin, as LSF wants for ``#BSUB`` lines, and answers ``Job <123> is submitted to queue <normal>.``
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, Mapping, Optional, Sequence

from .core import ScriptExecutor
from .errors import LaunchError
from .query import run_query

LSF_DEFAULT_MAX_ARRAY_SIZE = 1000
_SUBMITTED = re.compile(r"Job <(\d+)> is submitted")
ALIVE_STATES = {"PEND", "RUN", "PSUSP", "USUSP", "SSUSP", "WAIT", "PROV"}
#: what bjobs says (with a non-zero status on some LSF versions) when the user simply has no jobs
_NO_JOBS = re.compile(r"No (?:unfinished |matching )?job(?:s)? found", re.IGNORECASE)


class LsfExecutor(ScriptExecutor):
    """Submits the matrix as LSF job arrays (``bsub < script``)."""

    name = "lsf"
    script_suffix = ".bsub"
    submit_via_stdin = True
    default_max_array_size = LSF_DEFAULT_MAX_ARRAY_SIZE
    array_task_format = "{array}[{task}]"
    _equivalence_dict: Dict[str, str] = {
        "job_name": "-J",
        "timeout_min": "-W",
        "partition": "-q",
        "account": "-P",
        "gpus_per_node": "-gpu",
        "cpus_per_task": "-n",
        "mem_gb": "-M",
        "signal_delay_s": "-wt",
    }

    _max_array_size_query = ["bparams", "-a"]

    @classmethod
    def _parse_max_array_size(cls, text: str) -> Optional[int]:
        match = re.search(r"MAX_JOB_ARRAY_SIZE\s*=\s*(\d+)", text)
        return int(match.group(1)) if match else None

    def _make_submission_file_text(self, indices: List[int]) -> str:
        p = self.parameters
        flag = self._equivalence_dict
        n = len(indices)
        throttle = f"%{int(p['max_parallel'])}" if p["max_parallel"] else ""
        warn_min = max(1, int(math.ceil(int(p["signal_delay_s"]) / 60)))
        lines = [
            "#!/bin/bash",
            f"# robustperf: {n} run(s) of the matrix as one LSF array; element k runs matrix index INDICES[k-1].",
            f'#BSUB {flag["job_name"]} "{self.job_name}[1-{n}]{throttle}"',
            # relative to the submission directory, the launch folder (no user text in directives)
            "#BSUB -o logs/%J.%I.out",
            f"#BSUB {flag['timeout_min']} {int(p['timeout_min'])}",
            f"#BSUB -wa USR1 {flag['signal_delay_s']} {warn_min}",
        ]
        if self.nodes > 1:  # the task's cores on each of its hosts: blaunch then starts one torchrun per host
            lines += [f"#BSUB {flag['cpus_per_task']} {self.nodes * int(p['cpus_per_task'])}",
                      f'#BSUB -R "span[ptile={int(p["cpus_per_task"])}]"']
        else:
            lines += [f"#BSUB {flag['cpus_per_task']} {int(p['cpus_per_task'])}", '#BSUB -R "span[hosts=1]"']
        if p["gpus_per_node"]:
            lines.append(f'#BSUB {flag["gpus_per_node"]} "num={int(p["gpus_per_node"])}"')
        if p["mem_gb"]:
            lines.append(f"#BSUB {flag['mem_gb']} {int(math.ceil(float(p['mem_gb']) * 1024))}MB")
        if p["partition"]:
            lines.append(f"#BSUB {flag['partition']} {p['partition']}")
        if p["account"]:
            lines.append(f"#BSUB {flag['account']} {p['account']}")
        lines += [f"#BSUB {d}" for d in p["directives"]]
        lines += self._script_body(indices, "$((LSB_JOBINDEX - 1))")
        return "\n".join(lines)

    def _rendezvous_lines(self) -> List[str]:
        """The job's hosts are the odd words of ``$LSB_MCPU_HOSTS`` (``host1 slots1 host2 slots2 ...``); ``blaunch
        -z`` starts one torchrun on each (LSF's own remote start, which tracks and signals them with the job); the
        first host holds the c10d rendezvous. Array elements share ``LSB_JOBID``: the index names each one."""
        return ["# Multi-node run: blaunch starts one torchrun on each host of the job; they meet at a c10d",
                "# rendezvous hosted on the first host, named by the job and its array element.",
                "RDZV_HOSTS=$(echo \"${LSB_MCPU_HOSTS:-}\" | awk '{for (i = 1; i < NF; i += 2) printf \"%s%s\", "
                "(i > 1 ? \" \" : \"\"), $i}')",
                'RDZV_HOST=${RDZV_HOSTS%% *}',
                "RDZV_PORT=$((20000 + (${LSB_JOBID:-0} * 1009 + ${LSB_JOBINDEX:-0}) % 20000))",
                'RDZV_ID="robustperf-${LSB_JOBID:-0}-${LSB_JOBINDEX:-0}"',
                'NODE_LAUNCH=(blaunch -z "$RDZV_HOSTS")']

    def _make_submission_command(self, script: str, depends_on: Optional[str]) -> List[str]:
        # The script goes on stdin (submit_via_stdin); LSF reads #BSUB lines only from there.
        command = ["bsub"]
        if depends_on:
            command += ["-w", f"ended({depends_on})"]
        return command

    @staticmethod
    def _get_job_id_from_submission_command(output: str) -> str:
        """``Job <123> is submitted to queue <normal>.`` -> ``'123'``."""
        match = _SUBMITTED.search(output)
        if not match:
            raise LaunchError(f"could not find 'Job <id> is submitted' in bsub's output {output!r}")
        return match.group(1)

    @classmethod
    def task_environment(cls, array_job_id: str, position: int) -> Dict[str, str]:
        return {"LSB_JOBID": str(array_job_id), "LSB_JOBINDEX": str(position + 1)}

    @classmethod
    def job_from_environment(cls, env: Mapping[str, str]) -> Optional[Dict[str, Optional[str]]]:
        """LSF sets ``LSB_JOBINDEX`` 0 outside an array; the array's job id is the task's own."""
        if not env.get("LSB_JOBID"):
            return None
        job_id, task = env["LSB_JOBID"], env.get("LSB_JOBINDEX")
        task = task if task not in (None, "", "0") else None
        return {"job_id": job_id, "array_job_id": job_id if task is not None else None, "array_task_id": task}

    @classmethod
    def alive_jobs(cls, job_ids: Sequence[str]) -> Optional[set]:
        """Job ids (plain or ``<job>[<index>]``) that ``bjobs`` lists as pending, running or suspended."""
        wanted = {str(j) for j in job_ids if j}
        if not wanted:
            return set()
        command = ["bjobs", "-a", "-noheader", "-o", "jobid jobindex stat delimiter='|'"]
        proc = run_query(command)  # a query that hangs raises: never read as "nothing alive"
        if proc is None:
            return None
        if proc.returncode != 0 and not _NO_JOBS.search((proc.stderr or "") + (proc.stdout or "")):
            # A transient failure is not "nothing alive": that would submit queued runs a second time.
            raise LaunchError("bjobs failed; cannot tell which runs are still queued", command=command,
                              stderr=proc.stderr or proc.stdout, returncode=proc.returncode)
        alive = set()
        for line in proc.stdout.splitlines():
            parts = line.strip().split("|")
            if len(parts) == 3 and parts[2] in ALIVE_STATES:
                alive.add(parts[0])
                alive.add(f"{parts[0]}[{parts[1]}]")
        return wanted & alive
