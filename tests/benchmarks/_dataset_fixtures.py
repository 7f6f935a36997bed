"""Small datasets written on disk in each dataset's own format, so every registered dataset is tested offline:
CIFAR python batches, a Tiny ImageNet folder, ImageNet-style class folders (digits ships with scikit-learn).

:data:`OFFLINE` maps a dataset name to ``build(folder) -> data.root`` (None: the dataset needs no files); the
dataset tests are parametrised over ``catalog.names("datasets")`` and use it.
"""
from __future__ import annotations

import pickle

import numpy as np
from PIL import Image


def write_cifar(folder, name="cifar10", per_file=6, seed=0):
    """CIFAR batches in the official python format (pickled dicts of bytes keys), small."""
    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    if name == "cifar10":
        files, key, classes = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"], b"labels", 10
    else:
        files, key, classes = ["train", "test"], b"fine_labels", 100
    written = {}
    for file in files:
        data = rng.randint(0, 256, size=(per_file, 3072), dtype=np.uint8)
        labels = rng.randint(0, classes, size=per_file).tolist()
        with open(folder / file, "wb") as fh:
            batch = {b"batch_label": file.encode(), b"data": data, key: labels, b"filenames": [b"x.png"] * per_file}
            pickle.dump(batch, fh, protocol=2)
        written[file] = (data, labels)
    return written


def _image(path, size, seed, fmt):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, format=fmt)


def make_tiny_imagenet(root, classes=3, train=8, val=2):
    base = root / "tiny-imagenet-200"
    wnids = [f"n{1000 + i:08d}" for i in range(classes)]
    lines = []
    for c, wnid in enumerate(wnids):
        folder = base / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(train):
            _image(folder / f"{wnid}_{i}.JPEG", (64, 64), 100 * c + i, "JPEG")
        for i in range(val):
            name = f"val_{c * val + i}.JPEG"
            (base / "val" / "images").mkdir(parents=True, exist_ok=True)
            _image(base / "val" / "images" / name, (64, 64), 1000 + 10 * c + i, "JPEG")
            lines.append(f"{name}\t{wnid}\t0\t0\t63\t63")
    (base / "val" / "val_annotations.txt").write_text("\n".join(reversed(lines)) + "\n")
    (base / "wnids.txt").write_text("\n".join(wnids) + "\n")
    return wnids


def make_imagefolder(root, classes=("cat", "dog"), train=10, val=3):
    for split, n in (("train", train), ("val", val)):
        for c, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(n):  # mixed sizes, aspect ratios and formats
                _image(folder / f"{i}.{'png' if i % 2 else 'jpg'}", (40 + 7 * i, 30 + 3 * c),
                       hash((split, c, i)) % 2**31, "PNG" if i % 2 else "JPEG")
    return root


def _cifar(name):
    def build(folder):
        write_cifar(folder, name, per_file=40 if name == "cifar10" else 120)
        return str(folder)
    return build


def _tiny(folder):
    make_tiny_imagenet(folder)
    return str(folder)


def _imagefolder(folder):
    return str(make_imagefolder(folder))


#: dataset name -> build(folder) -> data.root (None: no files needed)
OFFLINE = {"digits": lambda folder: None, "cifar10": _cifar("cifar10"), "cifar100": _cifar("cifar100"),
           "tinyimagenet": _tiny, "imagefolder": _imagefolder}


def synthetic_npz(path, n=50, value=255, label=3):
    """A generated-data ``.npz`` of ``n`` 32x32 images of one value and one label."""
    np.savez(path, image=np.full((n, 32, 32, 3), value, dtype=np.uint8), label=np.full(n, label, dtype=np.int64))
    return str(path)
