"""``robustperf profile``: the published sizes of the reference WideResNets, through the real CLI."""
from __future__ import annotations

import json

import pytest

import robustperf


def _profile(capsys, *argv):
    assert robustperf.main(["profile", *argv]) == 0
    return capsys.readouterr().out


def test_wrn_28_10_json(capsys):
    out = json.loads(_profile(capsys, "wrn-28-10", "--json"))
    assert set(out) == {"model", "params", "param_bytes", "forward_macs", "forward_flops"}
    assert out["model"] == "wrn-28-10" and out["params"] == 36_479_194
    # parameter memory per storage dtype: 4, 2, 2, 1, 1 bytes a parameter (146 MB in fp32)
    assert out["param_bytes"] == {"fp32": 4 * 36_479_194, "bf16": 2 * 36_479_194, "fp16": 2 * 36_479_194,
                                  "fp8": 36_479_194, "int8": 36_479_194}
    assert out["forward_flops"] == pytest.approx(10.5e9, rel=0.01)
    assert out["forward_macs"] == pytest.approx(out["forward_flops"] / 2, rel=0.01)


@pytest.mark.slow
def test_wrn_70_16_gelu(capsys):
    out = json.loads(_profile(capsys, "wrn-70-16-gelu", "--json"))
    assert out["params"] == pytest.approx(266.8e6, rel=0.001)
    assert out["forward_flops"] == pytest.approx(77.6e9, rel=0.01)


def test_timm_names_and_input_shape(capsys):
    small = json.loads(_profile(capsys, "wrn16_1", "--json"))
    big = json.loads(_profile(capsys, "wrn-16-1", "--input", "3x64x64", "--json"))
    assert small["params"] == big["params"]
    assert big["forward_macs"] == pytest.approx(4 * small["forward_macs"], rel=0.01)   # 4x the pixels
    text = _profile(capsys, "wrn-16-1")
    assert "params" in text and "GFLOPs" in text
    assert "parameter memory: fp32" in text and "int8" in text


@pytest.mark.parametrize("argv, message", [
    (["wrn-27-10"], "6n+4"), (["wrn-28-10-tanh"], "valid: relu, gelu, silu"),
    (["no_such_model_xyz"], "timm has no such model"), (["wrn-16-1", "--input", "32x32"], "CxHxW"),
])
def test_mistakes_are_user_errors(capsys, argv, message):
    assert robustperf.main(["profile", *argv]) == 2
    assert message in capsys.readouterr().err
