"""hardware_info / software_info: the record's hardware and software groups, read without heavy imports."""
from __future__ import annotations

import importlib.metadata
import platform
import socket
import subprocess
import sys

import pytest

from benchmarks.measurement import device_model, hardware_info, software_info
from results import TEMPLATE


def test_software_versions_come_from_package_metadata():
    info = software_info()
    assert set(info) == set(TEMPLATE["software"])
    assert info["python"] == platform.python_version()
    for key in ("torch", "timm", "deepspeed", "pyautoattack"):
        assert info[key] == importlib.metadata.version(key)


def test_hardware_of_a_cpu_run():
    info = hardware_info(device_indices=[])
    assert set(info) == set(TEMPLATE["hardware"])
    assert info["gpus"] == [] and info["count"] == 0 and info["host"] == socket.gethostname()
    assert isinstance(info["cpu"], str) and info["cpu"]
    assert device_model(info) == "cpu"


def test_reading_them_imports_nothing_heavy():
    code = ("import sys, benchmarks.measurement as m; m.hardware_info(); m.software_info(); "
            "print(sorted(k for k in ('torch', 'deepspeed', 'timm', 'wandb') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.gpu
def test_hardware_lists_the_visible_gpus():
    import torch

    info = hardware_info()
    assert info["count"] == torch.cuda.device_count() == len(info["gpus"])
    assert info["gpus"][0] == torch.cuda.get_device_name(0)
