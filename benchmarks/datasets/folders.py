"""The streamed family of datasets: folders of image files, decoded batch by batch (:mod:`.streamed`).

* ``tinyimagenet``: the standard ``tiny-imagenet-200/`` folder (Le & Yang 2015, http://cs231n.stanford.edu/):
  ``train/<wnid>/images/*.JPEG`` and ``val/images/*`` labelled by ``val/val_annotations.txt`` (file, wnid, box);
  200 classes of 64x64 images. ``data.root`` is the folder itself or its parent.
* ``imagefolder``: ``data.root/train/<class>/*`` and ``data.root/val/<class>/*`` (ImageNet's layout after the
  usual val re-foldering); classes are the sorted folder names of ``train``.

Images are brought to ``data.image_size`` (default: the entry's ``image_size``, 64 for Tiny ImageNet, 224 for
imagefolder). Evaluation resizes the shorter side to ``image_size / eval_crop`` (Tiny ImageNet's images are
already that small: ``eval_crop`` 1) and centre-crops. A subclass names its layout: :meth:`FolderDataset.base`
(the folder holding ``train/``), :meth:`FolderDataset.class_folder` (where a class's training images are) and
:meth:`FolderDataset.listing` (the files of a split).

Classes are the folders of ``train/``, and each must hold at least one image: a folder without images (an empty
class, a stray ``.ipynb_checkpoints``) would change the class count, and with it the model, silently, so it is
named in a DataError instead. Image-named entries that are not regular files (a FIFO, a device, a folder, a
dangling symlink) are named at listing time (:func:`~benchmarks.datasets.images.image_files`). Tiny ImageNet's
``val_annotations.txt`` is read as bytes: file names are taken byte for byte (so UTF-8, Latin-1 or any other
encoding finds the file it names), lines are bounded (``ROBUSTPERF_MAX_LINE_BYTES``), and a line that names no
class is reported with the file and line number.
"""
from __future__ import annotations

import codecs
import os
from typing import Any, List, Optional, Tuple

import torch

from recipes.limits import LIMITS, limit

from .base import DataError, Dataset, DatasetInfo
from .images import EXTENSIONS, first_image, image_files
from .streamed import DecodedSamples, FolderBatches, FolderSet

__all__ = ["EXTENSIONS", "EVAL_CROP", "IMAGENET_MEAN", "IMAGENET_STD", "FolderDataset", "ImageFolder",
           "TinyImageNet", "images_in"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: The usual ImageNet evaluation crop: resize to size / 0.875, centre-crop size.
EVAL_CROP = 0.875

Files = Tuple[List[str], torch.Tensor, List[str]]


#: the image files directly in a folder, sorted (:func:`benchmarks.datasets.images.image_files`)
images_in = image_files


def _subfolders(folder: str) -> List[str]:
    """Names of the folders (or symlinks to folders) in ``folder``, sorted."""
    with os.scandir(folder) as entries:
        return sorted(entry.name for entry in entries if entry.is_dir())


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

    def class_folder(self, base: str, name: str) -> str:
        """The folder of class ``name``'s training images."""
        return os.path.join(base, "train", name)

    # ------------------------------------------------------------ files and facts

    def classes(self, root: Optional[str]) -> List[str]:
        """Class names in label order (sorted folder names of the training split)."""
        base = self.base(root)
        train = os.path.join(base, "train")
        classes = _subfolders(train)
        if not classes:
            raise DataError(f"{self.name}: {train!r} holds no class folders")
        empty = [c for c in classes if first_image([self.class_folder(base, c)]) is None]
        if empty:
            shown = ", ".join(repr(self.class_folder(base, c)) for c in empty[:5]) + (", ..." if len(empty) > 5
                                                                                     else "")
            raise DataError(f"{self.name}: {len(empty)} class folder{'s' if len(empty) > 1 else ''} hold"
                            f"{'' if len(empty) > 1 else 's'} no images: {shown}; every folder of {train!r} is a "
                            f"class, and one without training images would change the class count silently: add "
                            f"its images or move it out of {train!r} (image extensions: {', '.join(EXTENSIONS)})")
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
            images[i] = samples.sample(i)[0]
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
                                num_workers=data.num_workers, augment=data.augment, held_out=val_size or 0,
                                train_size=getattr(data, "train_size", None))
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
                found = images_in(self.class_folder(base, c))
                paths += found
                labels += [index[c]] * len(found)
            return paths, labels
        annotations = os.path.join(base, "val", "val_annotations.txt")
        for n, name, wnid in self._annotations(annotations, index):
            paths.append(os.path.join(base, "val", "images", name))
            labels.append(index[wnid])
        order = sorted(range(len(paths)), key=paths.__getitem__)
        return [paths[i] for i in order], [labels[i] for i in order]

    def class_folder(self, base: str, name: str) -> str:
        return os.path.join(base, "train", name, "images")

    def _annotations(self, path: str, index: dict):
        """``(line number, file name, wnid)`` of each line of ``val_annotations.txt``, names byte for byte."""
        bound = limit("line_bytes")
        with open(path, "rb") as fh:
            n = 0
            while True:
                raw = fh.readline(bound + 1)
                if not raw:
                    return
                n += 1
                if len(raw) > bound:
                    raise DataError(f"{self.name}: {path}:{n}: a line longer than {bound:,} bytes; expected "
                                    f"'file<TAB>wnid<TAB>box' lines (raise the bound with {LIMITS['line_bytes'][0]})")
                if n == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8):]
                parts = raw.strip().split(b"\t")
                if not parts[0]:
                    continue
                name, wnid = os.fsdecode(parts[0]), os.fsdecode(parts[1]) if len(parts) > 1 else None
                if wnid not in index:
                    hint = ("; the line holds NUL bytes: is the file UTF-16? Save it as UTF-8 (or Latin-1)"
                            if b"\0" in raw else "")
                    shown = raw.strip().decode("utf-8", "backslashreplace")[:200]
                    raise DataError(f"{self.name}: {path}:{n}: expected 'file<TAB>wnid' with a wnid of train/, got "
                                    f"{shown!r}{hint}")
                yield n, name, wnid


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
        stray = [d for d in _subfolders(os.path.join(base, sub)) if d not in index]
        if stray:
            raise DataError(f"{self.name}: {os.path.join(base, sub, stray[0])!r} is not a class: no folder of that "
                            f"name in {os.path.join(base, 'train')!r}, so its images would be left out of the "
                            f"{split} split silently; add its training images or move it out")
        paths: List[str] = []
        labels: List[int] = []
        for c in index:
            folder = os.path.join(base, sub, c)
            found = images_in(folder) if os.path.isdir(folder) else []
            paths += found
            labels += [index[c]] * len(found)
        return paths, labels
