"""``robustperf``: the one console command of the suite.

Each subcommand lives in the room that owns its job and exposes ``HELP``, ``add_arguments(parser)`` and
``main(args) -> int``; those modules import nothing heavy at module level, so ``robustperf --help`` is instant.
User mistakes (:class:`recipes.UserError` and its subclasses) are printed without a traceback and exit 2.
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
    "launch": "launchers.cli_launch",
    "status": "launchers.cli_status",
    "tune": "launchers.cli_tune",
    "collect": "scaling.cli_collect",
    "analyze": "scaling.cli_analyze",
    "demo": "launchers.cli_demo",
}

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
    from recipes.errors import UserError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.main(args) or 0)
    except UserError as err:
        print(f"robustperf {args.command}: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print(f"robustperf {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `robustperf expand ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
