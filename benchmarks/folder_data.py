"""Image-folder datasets, streamed from disk: ``tinyimagenet`` and ``imagefolder`` (ImageNet-style class folders).

* ``tinyimagenet``: the standard ``tiny-imagenet-200/`` folder (Le & Yang 2015, http://cs231n.stanford.edu/):
  ``train/<wnid>/images/*.JPEG`` and ``val/images/*`` labelled by ``val/val_annotations.txt`` (file, wnid, box);
  200 classes of 64x64 images. ``data.root`` is the folder itself or its parent.
* ``imagefolder``: ``data.root/train/<class>/*`` and ``data.root/val/<class>/*`` (ImageNet's layout after the
  usual val re-foldering); classes are the sorted folder names of ``train``.

Images are decoded (Pillow), converted to RGB and brought to ``data.image_size`` (default 64 for Tiny ImageNet,
224 for imagefolder). Training: the standard random-resized crop (scale 0.08-1, aspect 3/4-4/3; Szegedy et al.
2015) and a horizontal flip; ``data.augment: false`` uses the evaluation transform instead. Evaluation: resize
the shorter side to ``image_size / 0.875`` (``image_size`` for Tiny ImageNet, whose images are already that
small) and centre-crop. Training batches stream through a ``torch.utils.data.DataLoader`` with
``data.num_workers`` worker processes, never held in memory; each sample's crop and flip are drawn from a
generator seeded by (seed, epoch, index), and the batch order from (seed, epoch), so batches do not depend on
the worker count and a run resumed at any step sees exactly the batches an uninterrupted run sees. Evaluation
splits (the test split, the held-out validation images of the per-epoch check) are read as :class:`FolderSet`
(:mod:`benchmarks.eval_data`): decoded batch by batch by DataLoader workers in file order, never held in memory
whole. :func:`load_folder` (a split in memory) remains for small splits and tools that want tensors.
"""
from __future__ import annotations

import math
import os
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from .eval_data import EvalSet, register_source

__all__ = ["FOLDER_DATASETS", "FolderBatches", "FolderSet", "folder_classes", "folder_info", "folder_split",
           "load_folder"]

#: name -> (default image size, mean, std); ImageNet statistics for both.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FOLDER_DATASETS = {"tinyimagenet": 64, "imagefolder": 224}
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")
EVAL_CROP = 0.875


def _error(message: str):
    from .data import DataError

    return DataError(message)


def folder_info(name: str, root: Optional[str], image_size: Optional[int] = None):
    """The :class:`benchmarks.data.DatasetInfo` of a folder dataset (classes counted on disk)."""
    from .data import DatasetInfo

    return DatasetInfo(name, len(folder_classes(name, root)), 3, image_size or FOLDER_DATASETS[name],
                       IMAGENET_MEAN, IMAGENET_STD)


def _tiny_root(root: Optional[str]) -> str:
    hint = "expected the tiny-imagenet-200 folder (train/<wnid>/images, val/val_annotations.txt) in data.root"
    if not root:
        raise _error(f"tinyimagenet: data.root is not set; {hint}")
    for folder in (os.path.join(root, "tiny-imagenet-200"), root):
        if os.path.isdir(os.path.join(folder, "train")) and os.path.isfile(
                os.path.join(folder, "val", "val_annotations.txt")):
            return folder
    raise _error(f"tinyimagenet: {root!r} has no train/ and val/val_annotations.txt; {hint}")


def _images_in(folder: str) -> List[str]:
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(EXTENSIONS))


def folder_classes(name: str, root: Optional[str]) -> List[str]:
    """Class names in label order (sorted folder names of the training split)."""
    base = _tiny_root(root) if name == "tinyimagenet" else _folder_root(root)
    train = os.path.join(base, "train")
    classes = sorted(d for d in os.listdir(train) if os.path.isdir(os.path.join(train, d)))
    if not classes:
        raise _error(f"{name}: {train!r} holds no class folders")
    return classes


def _folder_root(root: Optional[str]) -> str:
    hint = "expected data.root/train/<class>/<images> and data.root/val/<class>/<images>"
    if not root:
        raise _error(f"imagefolder: data.root is not set; {hint}")
    if not os.path.isdir(os.path.join(root, "train")):
        raise _error(f"imagefolder: {root!r} has no train folder; {hint}")
    return root


def folder_split(name: str, split: str, root: Optional[str]) -> Tuple[List[str], torch.Tensor, List[str]]:
    """``(image paths, labels, classes)`` of a split (``train`` or ``test`` = the val folder), in sorted order."""
    classes = folder_classes(name, root)
    index = {c: i for i, c in enumerate(classes)}
    paths: List[str] = []
    labels: List[int] = []
    if name == "tinyimagenet":
        base = _tiny_root(root)
        if split == "train":
            for c in classes:
                folder = os.path.join(base, "train", c, "images")
                found = _images_in(folder) if os.path.isdir(folder) else []
                paths += found
                labels += [index[c]] * len(found)
        else:
            annotations = os.path.join(base, "val", "val_annotations.txt")
            with open(annotations, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    parts = line.strip().split("\t")
                    if not parts or not parts[0]:
                        continue
                    if len(parts) < 2 or parts[1] not in index:
                        raise _error(f"tinyimagenet: {annotations}:{n}: expected 'file<TAB>wnid' with a wnid of "
                                     f"train/, got {line.strip()!r}")
                    paths.append(os.path.join(base, "val", "images", parts[0]))
                    labels.append(index[parts[1]])
            order = sorted(range(len(paths)), key=paths.__getitem__)
            paths, labels = [paths[i] for i in order], [labels[i] for i in order]
    else:
        base = _folder_root(root)
        sub = "train" if split == "train" else next((s for s in ("val", "test") if os.path.isdir(
            os.path.join(base, s))), None)
        if sub is None:
            raise _error(f"imagefolder: {base!r} has no val (or test) folder for the test split")
        for c in classes:
            folder = os.path.join(base, sub, c)
            found = _images_in(folder) if os.path.isdir(folder) else []
            paths += found
            labels += [index[c]] * len(found)
    if not paths:
        raise _error(f"{name}: no images in the {split} split under {root!r} (extensions {', '.join(EXTENSIONS)})")
    return paths, torch.tensor(labels, dtype=torch.int64), classes


# ---------------------------------------------------------------- decoding and transforms

def _open(path: str):
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError) as err:
        raise _error(f"cannot decode image {path}: {err}") from None


def _to_tensor(img) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


def eval_transform(img, size: int, crop: float):
    """Resize the shorter side to ``round(size / crop)`` and centre-crop ``size`` x ``size``."""
    from PIL import Image

    w, h = img.size
    short = max(size, int(round(size / crop)))
    scale = short / min(w, h)
    nw, nh = max(size, int(round(w * scale))), max(size, int(round(h * scale)))
    img = img.resize((nw, nh), Image.BILINEAR)
    left, top = (nw - size) // 2, (nh - size) // 2
    return img.crop((left, top, left + size, top + size))


def random_resized_crop(img, size: int, rng: np.random.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    """The standard random-resized crop (10 tries, then the centre crop at the clamped ratio), then a flip."""
    from PIL import Image

    w, h = img.size
    area = w * h
    box = None
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        cw, ch = int(round(math.sqrt(target * aspect))), int(round(math.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            box = (left, top, left + cw, top + ch)
            break
    if box is None:
        in_ratio = w / h
        cw, ch = (w, int(round(w / ratio[0]))) if in_ratio < ratio[0] else \
            (int(round(h * ratio[1])), h) if in_ratio > ratio[1] else (w, h)
        cw, ch = min(cw, w), min(ch, h)
        box = ((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch)
    img = img.resize((size, size), Image.BILINEAR, box=box)
    if rng.uniform() < 0.5:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


class _Samples(torch.utils.data.Dataset):
    """Decoded samples of given dataset indices; transforms seeded by (seed, epoch, dataset index)."""

    def __init__(self, paths: Sequence[str], labels: torch.Tensor, indices: Sequence[int], size: int, crop: float,
                 train: bool, seed: int, epoch: int):
        self.paths, self.labels, self.indices = paths, labels, list(indices)
        self.size, self.crop, self.train, self.seed, self.epoch = size, crop, train, seed, epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        from .data import seed_of

        index = self.indices[i]
        img = _open(self.paths[index])
        if self.train:
            img = random_resized_crop(img, self.size, np.random.default_rng(seed_of(self.seed, 3, self.epoch, index)))
        else:
            img = eval_transform(img, self.size, self.crop)
        return _to_tensor(img), self.labels[index]


def _crop_of(name: str) -> float:
    return 1.0 if name == "tinyimagenet" else EVAL_CROP


def load_folder(name: str, split: str, root: Optional[str], image_size: Optional[int] = None,
                limit: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """An evaluation-transformed split in memory: ``(uint8 Nx3xSxS, labels)``, the first ``limit`` in file order."""
    size = image_size or FOLDER_DATASETS[name]
    paths, labels, _ = folder_split(name, split, root)
    n = len(paths) if limit is None else min(limit, len(paths))
    samples = _Samples(paths, labels, range(n), size, _crop_of(name), False, 0, 0)
    images = torch.empty((n, 3, size, size), dtype=torch.uint8)
    for i in range(n):
        images[i] = samples[i][0]
    return images, labels[:n].clone()


class FolderSet(EvalSet):
    """Evaluation points read from image files (the :class:`benchmarks.eval_data.EvalSet` of folder datasets).

    Each :meth:`batches` call streams the points through a ``torch.utils.data.DataLoader`` (``num_workers``
    worker processes, no shuffling: batches come in the order asked for), decoding and evaluation-transforming
    each image in a worker; only the batches in flight (at most ``2 x num_workers + 1``) are in memory.

    Args:
        name: ``tinyimagenet`` or ``imagefolder`` (its evaluation crop).
        paths, labels: the points, in order.
        size: side of the evaluation crop.
        num_workers: DataLoader worker processes (``data.num_workers``).
    """

    def __init__(self, name: str, paths: Sequence[str], labels: torch.Tensor, size: int, num_workers: int = 0):
        self.name, self.paths, self.labels = name, list(paths), labels
        self.size, self.num_workers = int(size), int(num_workers)
        self.n = len(self.paths)
        self.shape = (3, self.size, self.size)

    def batches(self, batch_size: int, indices: Optional[Sequence[int]] = None):
        order = range(self.n) if indices is None else [int(i) for i in torch.as_tensor(indices).reshape(-1).tolist()]
        if len(order) == 0:
            return
        samples = _Samples(self.paths, self.labels, order, self.size, _crop_of(self.name), False, 0, 0)
        loader = torch.utils.data.DataLoader(samples, batch_size=batch_size, shuffle=False,
                                             num_workers=self.num_workers, pin_memory=torch.cuda.is_available())
        for x, y in loader:
            yield x.float().div_(255), y

    def subset(self, indices: Sequence[int]) -> "FolderSet":
        idx = [int(i) for i in torch.as_tensor(indices).reshape(-1).tolist()]
        return FolderSet(self.name, [self.paths[i] for i in idx], self.labels[idx], self.size, self.num_workers)

    def digest(self) -> str:
        """The files (path, size, modification time), labels and transform: cheap (no decoding), and a state
        made for other files or another image size is stale."""
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        h.update(f"{self.name}|{self.size}|{_crop_of(self.name)}|{self.n}".encode())
        for path in self.paths:
            st = os.stat(path)
            h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        h.update(self.labels.contiguous().numpy().tobytes())
        return h.hexdigest()


@register_source(*FOLDER_DATASETS)
def folder_eval_set(data, split: str, limit: Optional[int] = None) -> FolderSet:
    """The streamed :class:`FolderSet` of a split of a folder dataset (``data``: a DataConfig)."""
    paths, labels, _ = folder_split(data.name, split, data.root)
    n = len(paths) if limit is None else min(limit, len(paths))
    return FolderSet(data.name, paths[:n], labels[:n].clone(), getattr(data, "image_size", None)
                     or FOLDER_DATASETS[data.name], getattr(data, "num_workers", 0))


def split_validation(n: int, val_size: int, seed: int, global_batch: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(kept, held-out)`` indices of a training set of ``n``: ``val_size`` held out at random (fixed by the seed;
    both in dataset order), at least one global batch kept.

    Raises:
        DataError: ``training.val_size`` leaves less than one global batch to train on.
    """
    from .data import _gen, seed_of

    if val_size > n - global_batch:
        raise _error(f"training.val_size {val_size} leaves {max(0, n - val_size)} of the {n} training images, less "
                     f"than one global batch ({global_batch}); lower training.val_size or use training.select_on: "
                     "test")
    perm = torch.randperm(n, generator=_gen(seed_of(seed, 6)))
    return perm[val_size:].sort().values, perm[:val_size].sort().values


class FolderBatches:
    """Streamed, deterministic, resumable training batches of a folder dataset (the TrainBatches interface).

    Args:
        name, root: the dataset and its folder.
        image_size: side of the training crops.
        batch_size, seed, rank, world_size: as for :class:`benchmarks.data.TrainBatches`.
        num_workers: DataLoader worker processes.
        augment: random-resized crop + flip (else the evaluation transform).
    """

    def __init__(self, name: str, root: Optional[str], image_size: Optional[int], batch_size: int, seed: int,
                 rank: int = 0, world_size: int = 1, num_workers: int = 0, augment: bool = True,
                 held_out: int = 0):
        from .data import DataError

        self.name, self.size = name, image_size or FOLDER_DATASETS[name]
        self.paths, self.labels, self.classes = folder_split(name, "train", root)
        self.held_paths: List[str] = []
        self.held_labels = self.labels[:0]
        if held_out:
            keep, val = split_validation(len(self.paths), held_out, seed, batch_size * world_size)
            self.held_paths = [self.paths[i] for i in val.tolist()]
            self.held_labels = self.labels[val]
            self.paths = [self.paths[i] for i in keep.tolist()]
            self.labels = self.labels[keep]
        self.batch_size, self.seed, self.rank, self.world_size = batch_size, seed, rank, world_size
        self.num_workers, self.augment = num_workers, augment
        self.steps_per_epoch = len(self.paths) // (batch_size * world_size)
        if self.steps_per_epoch < 1:
            raise DataError(f"the training set has {len(self.paths)} images, fewer than one global batch of "
                            f"{batch_size} x {world_size} processes; lower data.batch_size")

    def __len__(self) -> int:
        return self.steps_per_epoch

    def held_out_set(self, limit: Optional[int] = None) -> Optional[FolderSet]:
        """The held-out validation images (the first ``limit``), streamed with the evaluation transform."""
        if not self.held_paths:
            return None
        n = len(self.held_paths) if limit is None else min(limit, len(self.held_paths))
        return FolderSet(self.name, self.held_paths[:n], self.held_labels[:n].clone(), self.size, self.num_workers)

    def _indices(self, epoch: int, start_step: int) -> List[int]:
        from .data import _gen, seed_of

        perm = torch.randperm(len(self.paths), generator=_gen(seed_of(self.seed, 1, epoch))).tolist()
        out: List[int] = []
        for step in range(start_step, self.steps_per_epoch):
            start = (step * self.world_size + self.rank) * self.batch_size
            out += perm[start:start + self.batch_size]
        return out

    def _loader(self, epoch: int, start_step: int):
        samples = _Samples(self.paths, self.labels, self._indices(epoch, start_step), self.size,
                           _crop_of(self.name), self.augment, self.seed, epoch)
        return torch.utils.data.DataLoader(samples, batch_size=self.batch_size, shuffle=False,
                                           num_workers=self.num_workers, pin_memory=torch.cuda.is_available())

    def batch(self, epoch: int, step: int, device: torch.device = torch.device("cpu")
              ) -> Tuple[torch.Tensor, torch.Tensor]:
        x, y = next(iter(self._loader_for(epoch, step, 1)))
        return x.to(device).float().div_(255), y.to(device)

    def _loader_for(self, epoch: int, step: int, steps: int):
        indices = self._indices(epoch, step)[:steps * self.batch_size]
        samples = _Samples(self.paths, self.labels, indices, self.size, _crop_of(self.name), self.augment,
                           self.seed, epoch)
        return torch.utils.data.DataLoader(samples, batch_size=self.batch_size, shuffle=False, num_workers=0)

    def epoch(self, epoch: int, start_step: int = 0, device: torch.device = torch.device("cpu")
              ) -> Iterator[Tuple[int, torch.Tensor, torch.Tensor]]:
        """Yield ``(step, images in [0, 1], labels)`` from ``start_step`` to the end of ``epoch``."""
        for step, (x, y) in enumerate(self._loader(epoch, start_step), start_step):
            yield step, x.to(device, non_blocking=True).float().div_(255), y.to(device, non_blocking=True)
