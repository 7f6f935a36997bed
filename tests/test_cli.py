"""The one console command: every subcommand exists with a useful --help, and start-up stays light."""
from __future__ import annotations

import subprocess
import sys

import pytest

import robustperf


def test_every_command_module_exists():
    import importlib.util

    missing = [m for m in robustperf.COMMANDS.values() if importlib.util.find_spec(m) is None]
    assert missing == []


@pytest.mark.parametrize("command", list(robustperf.COMMANDS))
def test_subcommand_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        robustperf.main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert f"robustperf {command}" in out and len(out.splitlines()) >= 4


def test_top_level_help_lists_commands_and_imports_no_torch():
    code = ("import sys, robustperf\n"
            "try:\n    robustperf.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'timm', 'deepspeed', 'wandb', 'matplotlib', 'sklearn') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    for command in robustperf.COMMANDS:
        assert command in proc.stdout
    assert "HEAVY []" in proc.stdout


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        robustperf.main(["trian"])
    assert info.value.code == 2
