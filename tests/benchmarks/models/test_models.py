"""WideResNets registered with timm, the model factory, and the timm import shim."""
from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from benchmarks._compat import declared_ops, import_timm
from benchmarks.models import (ACTIVATIONS, SIZES, NormalizedModel, WideResNet, create_model, model_name,
                               register_timm_models)
from recipes import ModelConfig, RecipeError
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture
from tests.conftest import ROOT

timm = import_timm()
register_timm_models()
WRN_NAMES = [f"wrn{d}_{w}" for d, w in SIZES]


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_import_timm_in_a_fresh_interpreter():
    """A plain `import timm` fails on this CPU torch + CUDA torchvision; the shim recovers in the same process."""
    code = """
try:
    import timm
    plain = "ok"
except RuntimeError as err:
    plain = str(err)
from benchmarks._compat import import_timm, import_torchvision, declared_ops
t = import_timm()
tv = import_torchvision()
import torchvision.ops
print(repr(plain), t.__version__, tv.__version__, declared_ops())
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    if "'ok'" not in out.stdout:  # the broken-torchvision case this shim exists for
        assert "operator torchvision::nms does not exist" in out.stdout
        assert "['nms', 'qnms']" in out.stdout


def test_import_timm_leaves_other_errors_alone():
    from benchmarks._compat import _missing_operator

    assert _missing_operator(RuntimeError("operator torchvision::nms does not exist")) == "nms"
    assert _missing_operator(RuntimeError("operator torchvision::roi_align does not exist")) is None
    assert _missing_operator(RuntimeError("CUDA out of memory")) is None
    assert isinstance(declared_ops(), list)


def test_the_suites_networks_are_registered_with_timm_explicitly():
    names = register_timm_models()
    assert set(WRN_NAMES) | {"cifar_resnet18", "preact_resnet18", "vit_cifar_s"} == set(names)
    assert all(timm.is_model(name) for name in names) and register_timm_models() == names


@pytest.mark.parametrize("name", WRN_NAMES)
def test_registered_wrn_builds(name):
    assert timm.is_model(name)
    depth, width = (int(v) for v in name[3:].split("_"))
    with torch.device("meta"):
        model = timm.create_model(name, num_classes=10)
    assert isinstance(model, WideResNet)
    blocks = [m for m in model.modules() if type(m).__name__ == "BasicBlock"]
    assert len(blocks) == 3 * (depth - 4) // 6
    assert model.fc.in_features == 64 * width
    assert model.stem.out_channels == 16


@pytest.mark.parametrize("name,expected", [("wrn28_10", 36_479_194), ("wrn34_10", 46_160_474)])
def test_parameter_counts_exact(name, expected):
    with torch.device("meta"):
        assert _params(timm.create_model(name, num_classes=10)) == expected


def test_wrn70_16_has_266_8m_params():
    with torch.device("meta"):
        params = _params(timm.create_model("wrn70_16", num_classes=10))
    assert round(params / 1e6, 1) == 266.8


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("in_chans,size", [(3, 32), (1, 8)])
def test_forward_activation_and_channels(activation, in_chans, size):
    model = timm.create_model("wrn10_1", activation=activation, num_classes=7, in_chans=in_chans)
    assert any(isinstance(m, ACTIVATIONS[activation]) for m in model.modules())
    out = model(torch.rand(2, in_chans, size, size))
    assert out.shape == (2, 7)
    assert model.pretrained_cfg["architecture"] == "wrn10_1"


def test_normalisation_is_inside_the_model():
    model = timm.create_model("wrn10_1", num_classes=10, mean=(0.5, 0.25, 0.0), std=(0.5, 0.5, 2.0)).eval()
    assert model.mean.flatten().tolist() == [0.5, 0.25, 0.0]
    # A constant image at the mean is the zero input of the first conv, for any mean.
    x = model.mean.expand(1, 3, 32, 32)
    assert torch.equal(model.stem((x - model.mean) / model.std), torch.zeros(1, 16, 32, 32))
    assert "mean" in model.state_dict() and "std" in model.state_dict()


def test_wrong_depth_and_activation_are_refused():
    with pytest.raises(ValueError, match="6n\\+4"):
        WideResNet(depth=12, width=1)
    with pytest.raises(ValueError, match="relu, gelu, silu"):
        timm.create_model("wrn10_1", activation="tanh")


def test_create_model_from_the_recipe_section():
    cfg = ModelConfig(arch="wrn", depth=16, width=2, activation="silu")
    assert model_name(cfg) == "wrn16_2"
    model = create_model(cfg, num_classes=100, in_chans=3)
    assert isinstance(model, WideResNet) and model.fc.out_features == 100
    assert isinstance(model.act, torch.nn.SiLU)


def test_create_model_accepts_any_timm_name():
    model = create_model(ModelConfig(arch="resnet10t"), num_classes=10, in_chans=1, mean=(0.3,), std=(0.4,))
    assert isinstance(model, NormalizedModel)
    assert model(torch.rand(2, 1, 32, 32)).shape == (2, 10)


def test_unknown_timm_name_is_a_recipe_error():
    with pytest.raises(RecipeError, match="model.arch") as err:
        create_model(ModelConfig(arch="resnet18x"), num_classes=10, in_chans=3)
    assert "resnet18" in str(err.value)


def test_any_valid_depth_and_width_builds_even_without_an_entrypoint():
    """A recipe may name any 6n+4 depth and width; only common sizes are timm entrypoints."""
    import torch

    from benchmarks.models import create_model
    from recipes import ModelConfig

    model = create_model(ModelConfig(arch="wrn", depth=10, width=3, activation="gelu"), num_classes=10, in_chans=1)
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 10)
    widths = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert max(widths) == 64 * 3
