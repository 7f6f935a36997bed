"""``robustperf``: the one console command of the suite.

Each subcommand lives in the room that owns its job and exposes ``HELP``, ``add_arguments(parser)`` and
``main(args) -> int``; those modules import nothing heavy at module level, so ``robustperf --help`` is instant.
User mistakes (:class:`robustperf_errors.UserError` and its subclasses) are printed without a traceback and exit 2.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from typing import List, Optional

#: subcommand -> module implementing it, in the order of the pipeline.
COMMANDS = {
    "expand": "recipes.cli_expand",
    "profile": "benchmarks.cli_profile",
    "run": "benchmarks.cli_run",
    "evaluate": "benchmarks.cli_evaluate",
    "infer": "benchmarks.cli_infer",
    "zoo": "benchmarks.zoo.cli",
    "launch": "launchers.cli_launch",
    "status": "launchers.cli_status",
    "tune": "launchers.cli_tune",
    "migrate": "results.cli_migrate",
    "collect": "scaling.cli_collect",
    "analyze": "scaling.cli_analyze",
    "submit": "submissions.cli_submit",
    "check": "submissions.cli_check",
    "summarize": "submissions.cli_summarize",
    "board": "submissions.cli_board",
    "demo": "robustperf_demo",
    "plugins": "recipes.cli_plugins",
    "benchmarks": "recipes.cli_benchmarks",
}

#: modules registering plug-ins the recipes use while they load (name checks of models and optimizers)
PLUGINS = ("benchmarks.names",)

DESCRIPTION = """Measure what adversarial robustness costs (FLOPs, energy, $, CO2) and fit its scaling laws.

pipeline: recipe --expand--> run matrix --launch/run--> result records --collect/analyze--> report and figures"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robustperf", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, module_name in COMMANDS.items():
        if importlib.util.find_spec(module_name.split(".")[0]) is None or importlib.util.find_spec(module_name) is None:
            continue  # tests/test_cli.py requires every command to exist; this keeps a partial checkout usable
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "__doc__", None) or module.HELP,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("robustperf")
    except Exception:  # noqa: BLE001 - running from a source tree that is not installed
        return "unknown"


def main(argv: Optional[List[str]] = None) -> int:
    from robustperf_errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    for plugin in PLUGINS:
        if importlib.util.find_spec(plugin.split(".")[0]) is not None:
            importlib.import_module(plugin)
    try:
        if importlib.util.find_spec("recipes") is not None:  # a bad ROBUSTPERF_MAX_* is refused before any work
            from recipes.limits import check_environment

            check_environment()
        return int(args._module.main(args) or 0)
    except UserError as err:
        print(f"robustperf {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"robustperf {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `robustperf expand ... | head`
        return 0
    except OSError as err:
        message = file_system_message(err, _written_folder(args))
        if message is None:
            raise
        print(f"robustperf {args.command}: error: {message}", file=sys.stderr)
        return 2


#: errno -> what the user can do; a file-system refusal is the machine's state, not a bug: one line, exit 2
_FS_HINTS = {
    "ENOSPC": "the disk is full: free space or write elsewhere (--results / -o)",
    "EDQUOT": "the disk quota is exhausted: free space or write elsewhere (--results / -o)",
    "EROFS": "the file system is read-only: write elsewhere (--results / -o)",
    "EACCES": "permission denied: write elsewhere (--results / -o) or fix the permissions",
    "EPERM": "operation not permitted: write elsewhere (--results / -o) or fix the permissions",
    "ENOTDIR": "a part of the path is a file, not a folder",
    "EISDIR": "a folder is in the way of a file",
    "ENAMETOOLONG": "the path is too long",
    "ENOENT": "no such file or folder",
}


#: the options naming the folder or file a command writes, in the order they are looked for
_WRITTEN = ("results", "results_dir", "run_dir", "output", "out")


def _written_folder(args) -> Optional[str]:
    """Where the command writes, from its arguments (None when no option names it)."""
    return next((str(getattr(args, name)) for name in _WRITTEN if getattr(args, name, None)), None)


def file_system_message(err: OSError, written: Optional[str] = None):
    """One line for an OSError that is the file system refusing (disk full, read-only, ...), else None.

    The line names the file; when the system named none (a write or fsync of an open file), the folder the
    command writes (``written``, e.g. its ``--results``), never a bare "?"."""
    import errno

    name = errno.errorcode.get(err.errno or -1)
    if name not in _FS_HINTS or (name == "ENOENT" and not err.filename):
        return None
    if err.filename is not None:
        where = str(err.filename) + (f" -> {err.filename2}" if getattr(err, "filename2", None) else "")
    elif written:
        where = f"a file under {written}"
    else:
        where = "a file this command writes (the system did not say which)"
    return f"{where}: {err.strerror or name} ({_FS_HINTS[name]})"


if __name__ == "__main__":
    sys.exit(main())
