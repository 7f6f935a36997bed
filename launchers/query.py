"""Asking a scheduler's queue which jobs are alive (``squeue``, ``bjobs``): an answer or an error, never a guess.

A query that cannot be started, fails or does not answer in time must stop a launch: reading it as "nothing
alive" would submit queued runs a second time. Only a command that is not installed here (this machine is no
client of that scheduler) gives None: its runs cannot be asked about.
"""
from __future__ import annotations

import os
import signal
import subprocess
from typing import Optional, Sequence

from .errors import LaunchError

__all__ = ["QUERY_TIMEOUT_S", "run_query"]

#: seconds a queue query (squeue, bjobs) may take; one that does not answer stops the launch (never "nothing alive")
QUERY_TIMEOUT_S = 60.0


def run_query(command: Sequence[str]) -> Optional[subprocess.CompletedProcess]:
    """Run a scheduler's queue query (text output); None when its command is not installed here.

    Raises:
        LaunchError: it could not be started, or did not answer within :data:`QUERY_TIMEOUT_S` (its whole
            process group is killed: a site's wrapper script and what it started, too).
    """
    try:
        proc = subprocess.Popen(list(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise LaunchError(f"{command[0]} could not be started ({err.strerror or err}); cannot tell which runs are "
                          "still queued", command=command) from None
    try:
        out, err_text = proc.communicate(timeout=QUERY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            proc.kill()
        try:
            proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a descendant that left the group still holds the pipes
            pass
        raise LaunchError(f"{command[0]} did not answer within {QUERY_TIMEOUT_S:g} s; cannot tell which runs are "
                          "still queued", command=command) from None
    return subprocess.CompletedProcess(list(command), proc.returncode, out, err_text)
