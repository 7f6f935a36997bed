"""Image-folder datasets (Tiny ImageNet layout, ImageNet-style class folders) built on the fly, streamed through
DataLoader workers deterministically; CIFAR-100 end to end like CIFAR-10."""
from __future__ import annotations

import pytest
import torch

from benchmarks.datasets import DataError, FolderBatches, dataset_info, load_dataset
from benchmarks.run import EXIT_OK, execute
from recipes import load_recipe
from results import load_record
from tests.benchmarks._dataset_fixtures import make_imagefolder, make_tiny_imagenet, write_cifar
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


def test_tiny_imagenet_layout(tmp_path):
    wnids = make_tiny_imagenet(tmp_path)
    info = dataset_info("tinyimagenet", str(tmp_path))
    assert (info.num_classes, info.in_chans, info.size) == (3, 3, 64)
    x, y = load_dataset("tinyimagenet", "test", str(tmp_path))
    assert x.shape == (6, 3, 64, 64) and x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
    assert y.tolist() == [0, 0, 1, 1, 2, 2]  # val_annotations order does not matter: sorted by file
    train_x, train_y = load_dataset("tinyimagenet", "train", str(tmp_path / "tiny-imagenet-200"), image_size=32)
    assert train_x.shape == (24, 3, 32, 32) and sorted(set(train_y.tolist())) == [0, 1, 2]
    assert len(wnids) == 3


def test_streamed_batches_are_deterministic_and_resume(tmp_path):
    make_imagefolder(tmp_path)
    make = lambda workers: FolderBatches("imagefolder", str(tmp_path), 24, batch_size=4, seed=3,  # noqa: E731
                                         num_workers=workers)
    a, b = make(0), make(2)
    assert len(a) == 5
    first = list(a.epoch(0))
    assert [s for s, _, _ in first] == [0, 1, 2, 3, 4]
    for (sa, xa, ya), (sb, xb, yb) in zip(first, b.epoch(0)):  # worker processes change nothing
        assert sa == sb and torch.equal(xa, xb) and torch.equal(ya, yb)
    assert first[0][1].shape == (4, 3, 24, 24) and 0 <= float(first[0][1].min()) <= float(first[0][1].max()) <= 1
    resumed = list(a.epoch(0, start_step=3))
    assert [s for s, _, _ in resumed] == [3, 4]
    assert all(torch.equal(x, first[s][1]) for s, x, _ in resumed)
    again = list(a.epoch(1))
    assert not torch.equal(again[0][1], first[0][1])  # another epoch, another order and crops
    assert sorted(torch.cat([y for _, _, y in first]).tolist()) == sorted([0] * 10 + [1] * 10)
    two_ranks = [FolderBatches("imagefolder", str(tmp_path), 24, 4, 3, rank, 2) for rank in (0, 1)]
    assert len(two_ranks[0]) == 2


def test_folder_dataset_trains_end_to_end(tmp_path):
    make_imagefolder(tmp_path / "data")
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: folder
base:
  data: {{name: imagefolder, root: {tmp_path / 'data'}, image_size: 32, batch_size: 5, num_workers: 1}}
  model: {{arch: wrn, depth: 10, width: 1}}
  training: {{loss: fgsm_rs, epochs: 1, warmup_epochs: 0, lr_base_batch_size: 5, select_subset: 4, select_pgd_steps: 2, val_size: 5}}
  attack: {{eps: 8/255, steps: 1}}
  evaluation: {{pgd_steps: 2}}
""")
    spec = load_recipe(str(recipe)).run(0)
    code = execute(spec, str(tmp_path / "runs"), progress=False, evaluate=False, count_flops=False)
    record = load_record(str(tmp_path / "runs"), spec.run_id)
    assert code == EXIT_OK and record["status"] == "completed" and record["flops"]["steps"] == 3  # 15 of 20 train


def test_bad_folders_are_user_errors(tmp_path):
    with pytest.raises(DataError, match="no train folder"):
        dataset_info("imagefolder", str(tmp_path))
    make_imagefolder(tmp_path / "d")
    (tmp_path / "d" / "val" / "cat" / "0.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="cannot decode image .*0.jpg"):
        load_dataset("imagefolder", "test", str(tmp_path / "d"))
    with pytest.raises(DataError, match="val_annotations"):
        dataset_info("tinyimagenet", str(tmp_path / "d"))


def test_cifar100_trains_like_cifar10(tmp_path):
    write_cifar(tmp_path / "cifar", name="cifar100", per_file=32)
    recipe = tmp_path / "c.yaml"
    recipe.write_text(f"""
name: tiny-cifar100
base:
  data: {{name: cifar100, root: {tmp_path / 'cifar'}, batch_size: 16}}
  model: {{arch: wrn, depth: 10, width: 1}}
  training: {{epochs: 1, warmup_epochs: 0, lr_base_batch_size: 16, select_subset: 16, select_pgd_steps: 2, select_on: test}}
  attack: {{eps: 8/255, steps: 1}}
  evaluation: {{pgd_steps: 2}}
""")
    spec = load_recipe(str(recipe)).run(0)
    assert execute(spec, str(tmp_path / "runs"), progress=False, evaluate=False, count_flops=False) == EXIT_OK
    record = load_record(str(tmp_path / "runs"), spec.run_id)
    assert record["status"] == "completed" and record["flops"]["steps"] == 2
    state = torch.load(tmp_path / "runs" / spec.run_id / "checkpoint-last.pt", weights_only=True)
    assert state["model"]["fc.weight"].shape[0] == 100
