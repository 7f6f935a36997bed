"""The system description's parts that need no trained run: detection on this host (torch-free), the CUDA build
read from torch's version, the system id as a safe folder name, and the ``--system`` file's validation for any
YAML shape (a property test: every input is accepted or refused with a SubmissionError naming the file)."""
from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from submissions.errors import SubmissionError
from submissions.layout import SAFE_NAME, slug
from submissions.system import _cuda_of, default_name, detect, read_system_file
from tests.conftest import ROOT


def test_detection_reads_this_host_without_importing_torch():
    code = ("import sys, json; from submissions.system import detect; d = detect(); "
            "print(json.dumps({'.'.join(k): v for k, v in d.items()})); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "False"
    found = detect()
    assert found[("hardware", "cpu_count")] == os.cpu_count()
    assert found[("software", "torch")] == importlib.metadata.version("torch")
    assert found[("hardware", "memory_gb")] > 0
    if "+cpu" in importlib.metadata.version("torch"):
        assert found[("software", "cuda")] == "none"


def test_cuda_build_from_torchs_version_tag():
    assert _cuda_of("2.4.0+cu121") == ("12.1", "derived")
    assert _cuda_of("2.6.0+cu118") == ("11.8", "derived")
    assert _cuda_of("2.13.0+cpu") == ("none", "derived")
    assert _cuda_of("2.4.0")[0] is None and _cuda_of(None)[0] is None


@given(st.text(max_size=300))
def test_a_system_id_is_always_a_safe_folder_name(name):
    assert SAFE_NAME.match(slug(name))


def test_default_names():
    assert default_name({"gpu_count": 2, "gpu_model": "NVIDIA H200"}) == "2xNVIDIA H200"
    assert slug(default_name({"gpu_count": 0, "cpu_model": "AMD EPYC", "cpu_count": 2})) == "1xAMD_EPYC_2c"


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=20))
_yaml_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                              st.dictionaries(st.text(max_size=12), inner,
                                                                              max_size=3)), max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(st.one_of(_yaml_values, st.dictionaries(st.sampled_from(["name", "notes", "hardware", "software", "x"]),
                                               _yaml_values, max_size=4)))
def test_any_system_file_is_accepted_or_refused_naming_the_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("system") / "SYSTEM.yaml"
    path.write_text(yaml.safe_dump(data))
    try:
        out = read_system_file(str(path))
    except SubmissionError as err:
        assert str(err).startswith(f"{path}: ") and "\n" not in str(err)
    else:
        assert isinstance(out, dict) and set(out) <= {"name", "notes", "hardware", "software"}
