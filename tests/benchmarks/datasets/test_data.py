"""Datasets: every registered dataset keeps the plug-in contract (parametrised over the catalog, on small files
written in each one's format), digits, CIFAR pickle batches, synthetic npz, augmentation and the deterministic
batch stream."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from benchmarks import load_dataset
from benchmarks.datasets import (DataError, Dataset, EvalSet, InMemoryDataset, TrainBatches, augment, dataset_info,
                                 eval_set, get_dataset, load_raw, load_synthetic, seed_of, split_size)
from benchmarks.datasets.cifar import CIFAR_URL
from recipes import RunConfig, UserError, catalog
from tests.benchmarks._dataset_fixtures import OFFLINE, synthetic_npz as _npz, write_cifar as _write_cifar
from tests.benchmarks._training_helpers import one_thread  # noqa: F401 - autouse fixture


# ---------------------------------------------------------------- the plug-in contract, for every dataset

def _data(name, tmp_path, **data):
    """A DataConfig of dataset ``name`` on its offline fixture (skipped when the dataset has none)."""
    if name not in OFFLINE:
        pytest.skip(f"no offline fixture for dataset {name!r} (add one to tests/benchmarks/_dataset_fixtures.py)")
    root = OFFLINE[name](tmp_path / name)
    entry = catalog.get("datasets", name)
    size = {"image_size": 16} if entry.streamed else {}
    return RunConfig.from_dict({"data": {"name": name, "root": root, **size, **data},
                                "model": {"arch": "wrn", "depth": 10, "width": 1}}).data


@pytest.mark.parametrize("name", catalog.names("datasets"))
def test_every_dataset_keeps_the_contract(name, tmp_path):
    data = _data(name, tmp_path)
    entry, dataset = catalog.get("datasets", name), get_dataset(name)
    assert isinstance(dataset, Dataset) and dataset.entry == entry and dataset.streamed == entry.streamed
    info = dataset_info(name, data.root, data.image_size)
    assert info.name == name and info.in_chans == entry.channels
    assert info.size == (data.image_size if entry.streamed else entry.image_size)
    assert len(info.mean) == len(info.std) == entry.channels
    if entry.num_classes is not None and not entry.streamed:
        assert info.num_classes == entry.num_classes
    for split in ("train", "test"):
        images, labels, scale = load_raw(name, split, data.root, data.image_size)
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64 and len(images) == len(labels) > 0
        assert images.shape[1:] == (info.in_chans, info.size, info.size)
        assert int(images.max()) <= scale and 0 <= int(labels.min()) and int(labels.max()) < info.num_classes
        assert split_size(name, split, data.root) == len(labels)
        head = load_raw(name, split, data.root, data.image_size, limit=3)
        assert torch.equal(head[0], images[:3]) and torch.equal(head[1], labels[:3])
        x, y = load_dataset(name, split, data.root, data.image_size)
        points = eval_set(data, split)
        assert isinstance(points, EvalSet) and points.n == len(labels) and torch.equal(points.labels, y)
        assert torch.equal(points.tensors()[0], x) and points.digest() == eval_set(data, split).digest()
        assert torch.equal(torch.cat([b for b, _ in points.batches(4, indices=[2, 0])]), x[[2, 0]])
        assert eval_set(data, split, limit=3).n == 3 and points.head(2).n == 2
    with pytest.raises(DataError, match="unknown split"):
        load_raw(name, "validation", data.root)


@pytest.mark.parametrize("name", catalog.names("datasets"))
def test_every_dataset_streams_seeded_training_batches_and_holds_out_the_check(name, tmp_path):
    data = _data(name, tmp_path, batch_size=4)
    dataset = get_dataset(name)
    batches, held = dataset.train_batches(data, seed=3, val_size=5, check_limit=4)
    again, _ = dataset.train_batches(data, seed=3, val_size=5, check_limit=4)
    assert len(batches) == batches.steps_per_epoch >= 1 and held.n == 4
    x, y = batches.batch(1, 0)
    assert x.shape[0] == y.shape[0] == 4 and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert torch.equal(x, again.batch(1, 0)[0])  # a pure function of (seed, epoch, step)
    assert [s for s, _, _ in batches.epoch(0)] == list(range(len(batches)))
    none_held = dataset.train_batches(data, seed=3)[1]
    assert none_held is None  # the check then reads the test split


class _Tiny(InMemoryDataset):
    mean, std = (0.5,), (0.25,)

    def read(self, split, root, image_size, limit):
        n = 40 if split == "train" else 10
        g = torch.Generator().manual_seed(n)
        return torch.randint(0, 256, (n, 1, 4, 4), generator=g, dtype=torch.uint8)[:limit], \
            torch.arange(n)[:limit] % 3, 255


def test_a_dataset_registered_in_process_is_a_recipe_choice_and_loads(tmp_path):
    entry = catalog.register(catalog.DatasetEntry(name="tiny_mem", impl=_Tiny, num_classes=3, image_size=4,
                                                  channels=1, needs_root=False))
    try:
        data = RunConfig.from_dict({"data": {"name": "tiny_mem", "batch_size": 8},
                                    "model": {"arch": "wrn", "depth": 10, "width": 1}}).data
        info = dataset_info("tiny_mem")
        assert (info.num_classes, info.in_chans, info.size, info.mean, info.std) == (3, 1, 4, (0.5,), (0.25,))
        assert eval_set(data, "test").n == 10 and split_size("tiny_mem", "train") == 40
        batches, held = get_dataset("tiny_mem").train_batches(data, seed=0, val_size=8)
        assert len(batches) == 4 and held.n == 8
    finally:
        catalog.unregister("datasets", entry.name)
    with pytest.raises(DataError, match="no dataset named 'tiny_mem'"):
        get_dataset("tiny_mem")


def test_an_unknown_dataset_names_the_near_matches():
    with pytest.raises(DataError, match="did you mean 'cifar10'"):
        load_dataset("cifar", "test")


# ---------------------------------------------------------------- the datasets themselves



def test_digits_split_is_fixed_and_disjoint():
    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    assert x_train.shape == (1437, 1, 8, 8) and x_test.shape == (360, 1, 8, 8)
    assert x_train.dtype == torch.float32 and float(x_train.min()) == 0.0 and float(x_train.max()) == 1.0
    assert set(y_train.tolist()) == set(range(10))
    again, _ = load_dataset("digits", "test")
    assert torch.equal(again, x_test)
    from sklearn.datasets import load_digits

    # together the two splits are exactly the 1797 shipped images (as multisets of (image, label))
    full = load_digits()
    shipped = sorted((bytes(img.astype(np.uint8).flatten()), int(t)) for img, t in zip(full.images, full.target))
    ours = sorted((bytes((x * 16).round().to(torch.uint8).flatten().numpy()), int(t))
                  for xs, ys in ((x_train, y_train), (x_test, y_test)) for x, t in zip(xs, ys))
    assert ours == shipped


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
@pytest.mark.parametrize("nested", [False, True])
def test_cifar_python_batches_load(tmp_path, name, nested):
    folder = tmp_path / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python") if nested else tmp_path
    written = _write_cifar(folder, name)
    x, y = load_dataset(name, "train", str(tmp_path))
    train_files = [f for f in written if f not in ("test_batch", "test")]
    assert x.shape == (6 * len(train_files), 3, 32, 32)
    first_data, first_labels = written[train_files[0]]
    # row layout: 1024 red, 1024 green, 1024 blue values, row-major
    assert torch.equal((x[0] * 255).round().to(torch.uint8), torch.from_numpy(first_data[0].reshape(3, 32, 32)))
    assert y[:6].tolist() == first_labels
    x_test, y_test = load_dataset(name, "test", str(tmp_path))
    assert x_test.shape == (6, 3, 32, 32) and y_test.dtype == torch.int64


def test_missing_cifar_root_names_files_and_archive(tmp_path):
    with pytest.raises(DataError) as err:
        load_dataset("cifar10", "train", str(tmp_path / "nowhere"))
    message = str(err.value)
    assert isinstance(err.value, UserError)
    assert "data_batch_1" in message and "test_batch" in message and CIFAR_URL in message
    with pytest.raises(DataError, match="data.root is not set"):
        load_dataset("cifar100", "test")


def test_partial_and_malformed_cifar_batches(tmp_path):
    _write_cifar(tmp_path)
    (tmp_path / "data_batch_3").unlink()
    with pytest.raises(DataError, match="lacks data_batch_3"):
        load_dataset("cifar10", "train", str(tmp_path))
    (tmp_path / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="data_batch_3 is not a CIFAR python batch"):
        load_dataset("cifar10", "train", str(tmp_path))
    with open(tmp_path / "data_batch_3", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(DataError, match="N x 3072"):
        load_dataset("cifar10", "train", str(tmp_path))


def test_synthetic_npz_checks(tmp_path):
    images, labels = load_synthetic(_npz(tmp_path / "ok.npz"))
    assert images.shape == (50, 3, 32, 32) and labels.tolist() == [3] * 50
    with pytest.raises(DataError, match="not found"):
        load_synthetic(str(tmp_path / "missing.npz"))
    np.savez(tmp_path / "bad.npz", image=np.zeros((4, 28, 28), np.uint8), label=np.zeros(4))
    with pytest.raises(DataError, match="N x 32 x 32 x 3"):
        load_synthetic(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "nolabel.npz", image=np.zeros((4, 32, 32, 3), np.uint8))
    with pytest.raises(DataError, match="label"):
        load_synthetic(str(tmp_path / "nolabel.npz"))


@pytest.mark.parametrize("fraction", [0.3, 0.7])
def test_synthetic_mixing_draws_the_configured_fraction(tmp_path, fraction):
    # Original images are dark (< 128), synthetic ones are white: every sample tells where it came from.
    rng = np.random.RandomState(0)
    original = torch.from_numpy(rng.randint(0, 128, size=(200, 3, 32, 32)).astype(np.uint8))
    labels = torch.from_numpy(rng.randint(0, 10, size=200))
    synthetic = load_synthetic(_npz(tmp_path / "syn.npz", n=1000))
    batches = TrainBatches(original, labels, 255, batch_size=20, seed=1, synthetic=synthetic,
                           synthetic_fraction=fraction, augment=False)
    assert len(batches) == 200 // 20  # an epoch keeps the length of the original training set
    seen = []
    for step, x, y in batches.epoch(0):
        from_synthetic = (x.flatten(1).min(1).values == 1.0)
        assert int(from_synthetic.sum()) == round(20 * fraction)
        assert (y[from_synthetic] == 3).all()
        seen.append(batches.indices(0, step)[0])
    originals = torch.cat(seen)
    assert len(set(originals.tolist())) == len(originals)  # no original image repeats within the epoch


def test_batches_are_a_pure_function_of_seed_epoch_step():
    x, y, scale = load_raw("digits", "train")
    a = TrainBatches(x, y, scale, batch_size=32, seed=5)
    b = TrainBatches(x, y, scale, batch_size=32, seed=5)
    assert torch.equal(a.batch(2, 7)[0], b.batch(2, 7)[0])  # resuming at (2, 7) sees the same batch
    assert not torch.equal(a.batch(2, 7)[0], a.batch(3, 7)[0])
    c = TrainBatches(x, y, scale, batch_size=32, seed=6)
    assert not torch.equal(a.batch(2, 7)[0], c.batch(2, 7)[0])
    # one epoch is a permutation
    idx = torch.cat([a.indices(0, s)[0] for s in range(len(a))])
    assert len(set(idx.tolist())) == len(idx) == 1437 // 32 * 32


def test_ranks_split_the_global_batch():
    x, y, scale = load_raw("digits", "train")
    single = TrainBatches(x, y, scale, batch_size=64, seed=0)
    ranks = [TrainBatches(x, y, scale, batch_size=32, seed=0, rank=r, world_size=2) for r in range(2)]
    assert len(ranks[0]) == len(single)
    for step in (0, 5):
        union = torch.cat([r.indices(1, step)[0] for r in ranks])
        assert torch.equal(union, single.indices(1, step)[0])


def test_augmentation_is_seeded_crop_and_flip():
    x = torch.rand(16, 3, 32, 32)
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    c = augment(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c) and a.shape == x.shape
    # Each output is a (possibly flipped) 32x32 window of the zero-padded input.
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    for i in range(4):
        found = any(torch.equal(a[i], cand) or torch.equal(a[i], cand.flip(2))
                    for r in range(9) for s in range(9) for cand in [padded[i, :, r:r + 32, s:s + 32]])
        assert found
    # augmentation is on for 32x32 datasets and comes from the (seed, epoch, step) stream
    stream = TrainBatches((x * 255).to(torch.uint8), torch.zeros(16, dtype=torch.long), 255, 8, seed=0, augment=True)
    plain = TrainBatches((x * 255).to(torch.uint8), torch.zeros(16, dtype=torch.long), 255, 8, seed=0)
    assert torch.equal(stream.batch(0, 1)[0], stream.batch(0, 1)[0])
    assert not torch.equal(stream.batch(0, 1)[0], plain.batch(0, 1)[0])


def test_seed_of_is_stable():
    assert seed_of(0, 1, 2) == seed_of(0, 1, 2) != seed_of(0, 2, 1)
    assert 0 <= seed_of(2**32 - 1, 99, 10**6) < 2**63
    assert dataset_info("cifar100").num_classes == 100
