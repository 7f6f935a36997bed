"""The launcher's exception: a scheduler (or its command) refused what we asked.

Compare ``FailedJobError`` in ``submitit/core/utils.py``: the message carries the command as it was run,
the scheduler's stderr verbatim and, where there is one, the script that was submitted, so a user can
rerun the exact command by hand.
"""
from __future__ import annotations

import shlex
from typing import Optional, Sequence

from robustperf_errors import UserError


class LaunchError(UserError):
    """A scheduler command failed or answered something we cannot parse.

    Args:
        message: what went wrong, in words.
        command: the argv that was run (shown shell-quoted), if any.
        stderr: the command's stderr (or output), shown verbatim.
        script: the submitted batch script, if any.
        returncode: the command's exit status, if it ran.
    """

    def __init__(self, message: str, *, command: Optional[Sequence[str]] = None, stderr: Optional[str] = None,
                 script: Optional[str] = None, returncode: Optional[int] = None):
        self.message = message
        self.command = list(command) if command is not None else None
        self.stderr = stderr
        self.script = script
        self.returncode = returncode
        super().__init__(self._format())

    def _format(self) -> str:
        text = self.message
        if self.command is not None:
            text += f"\n  command: {shlex.join(self.command)}"
            if self.returncode is not None:
                text += f" (exit status {self.returncode})"
        if self.script is not None:
            text += f"\n  script: {self.script}"
        if self.stderr:
            text += "\n  stderr:\n" + "\n".join("    " + line for line in self.stderr.rstrip().splitlines())
        return text
