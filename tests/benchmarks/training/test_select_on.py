"""Honest checkpoint selection: the per-epoch check runs on held-out training images (never trained on, fixed by
the seed) unless the recipe asks for the test images, as the reference study did."""
from __future__ import annotations

import pytest
import torch

from benchmarks.datasets import DataError, FolderBatches, load_dataset
from benchmarks.training import DistInfo, Trainer
from recipes import RunConfig
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


def _trainer(seed=0, **training):
    cfg = RunConfig.from_dict({"seed": seed, "data": {"name": "digits", "batch_size": 32, "augment": False},
                               "model": {"arch": "wrn", "depth": 10, "width": 1},
                               "training": {"epochs": 1, "warmup_epochs": 0, "select_subset": 10_000,
                                            **training}})
    return Trainer(cfg, DistInfo(), progress=False)


def _rows(images):
    return {tuple(img.flatten().tolist()) for img in images}


def test_validation_images_are_held_out_of_training_and_fixed_by_the_seed():
    train_x, _ = load_dataset("digits", "train")
    test_x, _ = load_dataset("digits", "test")
    trainer = _trainer(val_size=200)
    assert trainer.select_on == "validation" and trainer.eval_n == 200
    held = _rows(trainer.check_set.tensors()[0])
    trained = _rows(trainer.batches.images.float() / trainer.batches.scale)
    assert len(trainer.batches.images) == 1437 - 200 and len(trainer.batches) == (1437 - 200) // 32
    assert not held & trained  # never trained on
    assert held <= _rows(train_x) and not held & _rows(test_x)  # training images, not test images
    assert torch.equal(_trainer(val_size=200).check_set.tensors()[0], trainer.check_set.tensors()[0])
    assert not torch.equal(_trainer(seed=1, val_size=200).check_set.tensors()[0], trainer.check_set.tensors()[0])


def test_test_selection_reads_the_first_test_images():
    test_x, test_y = load_dataset("digits", "test")
    trainer = _trainer(select_on="test")
    assert trainer.eval_n == 360 and torch.equal(trainer.check_set.tensors()[0], test_x)
    assert len(trainer.batches.images) == 1437


def test_a_validation_split_too_large_is_a_user_error():
    with pytest.raises(DataError, match="training.val_size 1420 leaves 17 of the 1437"):
        _trainer(val_size=1420)


def test_folder_datasets_hold_out_files(tmp_path):
    from tests.benchmarks._dataset_fixtures import make_imagefolder

    make_imagefolder(tmp_path)
    batches = FolderBatches("imagefolder", str(tmp_path), 16, batch_size=4, seed=0, held_out=6)
    assert len(batches.held_paths) == 6 and len(batches.paths) == 14
    assert not set(batches.held_paths) & set(batches.paths)
    held = batches.held_out_set()
    assert held.n == 6 and held.shape == (3, 16, 16) and held.paths == batches.held_paths
    images, labels = held.tensors()  # decoded batch by batch with the evaluation transform
    assert images.shape == (6, 3, 16, 16) and images.dtype == torch.float32 and len(labels) == 6
    assert 0 <= float(images.min()) <= float(images.max()) <= 1 and torch.equal(labels, batches.held_labels)


def _check(loss, random_start):
    from benchmarks.training.check import check_accuracy

    cfg = RunConfig.from_dict({"seed": 0, "data": {"name": "digits", "batch_size": 32},
                               "model": {"arch": "wrn", "depth": 10, "width": 1},
                               "training": {"loss": loss, "epochs": 1, "warmup_epochs": 0, "val_size": 256,
                                            "select_subset": 256, "select_pgd_steps": 3,
                                            "select_pgd_step_size": 0.005},
                               "attack": {"eps": 0.05, "steps": 2, "random_start": random_start}})
    return check_accuracy(Trainer(cfg, DistInfo(), progress=False))


def test_only_a_method_that_reads_random_start_changes_the_checks_start():
    """attack.random_start is in the ids of the methods that read it only; for another method (trades starts at
    x + 0.001 N(0, I)) the key must not change which epoch is best, so its check keeps the random start."""
    assert _check("trades", False) == _check("trades", True)
    assert _check("at", False) != _check("at", True)
