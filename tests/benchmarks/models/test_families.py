"""Model families: the CIFAR ResNet-18s and the small-image ViT through timm and `robustperf profile`, counts pinned
against torch's own FLOP counter; the upsample-inside-the-model option; family checks and run names."""
from __future__ import annotations

import json

import pytest
import torch

import robustperf
from benchmarks.models import create_model
from benchmarks.models.families import get_family, list_families
from recipes import load_recipe
from recipes.errors import RecipeError


def _torch_macs(model, shape):
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *shape))
    return counter.get_total_flops() // 2  # torch counts 2 FLOPs per multiply-accumulate


@pytest.mark.parametrize("name, params", [("cifar_resnet18", 11_173_962), ("preact_resnet18", 11_172_170)])
def test_cifar_resnet18s_match_torch_flop_counter(capsys, name, params):
    assert robustperf.main(["profile", name, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["params"] == params and abs(params - 11.17e6) < 0.01e6
    model = create_model({"arch": name, "activation": "relu", "drop_rate": 0.0}, 10, 3).eval()
    assert sum(p.numel() for p in model.parameters()) == params
    macs = _torch_macs(model, (3, 32, 32))
    assert abs(macs / 1e9 - 0.56) < 0.01
    # DeepSpeed's conv/linear MACs are what torch counts (BN and activations add FLOPs, not MACs).
    assert out["forward_macs"] == macs


def test_small_image_vit_builds_and_counts(capsys):
    assert robustperf.main(["profile", "vit_cifar_s", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    model = create_model({"arch": "vit_cifar_s", "drop_rate": 0.0}, 10, 3).eval()
    assert out["params"] == sum(p.numel() for p in model.parameters())
    assert 20e6 < out["params"] < 23e6
    # attention's matmuls are counted by both; within 5 % (DeepSpeed adds softmax/GELU/norm work to MACs).
    assert abs(out["forward_macs"] / _torch_macs(model, (3, 32, 32)) - 1) < 0.05
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_upsample_inside_an_imagenet_model_is_differentiable():
    model = create_model({"arch": "resnet10t", "drop_rate": 0.0, "input_size": 64}, 10, 3).eval()
    seen = []
    model.model.register_forward_pre_hook(lambda m, args: seen.append(tuple(args[0].shape)))
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    model(x).sum().backward()
    assert seen == [(2, 3, 64, 64)] and x.grad is not None and x.grad.abs().sum() > 0


def test_families_check_their_keys_and_name_runs(tiny_recipe):
    assert {"wrn", "timm", "cifar_resnet18", "preact_resnet18", "vit_cifar_s"} <= set(list_families())
    assert get_family("resnet50").name == "timm" and get_family("wrn").name == "wrn"
    runs = load_recipe(str(tiny_recipe), ["model.arch=preact_resnet18"]).runs()
    assert runs[0].name.startswith("preact_resnet18_relu_at_")
    assert load_recipe(str(tiny_recipe)).runs()[0].name.startswith("wrn-10-1_")
    with pytest.raises(RecipeError, match="6n\\+4") as info:
        load_recipe(str(tiny_recipe), ["model.depth=12"])
    assert info.value.key == "model.depth"
    load_recipe(str(tiny_recipe), ["model.depth=12", "model.arch=cifar_resnet18"])  # not a key of that family
    with pytest.raises(RecipeError, match="timm has no such model"):
        create_model({"arch": "no_such_net", "drop_rate": 0.0}, 10, 3)
