"""The exit codes of ``robustperf run``: what a launcher, a scheduler's requeue and a shell see of a run's end."""
from __future__ import annotations

import signal

from recipes.errors import UserError
from results.lock import EXIT_IN_FLIGHT

from ..interruption import preempted_exit_code

__all__ = ["EXIT_OK", "EXIT_ERROR", "EXIT_USER", "EXIT_DIVERGED", "EXIT_PREEMPTED", "EXIT_IN_FLIGHT",
           "preempted_exit_code"]

EXIT_OK = 0
#: an unexpected error (a bug, a crashed device): record failed, traceback printed.
EXIT_ERROR = 1
#: a user mistake (missing dataset, bad recipe): UserError, printed without a traceback.
EXIT_USER = UserError.exit_code
#: the training loss became NaN/inf: record failed with the reason.
EXIT_DIVERGED = 3
#: stopped by SIGTERM after a checkpoint: record running; run the same command again to resume. SIGUSR1 gives
#: 138; see :func:`preempted_exit_code`.
EXIT_PREEMPTED = 128 + int(signal.SIGTERM)
# EXIT_IN_FLIGHT (75, from results.lock): another live process holds the run's lock; nothing was changed.
