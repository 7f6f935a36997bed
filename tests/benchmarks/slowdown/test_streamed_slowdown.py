"""The slowdown evaluation reads a folder dataset as the final evaluation does: never the whole split in memory."""
from __future__ import annotations

import torch

from benchmarks.datasets import streamed
from benchmarks.models.sdn import create_sdn
from benchmarks.slowdown.run import slowdown_for_run
from recipes import RunConfig
from tests.benchmarks._dataset_fixtures import make_tiny_imagenet
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture

TRAIN_PER_CLASS, CLASSES = 12, 3


class _Rows(torch.nn.Module):
    """The SDN, recording the largest batch any forward pass saw."""

    def __init__(self, model):
        super().__init__()
        self.model, self.peak = model, 0
        self.num_exits, self.num_classes = model.num_exits, model.num_classes

    def forward(self, x):
        self.peak = max(self.peak, x.shape[0])
        return self.model(x)

    def exits(self, x):
        self.peak = max(self.peak, x.shape[0])
        return self.model.exits(x)


def test_folder_data_is_decoded_batch_by_batch_and_only_where_drawn(tmp_path, monkeypatch):
    make_tiny_imagenet(tmp_path, classes=CLASSES, train=TRAIN_PER_CLASS, val=2)
    decoded = []
    real = streamed.DecodedSamples.sample

    def counting(self, index):          # the real decoder, counted
        decoded.append(self.paths[self.indices[index]])
        return real(self, index)

    monkeypatch.setattr(streamed.DecodedSamples, "sample", counting)
    cfg = RunConfig.from_dict({
        "data": {"name": "tinyimagenet", "root": str(tmp_path), "image_size": 16, "holdout_fraction": 0.25},
        "model": {"arch": "sdn_wrn", "depth": 10, "width": 1},
        "training": {"loss": "sdn_ic_only", "epochs": 2, "sdn_ic_epochs": 1},
        "evaluation": {"slowdown": {"rads": [0.05], "attacks": ["deepsloth_universal"], "norms": ["linf"],
                                    "batch_size": 4, "universal_n": 5, "universal_batch_size": 5,
                                    "universal_linf_steps": 1, "latency_n": 2}}})
    torch.manual_seed(0)
    model = _Rows(create_sdn("sdn_wrn", depth=10, width=1, in_chans=3, input_size=16, num_classes=CLASSES).eval())
    test = (torch.rand(6, 3, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2]))
    warnings = []
    group = slowdown_for_run(model, cfg, test=test, warnings=warnings)
    total = CLASSES * TRAIN_PER_CLASS
    held = group["source"]["val_n"]
    assert held == round(0.25 * total)
    train_decoded = [p for p in decoded if "/train/" in p]
    # the calibration split once, the 5 crafting draws once: never the whole training split
    assert len(train_decoded) == held + 5 < total
    assert len(set(train_decoded)) == len(train_decoded)
    assert model.peak <= 5              # batches of batch_size (4) or the crafting set (5), never a split
    assert group["attacks"]["deepsloth_universal_linf"]["n"] == 6


def test_tiny_imagenet_recipe_builds_the_papers_sdns_on_64_pixel_folder_data(tmp_path):
    from benchmarks._loading import _build, run_model_spec
    from recipes import load_recipe, slowdown_config
    from tests.conftest import ROOT

    make_tiny_imagenet(tmp_path, classes=CLASSES, train=2, val=1)
    runs = load_recipe(str(ROOT / "recipes" / "deepsloth-tinyimagenet.yaml"), [f"data.root={tmp_path}"]).runs()
    assert {r.config["model"]["arch"] for r in runs} == {"sdn_vgg16", "sdn_resnet56", "sdn_mobilenet"}
    cfg = slowdown_config(runs[0].config["evaluation"]["slowdown"])
    # the paper's Tiny ImageNet budgets and universal crafting set
    assert (cfg.l2_gamma, cfg.l1_eps, cfg.l1_step_size, cfg.universal_n) == (0.05, 16.0, 1.0, 200)
    assert all(r.config["data"]["holdout_fraction"] > 0 and r.config["data"]["name"] == "tinyimagenet" for r in runs)
    for run in runs:
        model = _build(run_model_spec(run.run_config())).eval()
        with torch.no_grad():
            outs = model(torch.rand(1, 3, 64, 64))
        assert len(outs) == model.num_exits > 1 and outs[-1].shape == (1, CLASSES)
