"""Training methods of multi-exit Shallow-Deep Networks (``model.arch: sdn_*``), and their adversarial variants.

Kaya, Hong, Dumitras 2019, "Shallow-Deep Networks: Understanding and Mitigating Network Overthinking"
(https://arxiv.org/abs/1810.07052); the defences of Hong et al. 2021, "A Panda? No, It's a Sloth: Slowdown
Attacks on Adaptive Multi-Exit Neural Network Inference" (https://openreview.net/forum?id=9xC2tWEwBD), section 6.

``sdn_ic_only`` (the mode DeepSloth attacks), in one run:

1. backbone phase, the first ``training.epochs - training.sdn_ic_epochs`` epochs: the run's optimizer
   (``training.optimizer``, ``lr``, ``momentum``, ``weight_decay``) on the cross-entropy of the final exit, the
   learning rate dropping 10x at 35 %, 60 % and 85 % of the phase (the SDN reference's milestones 35/60/85 of
   100 epochs); the ICs get no gradient;
2. IC phase, the last ``training.sdn_ic_epochs`` epochs: the backbone is frozen (eval mode: its BatchNorm
   statistics stay), Adam (``training.sdn_ic_lr``, ``weight_decay``) trains the ICs on the unweighted sum of
   their cross-entropies, its rate dropping 10x at IC epoch ``training.sdn_ic_milestone``.

The learning rates are functions of the epoch and the Adam state is part of the method's checkpoint state, so a
run resumed on either side of the phase boundary continues bit-identically.

``sdn``: end to end, L = sum_i tau_i(e) CE(F_i(x), y) + CE(F_K(x), y) with tau_i(e) = min(q_i, 0.01 + e q_i / E),
q_i the IC's relative position (its cumulative FLOPs over the whole network's, DeepSloth's code), e = 1..E the
epoch; the run's optimizer and schedule.

Adversarial variants (the defence study, DeepSloth's Table 3; eps, steps and step size from ``attack.*``):

* ``sdn_ic_only_pgd``: backbone PGD-AT with CE(f(x), y) + CE(f(x_pgd), y) (the paper's base CNN), then the ICs
  on sum_i CE(F_i(x), y) + sum_i CE(F_i(x'), y) with x' PGD on the mean CE of all exits ("PGD-10 on all exits");
* ``sdn_ic_only_sloth``: the same backbone; the ICs on sum_i CE(F_i(x), y) + sum_i H(p_i(x), p_i(x_sloth)),
  H(p, q) = -sum p log q, x_sloth DeepSloth's examples (the paper's "Ours", its code's ``same_logits``);
* ``sdn_ic_only_sloth_pgd``: both (the paper's "Ours + PGD-10", its code's ``mixs``): the ICs on the clean CE
  plus the CE on PGD (all exits) and on DeepSloth examples;
* ``sdn_pgd``: ``sdn``'s weighted loss on the examples of PGD on all exits.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import torch
import torch.nn.functional as F

from recipes.errors import RecipeError

from ...attacks import create_attack
from ...measurement.flops import exit_forward_flops
from ...models.outputs import all_logits
from .base import Method

#: The backbone phase's learning-rate drops, as fractions of the phase (the SDN reference: 35, 60, 85 of 100).
BACKBONE_MILESTONES = (0.35, 0.60, 0.85)
GAMMA = 0.1


def _exits(output) -> List[torch.Tensor]:
    return [o.float() for o in all_logits(output)]


class _SDNMethod(Method):
    """The multi-exit methods (Shallow-Deep Networks)."""

    def _require_sdn(self):
        model = self.trainer.model
        if not hasattr(model, "heads") or not hasattr(model, "backbone_parameters"):
            raise RecipeError(f"training method {self.name} needs a Shallow-Deep Network (model.arch sdn_*)",
                              key="model.arch", value=self.cfg.model.arch)

    def _apply(self, loss, logits, y, optimizer=None, lr=None):
        """trainer.apply_gradients with this method's optimizer and learning rate (the trainer's schedule off)."""
        trainer = self.trainer
        saved = trainer.optimizer, trainer.scheduler
        if optimizer is not None:
            trainer.optimizer = optimizer
        if lr is not None:
            for group in trainer.optimizer.param_groups:
                group["lr"] = lr
        trainer.scheduler = None
        try:
            trainer.apply_gradients(loss, logits, y)
        finally:
            trainer.optimizer = saved[0]
            trainer.scheduler = saved[1]


class _ICOnly(_SDNMethod):
    """Backbone first, then the ICs on the frozen backbone (see the module docstring)."""

    #: the backbone phase's adversarial training (PGD on the final exit), or None (clean)
    backbone_attack: Optional[str] = None

    def __init__(self, trainer):
        super().__init__(trainer)
        self._require_sdn()
        t = self.cfg.training
        self.backbone_epochs = t.epochs - t.sdn_ic_epochs
        self.ic_optimizer = torch.optim.Adam(trainer.model.ic_parameters(), lr=t.sdn_ic_lr,
                                             weight_decay=t.weight_decay)
        self.ic_built = self.ic_optimizer.state_dict()["param_groups"]  # what a checkpoint's must look like
        self.backbone_pgd = None
        if self.backbone_attack is not None:
            self.backbone_pgd = create_attack(self.backbone_attack, trainer.model, autocast=trainer.autocast,
                                              **self.attack_kwargs())

    def backward_passes(self, awp=None):
        return None  # the IC phase back-propagates through the heads only (frozen backbone): not modelled

    def in_ic_phase(self, epoch: Optional[int] = None) -> bool:
        return (self.trainer.epoch if epoch is None else epoch) >= self.backbone_epochs

    def shape_key(self) -> str:
        return "ic" if self.in_ic_phase() else "backbone"

    def backbone_lr(self) -> float:
        passed = sum(self.trainer.epoch >= round(m * self.backbone_epochs) for m in BACKBONE_MILESTONES)
        return self.trainer.lr * GAMMA ** passed

    def ic_lr(self) -> float:
        t = self.cfg.training
        return t.sdn_ic_lr * (GAMMA if self.trainer.epoch - self.backbone_epochs >= t.sdn_ic_milestone else 1.0)

    def attack_passes(self) -> int:
        attack = self.attack if self.in_ic_phase() else self.backbone_pgd
        return int(self.cfg.attack.steps) if attack is not None else 0

    def train_passes(self) -> int:
        if self.in_ic_phase():
            return 1 + (self.attack is not None) + (getattr(self, "sloth", None) is not None)
        return 2 if self.backbone_pgd is not None else 1

    def _freeze(self, frozen: bool) -> None:
        for p in self.trainer.model.backbone_parameters():
            p.requires_grad_(not frozen)

    def step(self, x, y, generator):
        trainer = self.trainer
        model = trainer.model
        if not self.in_ic_phase():
            self._freeze(False)
            x_adv = self.backbone_pgd(x, y, generator=generator) if self.backbone_pgd is not None else None
            model.train()
            trainer.optimizer.zero_grad(set_to_none=True)
            with trainer.autocast():
                out = trainer.forward_model(x if x_adv is None else torch.cat([x, x_adv]))
            final = _exits(out)[-1]
            loss = F.cross_entropy(final[:len(y)], y)
            if x_adv is not None:
                loss = loss + F.cross_entropy(final[len(y):], y)
            trainer.backward(loss)
            self._apply(loss, final[-len(y):].detach(), y, lr=self.backbone_lr())
            return
        self._freeze(True)
        extra = self.ic_examples(x, y, generator)
        model.eval()   # the frozen backbone keeps its BatchNorm statistics; the IC heads have no BN or dropout
        self.ic_optimizer.zero_grad(set_to_none=True)
        with trainer.autocast():
            outs = _exits(model(torch.cat([x, *extra])))
        loss = self.ic_loss(outs[:-1], y)
        trainer.backward(loss)
        self._apply(loss, outs[-2][:len(y)].detach(), y, optimizer=self.ic_optimizer, lr=self.ic_lr())

    def ic_examples(self, x, y, generator) -> List[torch.Tensor]:
        """The adversarial batches the IC phase trains on besides the clean one."""
        return [self.attack(x, y, generator=generator)] if self.attack is not None else []

    def ic_loss(self, ics: List[torch.Tensor], y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of every IC on the clean batch and on each adversarial batch."""
        n = len(y)
        loss = 0.0
        for o in ics:
            for start in range(0, o.shape[0], n):
                loss = loss + F.cross_entropy(o[start:start + n], y)
        return loss

    def state_dict(self) -> Dict[str, Any]:
        return {"ic_optimizer": self.ic_optimizer.state_dict()}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        if state.get("ic_optimizer") is not None:
            self.ic_optimizer.load_state_dict(state["ic_optimizer"])

    def check_state_dict(self, state: Dict[str, Any], where: str) -> None:
        from ..checkpoint_check import check_optimizer

        if state.get("ic_optimizer") is not None:
            check_optimizer(state["ic_optimizer"], self.ic_optimizer, f"{where}['ic_optimizer']", self.ic_built)

    def describe(self) -> Dict[str, Any]:
        out = super().describe()
        # the record's method group holds name, params, train_attack and passes; the phases are parameters
        out["params"].update(backbone_epochs=self.backbone_epochs, ic_epochs=self.cfg.training.sdn_ic_epochs,
                             backbone_attack=self.backbone_attack)
        return out


class SDNICOnly(_ICOnly):
    """The clean IC-only SDN (the backbone trains without an attack)."""


class SDNICOnlyPGD(_ICOnly):
    backbone_attack = "pgd"


class SDNICOnlySloth(_ICOnly):
    backbone_attack = "pgd"

    def ic_loss(self, ics, y):
        n = len(y)
        loss = 0.0
        for o in ics:
            clean, sloth = o[:n], o[n:]
            loss = loss + F.cross_entropy(clean, y)
            # soft-label cross-entropy H(p(x), p(x_sloth)): the slowed-down outputs are tied to the clean ones
            loss = loss - (F.softmax(clean, -1) * F.log_softmax(sloth, -1)).sum(-1).mean()
        return loss


class SDNICOnlySlothPGD(_ICOnly):
    """The paper's "Ours + PGD-10" (its code's ``mixs``): clean CE + CE on PGD (all exits) + CE on DeepSloth."""

    backbone_attack = "pgd"

    def __init__(self, trainer):
        super().__init__(trainer)
        self.sloth = create_attack("deepsloth", trainer.model, autocast=trainer.autocast, **self.attack_kwargs())

    def attack_passes(self) -> int:
        return (2 if self.in_ic_phase() else 1) * int(self.cfg.attack.steps)

    def ic_examples(self, x, y, generator):
        return [self.attack(x, y, generator=generator), self.sloth(x, y, generator=generator)]


class _EndToEnd(_SDNMethod):
    def __init__(self, trainer):
        super().__init__(trainer)
        self._require_sdn()
        info = trainer.info
        flops = exit_forward_flops(trainer.model, (info.in_chans, info.size, info.size))["exit_cumulative_flops"]
        self.q = [c / flops[-1] for c in flops[:-1]]

    def train_passes(self) -> int:
        return 1

    def weights(self, epoch: Optional[int] = None) -> List[float]:
        e = (self.trainer.epoch if epoch is None else epoch) + 1
        total = self.cfg.training.epochs
        return [min(q, 0.01 + e * q / total) for q in self.q]

    def loss(self, model, x, y, x_adv):
        with self.trainer.autocast():
            outs = _exits(model(x_adv))
        loss = F.cross_entropy(outs[-1], y)
        for w, o in zip(self.weights(), outs[:-1]):
            loss = loss + w * F.cross_entropy(o, y)
        return loss, outs[-1].detach()

    def describe(self) -> Dict[str, Any]:
        out = super().describe()
        out["params"]["ic_position"] = self.q
        return out


class SDNEndToEnd(_EndToEnd):
    """Every exit trained together on clean inputs."""


class SDNEndToEndPGD(_EndToEnd):
    """Every exit trained together on PGD inputs (PGD on the summed loss of the exits)."""
