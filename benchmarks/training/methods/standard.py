"""``standard``: natural training, no attack - the baseline whose cost every robust method is divided by.

Cross-entropy on the clean batch, one forward and one backward per sample (the
schedule, optimizer and augmentation are the run's shared ``training.*`` settings; He et al. 2016, "Deep Residual
Learning for Image Recognition", https://arxiv.org/abs/1512.03385).
"""
from __future__ import annotations

import torch.nn.functional as F

from .base import Method


class Standard(Method):

    def loss(self, model, x, y, x_adv):
        logits = self.forward(model, x)
        return F.cross_entropy(logits, y), logits.detach()
