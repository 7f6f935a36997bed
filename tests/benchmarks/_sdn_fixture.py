"""A small SDN trained on digits the way DeepSloth attacks it: backbone first, then the ICs on the frozen backbone.

WRN-16-1 SDN (6 ICs + final) on 8x8 digits; 300 training images are held out for threshold calibration.
Shared by the slowdown tests through the ``small_sdn`` fixture (tests/benchmarks/conftest.py): one training
per session at most, ~15 s of CPU, its weights cached on disk.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

VAL = 300


def digits_splits():
    from benchmarks.datasets import load_dataset

    xtr, ytr = load_dataset("digits", "train")
    xte, yte = load_dataset("digits", "test")
    return (xtr[:-VAL], ytr[:-VAL]), (xtr[-VAL:], ytr[-VAL:]), (xte, yte)


def _fit(model, params, x, y, epochs, loss_of, seed):
    opt = torch.optim.Adam(params, 3e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 64):
            idx = perm[i:i + 64]
            loss = loss_of(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


def small_sdn():
    """The untrained WRN-16-1 SDN for 8x8 digits (the architecture :func:`train_small_sdn` trains)."""
    from benchmarks.models.sdn import create_sdn

    return create_sdn("sdn_wrn", depth=16, width=1, in_chans=1, input_size=8, num_classes=10, mean=(0.3,),
                      std=(0.38,))


def train_small_sdn(seed: int = 0, backbone_epochs: int = 5, ic_epochs: int = 3):
    torch.manual_seed(seed)
    (x, y), _, _ = digits_splits()
    model = small_sdn()
    _fit(model, model.backbone_parameters(), x, y, backbone_epochs, lambda o, t: F.cross_entropy(o[-1], t), seed)
    for p in model.backbone_parameters():
        p.requires_grad_(False)
    model.eval()   # the frozen backbone's BatchNorm statistics stay as trained
    _fit(model, model.ic_parameters(), x, y, ic_epochs,
         lambda o, t: sum(F.cross_entropy(a, t) for a in o[:-1]), seed + 1)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()
