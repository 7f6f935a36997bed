"""Attacks: one registry (the ``attacks`` plug-ins of :mod:`recipes.catalog`, declared in :mod:`.catalog`) that
training, the per-epoch check, the final evaluation and the slowdown evaluation build from by name, through one
signature (:func:`.create.create_attack`).

* :mod:`.create` - :func:`create_attack`, the signature every attack is built through;
* :mod:`.ascent` - projected steps on the adversarial input, the starts and the loop the iterative attacks share;
* :mod:`.perturbation` - perturbations in the Linf / L2 / L1 balls (projections, draws, sparse steps);
* :mod:`.pgd` - ``pgd``, ``pgd_normal_start``, ``trades_kl``, ``pgd_exits``;
* :mod:`.fgsm` - ``fgsm_rs``, ``fgm``;
* :mod:`.deepsloth` - ``deepsloth``, ``deepsloth_universal``, ``deepsloth_class_universal`` (multi-exit slowdown);
* :mod:`.exit_baselines` - ``pgd_final``, ``pgd_avg``, ``pgd_max``, ``noise`` (the slowdown baselines);
* :mod:`.uap` - ``uap``, the universal misclassification baseline (DeepFool updates, Moosavi-Dezfooli 2017);
* :mod:`.deepsloth_accuracy` - ``deepsloth_keep_accuracy``, ``deepsloth_hurt_accuracy`` (accuracy-aware DeepSloth).

Importing this package is cheap: the attacks (torch) load on first use of a name below.
"""
from robustperf_lazy import lazy

__getattr__, __all__ = lazy(__name__, {
    "Attack": ".create", "create_attack": ".create", "list_attacks": ".create",
    "eval_mode": ".ascent", "project": ".ascent", "fgm_direction": ".fgsm", "sloth_loss": ".deepsloth",
})
