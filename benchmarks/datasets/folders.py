"""The streamed family of datasets: folders of image files, decoded batch by batch (:mod:`.streamed`).

* ``tinyimagenet``: the standard ``tiny-imagenet-200/`` folder (Le & Yang 2015, http://cs231n.stanford.edu/):
  ``train/<wnid>/images/*.JPEG`` and ``val/images/*`` labelled by ``val/val_annotations.txt`` (file, wnid, box);
  200 classes of 64x64 images. ``data.root`` is the folder itself or its parent.
* ``imagefolder``: ``data.root/train/<class>/*`` and ``data.root/val/<class>/*`` (ImageNet's layout after the
  usual val re-foldering); classes are the sorted folder names of ``train``.

Images are brought to ``data.image_size`` (default: the entry's ``image_size``, 64 for Tiny ImageNet, 224 for
imagefolder). Evaluation resizes the shorter side to ``image_size / eval_crop`` (Tiny ImageNet's images are
already that small: ``eval_crop`` 1) and centre-crops. A subclass names its layout: :meth:`FolderDataset.base`
(the folder holding ``train/``) and :meth:`FolderDataset.listing` (the files of a split).
"""
from __future__ import annotations

import os
from typing import Any, List, Optional, Tuple

import torch

from .base import DataError, Dataset, DatasetInfo
from .streamed import DecodedSamples, FolderBatches, FolderSet

__all__ = ["EXTENSIONS", "EVAL_CROP", "IMAGENET_MEAN", "IMAGENET_STD", "FolderDataset", "ImageFolder",
           "TinyImageNet", "images_in"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff")
#: The usual ImageNet evaluation crop: resize to size / 0.875, centre-crop size.
EVAL_CROP = 0.875

Files = Tuple[List[str], torch.Tensor, List[str]]


def images_in(folder: str) -> List[str]:
    """The image files directly in ``folder``, sorted."""
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(EXTENSIONS))


class FolderDataset(Dataset):
    """A dataset of class folders of images, streamed (ImageNet statistics, RGB)."""

    mean = IMAGENET_MEAN
    std = IMAGENET_STD
    #: the evaluation transform's crop fraction
    eval_crop: float = EVAL_CROP

    # ------------------------------------------------------------ the layout (subclasses)

    def base(self, root: Optional[str]) -> str:
        """The folder holding ``train/`` (DataError when ``root`` does not have the layout)."""
        raise NotImplementedError

    def listing(self, split: str, base: str, index: dict) -> Tuple[List[str], List[int]]:
        """``(paths, labels)`` of ``split`` under ``base``; ``index`` maps class names to labels."""
        raise NotImplementedError

    # ------------------------------------------------------------ files and facts

    def classes(self, root: Optional[str]) -> List[str]:
        """Class names in label order (sorted folder names of the training split)."""
        train = os.path.join(self.base(root), "train")
        classes = sorted(d for d in os.listdir(train) if os.path.isdir(os.path.join(train, d)))
        if not classes:
            raise DataError(f"{self.name}: {train!r} holds no class folders")
        return classes

    def files(self, split: str, root: Optional[str]) -> Files:
        """``(image paths, labels, classes)`` of a split (``train`` or ``test`` = the val folder), sorted."""
        classes = self.classes(root)
        paths, labels = self.listing(split, self.base(root), {c: i for i, c in enumerate(classes)})
        if not paths:
            raise DataError(f"{self.name}: no images in the {split} split under {root!r} (extensions "
                            f"{', '.join(EXTENSIONS)})")
        return paths, torch.tensor(labels, dtype=torch.int64), classes

    def num_classes(self, root: Optional[str] = None) -> int:
        return len(self.classes(root))

    def image_size(self, image_size: Optional[int]) -> int:
        return image_size or self.entry.image_size

    def info(self, root: Optional[str] = None, image_size: Optional[int] = None) -> DatasetInfo:
        return DatasetInfo(self.name, self.num_classes(root), self.entry.channels, self.image_size(image_size),
                           tuple(self.mean), tuple(self.std))

    def split_size(self, split: str, root: Optional[str] = None) -> int:
        return len(self.files(split, root)[0])  # counted, not decoded

    # ------------------------------------------------------------ reading

    def read(self, split: str, root: Optional[str], image_size: Optional[int], limit: Optional[int]
             ) -> Tuple[torch.Tensor, torch.Tensor, int]:
        """An evaluation-transformed split in memory (small splits, tools that want tensors), the first ``limit``
        in file order."""
        size = self.image_size(image_size)
        paths, labels, _ = self.files(split, root)
        n = len(paths) if limit is None else min(limit, len(paths))
        samples = DecodedSamples(paths, labels, range(n), size, self.eval_crop, False, 0, 0)
        images = torch.empty((n, 3, size, size), dtype=torch.uint8)
        for i in range(n):
            images[i] = samples[i][0]
        return images, labels[:n].clone(), self.scale

    def eval_set(self, data: Any, split: str = "test", limit: Optional[int] = None) -> FolderSet:
        """The streamed :class:`~benchmarks.datasets.streamed.FolderSet` of a split."""
        paths, labels, _ = self.files(split, data.root)
        n = len(paths) if limit is None else min(limit, len(paths))
        return FolderSet(self.name, paths[:n], labels[:n].clone(), self.image_size(getattr(data, "image_size", None)),
                         getattr(data, "num_workers", 0), self.eval_crop)

    def train_batches(self, data: Any, *, seed: int, rank: int = 0, world_size: int = 1,
                      val_size: Optional[int] = None, check_limit: Optional[int] = None
                      ) -> Tuple[FolderBatches, Optional[FolderSet]]:
        batches = FolderBatches(self, data.root, data.image_size, data.batch_size, seed, rank, world_size,
                                num_workers=data.num_workers, augment=data.augment, held_out=val_size or 0)
        return batches, batches.held_out_set(limit=check_limit)


class TinyImageNet(FolderDataset):
    eval_crop = 1.0

    def base(self, root: Optional[str]) -> str:
        hint = "expected the tiny-imagenet-200 folder (train/<wnid>/images, val/val_annotations.txt) in data.root"
        if not root:
            raise DataError(f"{self.name}: data.root is not set; {hint}")
        for folder in (os.path.join(root, "tiny-imagenet-200"), root):
            if os.path.isdir(os.path.join(folder, "train")) and os.path.isfile(
                    os.path.join(folder, "val", "val_annotations.txt")):
                return folder
        raise DataError(f"{self.name}: {root!r} has no train/ and val/val_annotations.txt; {hint}")

    def listing(self, split: str, base: str, index: dict) -> Tuple[List[str], List[int]]:
        paths: List[str] = []
        labels: List[int] = []
        if split == "train":
            for c in index:
                folder = os.path.join(base, "train", c, "images")
                found = images_in(folder) if os.path.isdir(folder) else []
                paths += found
                labels += [index[c]] * len(found)
            return paths, labels
        annotations = os.path.join(base, "val", "val_annotations.txt")
        with open(annotations, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                parts = line.strip().split("\t")
                if not parts or not parts[0]:
                    continue
                if len(parts) < 2 or parts[1] not in index:
                    raise DataError(f"{self.name}: {annotations}:{n}: expected 'file<TAB>wnid' with a wnid of "
                                    f"train/, got {line.strip()!r}")
                paths.append(os.path.join(base, "val", "images", parts[0]))
                labels.append(index[parts[1]])
        order = sorted(range(len(paths)), key=paths.__getitem__)
        return [paths[i] for i in order], [labels[i] for i in order]


class ImageFolder(FolderDataset):
    def base(self, root: Optional[str]) -> str:
        hint = "expected data.root/train/<class>/<images> and data.root/val/<class>/<images>"
        if not root:
            raise DataError(f"{self.name}: data.root is not set; {hint}")
        if not os.path.isdir(os.path.join(root, "train")):
            raise DataError(f"{self.name}: {root!r} has no train folder; {hint}")
        return root

    def listing(self, split: str, base: str, index: dict) -> Tuple[List[str], List[int]]:
        sub = "train" if split == "train" else next((s for s in ("val", "test") if os.path.isdir(
            os.path.join(base, s))), None)
        if sub is None:
            raise DataError(f"{self.name}: {base!r} has no val (or test) folder for the test split")
        paths: List[str] = []
        labels: List[int] = []
        for c in index:
            folder = os.path.join(base, sub, c)
            found = images_in(folder) if os.path.isdir(folder) else []
            paths += found
            labels += [index[c]] * len(found)
        return paths, labels
