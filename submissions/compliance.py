"""MLPerf's official log checker (``mlperf_logging.compliance_checker``) run on a log with the suite's shipped
ruleset (:data:`RULES`, ``submissions/rules/common.yaml``), in this process, its findings returned as lines.

The same check from a shell, as any submitter can run it::

    python -m mlperf_logging.compliance_checker --usage training --ruleset 6.1.0 \
        --config "$(python -c 'import submissions.compliance as c; print(c.RULES)')" mllog.txt

The checker's own API is used (``make_checker``, ``check_file``); its messages (failed checks, missing or repeated
keys, parsing errors) are what it would print. It logs through the root logger; the run captures those records,
so nothing reaches the terminal, and leaves the logger as it found it.
"""
from __future__ import annotations

import logging
import os
from typing import List

#: the ruleset shipped with the suite (the checker's YAML format)
RULES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rules", "common.yaml")
#: the checker's usage and the ruleset version whose log format (parser) and common rules ours extends
USAGE = "training"
RULESET = "6.1.0"
#: a finding's length at most (a failed check quotes its log line, which can be long)
_MAX_MESSAGE = 400


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def check_log(path: str, rules: str = RULES) -> List[str]:
    """The official checker's findings on the MLPerf log ``path`` with ``rules``: ``[]`` when it passes, else
    one string per failure or warning (its own words, first line of each; the context dump it adds is left out).
    """
    from mlperf_logging.compliance_checker import mlp_compliance

    checker = mlp_compliance.make_checker(USAGE, RULESET, False, False)
    del mlp_compliance.enqueued_configs[:]  # module state left by an earlier, failed check
    root = logging.getLogger()
    handler = _Collect()
    saved = root.handlers[:], root.level
    root.handlers[:] = [handler]  # also stops logging.warning() from installing a stderr handler
    root.setLevel(logging.WARNING)
    try:
        valid = checker.check_file(path, rules)
    finally:
        root.handlers[:], _ = saved[0], root.setLevel(saved[1])
        del mlp_compliance.enqueued_configs[:]
    messages = [*checker.warnings.values(), *checker.overwritable.values(), *checker.not_overwritable]
    out = [_first_lines(m) for m in messages]
    parse = [line.strip() for line in handler.lines if line.strip().startswith("^^")]
    out += [f"parsing error: {p.lstrip('^ ').strip()}" for p in parse]
    if not valid and not out:
        out.append("the checker failed without a message")
    return out


def _first_lines(message: str) -> str:
    """A checker message on one line, without its state dump (``current context[s]=...``) and the log line it
    quotes (it names the line's number)."""
    kept = []
    for line in str(message).strip().splitlines():
        if line.startswith(("current context", "current line")):
            break
        if not line.startswith(":::MLLOG"):  # the quoted log line: the finding names its line number
            kept.append(line.strip().rstrip(":"))
    text = " | ".join(k for k in kept if k)
    return text if len(text) <= _MAX_MESSAGE else text[:_MAX_MESSAGE - 3] + "..."
