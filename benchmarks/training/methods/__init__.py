"""Training methods, one module each, registered under the name ``training.loss`` gives them.

========  =========================================================  ==========================================
name      paper                                                      forward passes per sample of one batch
========  =========================================================  ==========================================
standard  natural training (the cost baseline)                       1 train
at        Madry et al. 2018, PGD adversarial training                k attack + 1 train
trades    Zhang et al. 2019, TRADES                                  k + 1 attack + 2 train
fgsm_rs   Wong, Rice & Kolter 2020, "Fast is better than free"       1 attack + 1 train
n_fgsm    de Jorge et al. 2022, N-FGSM ("Make Some Noise")            1 attack + 1 train
free      Shafahi et al. 2019, "Adversarial training for free!"      m train (m replays, m optimizer steps)
mart      Wang et al. 2020, MART                                     k attack + 2 train
sdn_*     Kaya et al. 2019 SDN; Hong et al. 2021 DeepSloth defences  see :mod:`.sdn` (two phases for ic_only)
========  =========================================================  ==========================================

``training.awp_gamma`` adds adversarial weight perturbation (Wu et al. 2020) to at, trades and mart: one more
pass of the training loss per step once ``training.awp_warmup`` epochs have passed. See :mod:`.base` for the
plug-in contract. Adding a method is one module here with a :class:`~.base.Method` subclass, plus its entry in
:mod:`.catalog` (name, run-name part, keys it reads or adds, training attack) and that entry's line under
``robustperf.methods`` in ``setup.cfg``; the schema, the run ids, ``robustperf plugins`` and the parametrised
tests follow from the entry. Another package does the same in its own module, entry and ``setup.cfg``.
"""
from robustperf_lazy import lazy

__getattr__, __all__ = lazy(__name__, {
    "Method": ".base", "get_method": ".base", "list_methods": ".base", "register_method": ".base",
    "unregister_method": ".base",
})
