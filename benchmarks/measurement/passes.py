"""Counting the forward and backward passes an attack spends on a model: the machine-independent clock of the
survival data (:mod:`benchmarks.evaluation.survival`, the AutoAttack adapter).

A forward hook on the model counts the rows of every forward call; on a forward with gradients it also puts a
hook on the final logits (:func:`~benchmarks.models.outputs.final_logits`), which fires once for every backward
through that forward (``loss.backward()``, ``torch.autograd.grad``, or FAB's one backward per class) and counts its
rows. A backward that reaches the model through another exit of a multi-exit model is not counted (the attacks
counted here, the evaluation's and AutoAttack's, differentiate the final logits). Seconds depend on the machine
and its load; these counts do not, and times the model's forward FLOPs per sample they give FLOPs (a backward to
the input costs about one forward: ``benchmarks.training.methods.Method.executed_factor``).
"""
from __future__ import annotations

import torch

from ..models.outputs import final_logits

__all__ = ["PassCounter"]


class PassCounter:
    """Rows passed forward through ``model``, and backward from its final logits, while active.

    Attributes:
        forward_rows / backward_rows: the counts so far (a batch of n rows counts n).
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.forward_rows = 0
        self.backward_rows = 0
        self._handle = None

    def _backward(self, grad: torch.Tensor) -> None:
        self.backward_rows += int(grad.shape[0]) if grad.dim() else 1

    def _hook(self, module, inputs, output) -> None:
        if inputs and torch.is_tensor(inputs[0]):
            self.forward_rows += int(inputs[0].shape[0])
        try:
            logits = final_logits(output)
        except TypeError:  # an output we cannot read: its forwards still count
            return
        if logits.requires_grad:
            logits.register_hook(self._backward)

    def __enter__(self) -> "PassCounter":
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()
