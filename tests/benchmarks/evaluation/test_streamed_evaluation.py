"""Folder datasets are evaluated batch by batch through DataLoader workers (benchmarks.datasets), never decoded
whole: the final evaluation (clean, PGD, AutoAttack, resumable), the per-epoch check and `robustperf infer` give
the in-memory answers, and the evaluation's peak memory does not grow with the split."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from benchmarks.datasets import FolderDataset, FolderSet, TensorSet, eval_set, load_dataset
from benchmarks.evaluation import EvaluationInterrupted, evaluate, run_autoattack
from benchmarks.interruption import TEST_INTERRUPT_ENV
from recipes import RunConfig
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture
from tests.recipes._rss import peak_kb, reset_peak

EPS = 8 / 255


def make_folder(root, val_per_class, classes=("a", "b", "c"), train_per_class=6, seed=0):
    """train/ and val/ class folders of small random PNG/JPEG images (varied sizes); returns root."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", train_per_class), ("val", val_per_class)):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                h, w = 10 + (i % 5), 12 + (i % 3)
                pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
                pixels[..., c] = 200 + 10 * (i % 5)  # a class colour: a model can learn something
                fmt = "PNG" if i % 2 else "JPEG"
                Image.fromarray(pixels).save(folder / f"{i:05d}.{fmt.lower()}", format=fmt)
    return root


def small_cnn(classes=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 4, stride=4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, classes)).eval()


def config(root, size, workers, **evaluation):
    return RunConfig.from_dict({
        "data": {"name": "imagefolder", "root": str(root), "image_size": size, "num_workers": workers},
        "model": {"arch": "wrn", "depth": 10, "width": 1},
        "attack": {"eps": EPS},
        "evaluation": {"pgd_steps": 2, "autoattack": ["apgd-ce"], "autoattack_n": 10_000, "batch_size": 4,
                       **evaluation}})


def test_the_folder_test_split_is_a_streamed_set_in_file_order(tmp_path):
    root = make_folder(tmp_path / "d", val_per_class=3)
    data = eval_set(config(root, 20, 2).data, "test")
    assert isinstance(data, FolderSet) and data.n == 9 and data.shape == (3, 20, 20) and data.num_workers == 2
    x, y = load_dataset("imagefolder", "test", str(root), image_size=20)
    streamed = list(data.batches(4))
    assert [b[0].shape[0] for b in streamed] == [4, 4, 1]
    assert torch.equal(torch.cat([b[0] for b in streamed]), x) and torch.equal(torch.cat([b[1] for b in streamed]), y)
    picked = torch.tensor([7, 0, 5])
    assert torch.equal(torch.cat([b[0] for b in data.batches(2, indices=picked)]), x[picked])
    assert torch.equal(data.subset(picked).labels, y[picked]) and data.head(4).n == 4
    # the digest names the files and the transform: another size or a touched file is another evaluation
    assert data.digest() == eval_set(config(root, 20, 0).data, "test").digest()
    assert data.digest() != eval_set(config(root, 24, 2).data, "test").digest()
    # digits and CIFAR stay in-memory tensors, with the digest the evaluation states had before
    digits = eval_set(config(root, 20, 0).data.__class__(name="digits"), "test")
    assert isinstance(digits, TensorSet) and torch.equal(digits.images, load_dataset("digits", "test")[0])


def test_streamed_evaluation_equals_the_in_memory_one_and_never_decodes_the_split_whole(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "d", val_per_class=5)
    cfg = config(root, 24, 2)
    model = small_cnn()
    in_memory = evaluate(model, cfg, str(tmp_path / "mem"), data=load_dataset("imagefolder", "test", str(root),
                                                                               image_size=24),
                         measure_inference=False)

    def refuse(*args, **kwargs):
        raise AssertionError("the evaluation decoded a whole split into memory")

    monkeypatch.setattr(FolderDataset, "read", refuse)
    streamed = evaluate(model, cfg, str(tmp_path / "stream"), measure_inference=False)
    assert streamed["accuracy"] == in_memory["accuracy"]
    assert streamed["accuracy"]["clean_n"] == streamed["accuracy"]["autoattack_n"] == 15
    assert streamed["survival"]["events"] == in_memory["survival"]["events"]
    import pandas as pd

    a = pd.read_parquet(tmp_path / "stream" / "survival.parquet")
    b = pd.read_parquet(tmp_path / "mem" / "survival.parquet")
    cols = ["config", "point", "clean_correct", "event", "attack", "iterations", "eps"]
    assert a[cols].equals(b[cols])


@pytest.mark.slow
def test_streamed_autoattack_resumes_to_the_uninterrupted_answer(tmp_path, monkeypatch):
    root = make_folder(tmp_path / "d", val_per_class=6)
    data = eval_set(config(root, 16, 2).data, "test")
    torch.manual_seed(1)
    model = small_cnn(seed=3)
    attacks = ["apgd-ce", "apgd-dlr"]
    reference = run_autoattack(model, data, eps=EPS, version=attacks, seed=0, batch_size=3)
    x, y = data.tensors()
    assert torch.equal(reference.robust_flags,
                       run_autoattack(model, x, y, eps=EPS, version=attacks, seed=0, batch_size=3).robust_flags)
    state = tmp_path / "state.json"
    monkeypatch.setenv(TEST_INTERRUPT_ENV, "apgd-ce:1:USR1")
    with pytest.raises(EvaluationInterrupted):
        run_autoattack(model, data, eps=EPS, version=attacks, seed=0, batch_size=3, state_path=str(state),
                       save_every_s=0)
    saved = json.loads(state.read_text())
    assert saved["current"]["name"] == "apgd-ce" and saved["current"]["batches_done"] == 1
    monkeypatch.delenv(TEST_INTERRUPT_ENV)
    resumed = run_autoattack(model, data, eps=EPS, version=attacks, seed=0, batch_size=3, state_path=str(state))
    assert resumed.sessions == 2 and torch.equal(resumed.robust_flags, reference.robust_flags)
    assert resumed.per_attack == reference.per_attack


@pytest.mark.slow
def test_evaluation_peak_memory_does_not_grow_with_the_split(tmp_path):
    """Twelve times the validation images (528 more at 256 px: 104 MB as uint8, 415 MB as float) leave the streamed
    evaluation's own peak (clean, PGD, AutoAttack's clean pass over every point) where it was, within allocator
    noise; the same evaluation fed the split in memory grows by far more, so the measurement can tell."""
    size, small_n, big_n = 256, 16, 192  # images per class, 3 classes
    small = make_folder(tmp_path / "small", val_per_class=small_n)
    big = make_folder(tmp_path / "big", val_per_class=big_n)
    # wrong on every point (class 3 has no images): AutoAttack reads every point in its clean pass, attacks none
    model = small_cnn(classes=4)
    with torch.no_grad():
        model[-1].bias.copy_(torch.tensor([0.0, 0.0, 0.0, 50.0]))

    def run(root, tag, in_memory=False):
        cfg = config(root, size, 0, batch_size=4, pgd_steps=1)
        data = load_dataset("imagefolder", "test", str(root), image_size=size) if in_memory else None
        return lambda: evaluate(model, cfg, str(tmp_path / tag), data=data, measure_inference=False)

    def growth_kb(evaluation):
        reset_peak()
        base = peak_kb()
        evaluation()
        return peak_kb() - base

    run(small, "warm")()  # imports (pandas, pyarrow, pyautoattack) and allocator warm-up
    extra_uint8_kb = 3 * (big_n - small_n) * 3 * size * size / 1024
    streamed = growth_kb(run(big, "s-big")) - growth_kb(run(small, "s-small"))
    assert streamed < 0.5 * extra_uint8_kb, (streamed, extra_uint8_kb)
    control = growth_kb(lambda: run(big, "m-big", in_memory=True)()) - growth_kb(
        lambda: run(small, "m-small", in_memory=True)())
    assert control > extra_uint8_kb, (control, extra_uint8_kb)  # a split held in memory shows


def test_the_per_epoch_check_streams_the_held_out_images(tmp_path):
    from benchmarks.training import DistInfo, Trainer
    from benchmarks.training.check import evaluate_subset  # noqa: F401 - the check's own counting

    root = make_folder(tmp_path / "d", val_per_class=2, train_per_class=8)
    for select_on, n in (("validation", 5), ("test", 6)):
        cfg = RunConfig.from_dict({
            "data": {"name": "imagefolder", "root": str(root), "image_size": 16, "batch_size": 4, "num_workers": 1},
            "model": {"arch": "wrn", "depth": 10, "width": 1},
            "training": {"epochs": 1, "warmup_epochs": 0, "select_on": select_on, "val_size": 5,
                         "select_subset": 100, "select_pgd_steps": 2, "select_batch_size": 2},
            "attack": {"eps": EPS, "steps": 1}})
        trainer = Trainer(cfg, DistInfo(), progress=False)
        assert isinstance(trainer.check_set, FolderSet) and trainer.eval_n == trainer.check_set.n == n
        streamed = trainer.evaluate()
        trainer.check_set = TensorSet(*trainer.check_set.tensors())
        assert trainer.evaluate() == streamed  # the same per-epoch numbers as from tensors


@pytest.mark.slow
def test_a_folder_run_is_evaluated_and_inferred_at_its_image_size(tmp_path, capsys):
    """`robustperf run`'s final evaluation and `robustperf infer` read the run's data as trained: data.image_size 32
    (imagefolder's default is 224), streamed; their clean accuracies are the model's on the 32 px test split and
    infer's FLOPs are 32 px ones."""
    import robustperf
    from benchmarks import load_model
    from benchmarks.evaluation import clean_correct
    from benchmarks.measurement import forward_flops_per_sample
    from benchmarks.run import EXIT_OK, execute
    from recipes import load_recipe

    root = make_folder(tmp_path / "d", val_per_class=4, train_per_class=6)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"""
name: folder-infer
base:
  data: {{name: imagefolder, root: {root}, image_size: 32, batch_size: 4, num_workers: 1}}
  model: {{arch: wrn, depth: 10, width: 1}}
  training: {{loss: standard, epochs: 1, warmup_epochs: 0, lr_base_batch_size: 4, select_subset: 4, val_size: 4,
             select_pgd_steps: 1}}
  attack: {{eps: 8/255, steps: 1}}
  evaluation: {{pgd_steps: 1, autoattack: [apgd-ce], batch_size: 5}}
""")
    spec = load_recipe(str(recipe)).run(0)
    assert execute(spec, str(tmp_path / "runs"), progress=False, count_flops=False) == EXIT_OK
    run_dir = tmp_path / "runs" / spec.run_id
    capsys.readouterr()  # the training's own lines
    assert robustperf.main(["infer", str(run_dir), "--precision", "fp32", "--queries", "3", "--passes", "3",
                            "--warmup", "1", "--batch-sizes", "4", "--autoattack", "apgd-ce", "--autoattack-n", "5",
                            "--calibration-n", "4", "--threads", "1", "--json"]) == 0
    section = json.loads(capsys.readouterr().out)
    model = load_model(str(run_dir), "best", "cpu")
    x, y = load_dataset("imagefolder", "test", str(root), image_size=32)
    clean = 100.0 * float(clean_correct(model, x, y, batch_size=4).float().mean())
    accuracy = json.loads((run_dir / "result.json").read_text())["accuracy"]
    assert accuracy["clean_n"] == accuracy["autoattack_n"] == 12 and accuracy["clean"] == pytest.approx(clean)
    assert section["setup"]["test_images"] == 12
    assert section["setup"]["flops_per_image"] == forward_flops_per_sample(model, (3, 32, 32))["forward_flops"]
    assert section["fp32"]["accuracy"]["clean"] == pytest.approx(clean)
    assert section["fp32"]["accuracy"]["robust_n"] == 5
