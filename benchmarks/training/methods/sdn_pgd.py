"""The PGD-avg and PGD-max defences of DeepSloth's Table 3 (Hong et al., ICLR 2021, section 6,
https://arxiv.org/abs/2010.02432), as their own training methods: the IC-only SDN (:mod:`.sdn`) whose backbone
phase is PGD adversarial training and whose IC phase trains the internal classifiers on
sum_i CE(F_i(x), y) + sum_i CE(F_i(x'), y), with x'

* ``sdn_ic_only_pgd_avg``: PGD on the mean cross-entropy of all exits (``pgd_exits``; the paper's
  "PGD-10 (Avg.)", the training ``sdn_ic_only_pgd`` has always done, under the paper's row name);
* ``sdn_ic_only_pgd_max``: one PGD per exit, per sample the candidate with the largest summed cross-entropy
  (``pgd_max_exits``; the paper's "PGD-10 (Max.)"), K x ``attack.steps`` passes for K exits.
"""
from __future__ import annotations

from .sdn import SDNICOnlyPGD

__all__ = ["SDNICOnlyPGDAvg", "SDNICOnlyPGDMax"]


class SDNICOnlyPGDAvg(SDNICOnlyPGD):
    """IC-only SDN, the ICs trained on PGD-avg examples (PGD on the mean cross-entropy of the exits)."""


class SDNICOnlyPGDMax(SDNICOnlyPGD):
    """IC-only SDN, the ICs trained on PGD-max examples (the worst of one PGD per exit)."""

    def attack_passes(self) -> int:
        if self.in_ic_phase():
            return int(self.trainer.model.num_exits) * int(self.cfg.attack.steps)
        return super().attack_passes()
