"""The submission folder's layout (the issue-23 design), in one place for ``robustperf submit`` and ``check``::

    SUBMISSION_DIR/
      submission.json                                   # SUBMISSION_KEYS
      systems/<system_id>.json                          # the system description (submissions.system)
      results/<system_id>/<benchmark>/run_<k>/          # k = 0..N-1, ordered by seed
          mllog.txt  result.json  recipe.yaml  train.log
      MANIFEST.sha256                                   # "<sha256>  <relative path>" of every other file, sorted
"""
from __future__ import annotations

import hashlib
import os
import re
from typing import Dict, Iterable, List, Tuple

#: submission.json's ``format``
FORMAT = "robustperf-submission/1"
#: submission.json's keys, each required
SUBMISSION_KEYS = ("format", "submitter", "division", "benchmark", "system", "robustperf_version",
                   "robustperf_commit", "created", "runs")
SUBMISSION_FILE = "submission.json"
MANIFEST = "MANIFEST.sha256"
SYSTEMS = "systems"
RESULTS = "results"
#: the files of each run folder, all required, nothing else
RUN_FILES = ("mllog.txt", "result.json", "recipe.yaml", "train.log")
#: the top-level entries of a submission folder, nothing else
TOP_LEVEL = (SUBMISSION_FILE, SYSTEMS, RESULTS, MANIFEST)
#: a name that is safe as one path component (system ids, benchmark ids, submitters in paths)
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RUN_FOLDER = re.compile(r"^run_(0|[1-9][0-9]{0,5})$")
_MANIFEST_LINE = re.compile(r"^([0-9a-f]{64})  (\S(?:.*\S)?)$")


def runs_folder(system: str, benchmark: str) -> str:
    """``results/<system>/<benchmark>``, relative to the submission folder."""
    return f"{RESULTS}/{system}/{benchmark}"


def run_folder(system: str, benchmark: str, k: int) -> str:
    return f"{runs_folder(system, benchmark)}/run_{k}"


def slug(text: str, limit: int = 64) -> str:
    """``text`` as a safe path component: runs of other characters become ``_`` (``1xAMD EPYC`` -> ``1xAMD_EPYC``)."""
    out = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._-")[:limit].strip("._-")
    return out or "system"


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                return h.hexdigest()
            h.update(block)


def manifest_text(digests: Dict[str, str]) -> str:
    """MANIFEST.sha256's text: ``<sha256>  <relative path>`` per file, sorted by path (``sha256sum -c`` reads it)."""
    return "".join(f"{digests[p]}  {p}\n" for p in sorted(digests))


def parse_manifest(text: str) -> Tuple[Dict[str, str], List[Tuple[int, str]]]:
    """``({path: sha256}, [(line number, problem)])`` of a manifest's text."""
    entries: Dict[str, str] = {}
    problems: List[Tuple[int, str]] = []
    for n, line in enumerate(text.splitlines(), 1):
        match = _MANIFEST_LINE.match(line)
        if not match:
            problems.append((n, f"not '<sha256>  <relative path>': {line[:80]!r}"))
        elif match.group(2) in entries:
            problems.append((n, f"{match.group(2)} is listed twice"))
        else:
            entries[match.group(2)] = match.group(1)
    return entries, problems


def files_under(folder: str, limit: int) -> Tuple[List[str], List[str]]:
    """``(files, odd)``: the regular files under ``folder`` as sorted relative paths (``/``-separated), and the
    entries that are neither a file nor a folder (symbolic links included, never followed); at most ``limit``
    entries are looked at (more raise ``OverflowError``)."""
    files: List[str] = []
    odd: List[str] = []
    stack = [""]
    seen = 0
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(folder, rel) if rel else folder) as it:
            entries: Iterable[os.DirEntry] = list(it)
        for entry in entries:
            seen += 1
            if seen > limit:
                raise OverflowError(seen)
            path = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_symlink():
                odd.append(path)
            elif entry.is_dir(follow_symlinks=False):
                stack.append(path)
            elif entry.is_file(follow_symlinks=False):
                files.append(path)
            else:
                odd.append(path)
    return sorted(files), sorted(odd)
