"""Evaluation data: the one interface through which the evaluation, the per-epoch check and inference read a split.

An :class:`EvalSet` is a fixed, ordered set of labelled points that is read in batches, never as a whole:

* ``n``, ``labels`` (int64, all points; cheap), ``shape`` (C, H, W of one image);
* :meth:`EvalSet.batches` ``(batch_size, indices=None)``: ``(images float in [0, 1], labels)`` in order, over all
  points or over the given indices (AutoAttack attacks the points still robust);
* :meth:`EvalSet.head` / :meth:`EvalSet.subset`: the first k points / the given points, as an EvalSet;
* :meth:`EvalSet.digest`: what a resumable state was made for (a state for other data is stale);
* :meth:`EvalSet.tensors`: everything in memory, for the few consumers that need it (slowdown calibration).

Two kinds, chosen by the dataset (:meth:`benchmarks.datasets.base.Dataset.eval_set`):

* :class:`TensorSet`: splits that are small tensors anyway (digits, CIFAR-10/100): batches are slices of the
  float tensor ``load_dataset`` gives, exactly what the evaluation computed before this interface existed
  (same batches, same digest);
* :class:`benchmarks.datasets.streamed.FolderSet` (``tinyimagenet``, ``imagefolder``): image files decoded batch
  by batch by ``torch.utils.data.DataLoader`` workers (``data.num_workers``) in file order, so at most the
  batches in flight are in memory whatever the split's size (ImageNet's 50,000 validation images included).

Every consumer takes an EvalSet (or an ``(images, labels)`` pair, wrapped by :func:`as_eval_set`) and iterates
:meth:`EvalSet.batches` with its own batch size; none branches on the dataset.
"""
from __future__ import annotations

import hashlib
from typing import Iterator, Optional, Sequence, Tuple, Union

import torch

__all__ = ["Batch", "EvalSet", "TensorSet", "as_eval_set", "tensor_digest"]

Batch = Tuple[torch.Tensor, torch.Tensor]


def tensor_digest(tensors: Sequence[torch.Tensor]) -> str:
    """Hash of the tensors' bytes (model weights, test points): a state made for other ones is stale."""
    h = hashlib.blake2b(digest_size=16)
    for t in tensors:
        t = t.detach().contiguous().cpu()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class EvalSet:
    """A fixed, ordered set of labelled points read in batches (see the module docstring)."""

    n: int
    labels: torch.Tensor
    shape: Tuple[int, ...]

    def __len__(self) -> int:
        return self.n

    def batches(self, batch_size: int, indices: Optional[Sequence[int]] = None) -> Iterator[Batch]:
        raise NotImplementedError

    def head(self, k: int) -> "EvalSet":
        return self if k >= self.n else self.subset(range(k))

    def subset(self, indices: Sequence[int]) -> "EvalSet":
        raise NotImplementedError

    def digest(self) -> str:
        raise NotImplementedError

    def tensors(self) -> Batch:
        """All points in memory: ``(images float in [0, 1], labels)``."""
        xs = [x for x, _ in self.batches(256)]
        return (torch.cat(xs) if xs else torch.empty((0, *self.shape))), self.labels.clone()


class TensorSet(EvalSet):
    """Points already in memory: ``images`` float in [0, 1] (or None: unlabelled queries only), ``labels``."""

    def __init__(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None):
        self.images = images
        self.labels = labels if labels is not None else torch.full((images.shape[0],), -1, dtype=torch.int64)
        self.has_labels = labels is not None
        self.n = int(images.shape[0])
        self.shape = tuple(images.shape[1:])

    def batches(self, batch_size: int, indices: Optional[Sequence[int]] = None) -> Iterator[Batch]:
        if indices is None:
            for start in range(0, self.n, batch_size):
                yield self.images[start:start + batch_size], self.labels[start:start + batch_size]
            return
        indices = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        for start in range(0, indices.numel(), batch_size):
            idx = indices[start:start + batch_size].to(self.images.device)
            yield self.images[idx], self.labels[idx.to(self.labels.device)]

    def head(self, k: int) -> "TensorSet":
        return self if k >= self.n else TensorSet(self.images[:k], self.labels[:k] if self.has_labels else None)

    def subset(self, indices: Sequence[int]) -> "TensorSet":
        idx = torch.as_tensor(indices, dtype=torch.long).reshape(-1)
        return TensorSet(self.images[idx], self.labels[idx] if self.has_labels else None)

    def digest(self) -> str:
        # the digest the evaluation states had before EvalSet existed: resumable states stay valid
        return tensor_digest([self.images, self.labels])

    def tensors(self) -> Batch:
        return self.images, self.labels


def as_eval_set(data: Union[EvalSet, Tuple[torch.Tensor, Optional[torch.Tensor]], torch.Tensor],
                labels: Optional[torch.Tensor] = None) -> EvalSet:
    """``data`` as an EvalSet: an EvalSet as is; ``(images, labels)`` or ``images, labels`` as a :class:`TensorSet`."""
    if isinstance(data, EvalSet):
        return data
    if isinstance(data, tuple):
        data, labels = data
    return TensorSet(data, labels)
