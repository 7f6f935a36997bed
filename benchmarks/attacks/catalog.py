"""The built-in attacks, declared once: name, code, threat models, and where recipes may choose each.

Torch-free (see :mod:`recipes.catalog`); registered under the ``robustperf.attacks`` entry-point group in the
project's ``setup.cfg``. Roles: ``train`` crafts a method's training examples, ``check`` runs the per-epoch
best-checkpoint check, ``evaluation`` the final robust evaluation, ``slowdown`` attacks the early exits of a
multi-exit model (``evaluation.slowdown.attacks``).
"""
from recipes.catalog import AttackEntry

_G = "benchmarks.attacks.gradient"
_S = "benchmarks.slowdown.attacks"

PGD = AttackEntry(
    name="pgd", impl=f"{_G}:pgd", doc="projected gradient ascent on cross-entropy, uniform random start (Madry 2018)",
    roles=("train", "check", "evaluation"))
FGSM_RS = AttackEntry(
    name="fgsm_rs", impl=f"{_G}:fgsm_rs", doc="one FGSM step from a uniform random start (Wong 2020)")
PGD_NORMAL_START = AttackEntry(
    name="pgd_normal_start", impl=f"{_G}:pgd_normal_start",
    doc="PGD on cross-entropy from x + 0.001 N(0, I) (MART's code)")
TRADES_KL = AttackEntry(
    name="trades_kl", impl=f"{_G}:trades_kl", doc="PGD on KL(f(x) || f(x')) from x + 0.001 N(0, I) (TRADES)")
FGM = AttackEntry(
    name="fgm", impl=f"{_G}:fgm", doc="fast gradient method: one full step of eps along the gradient",
    roles=("evaluation",))
PGD_EXITS = AttackEntry(
    name="pgd_exits", impl=f"{_G}:pgd_exits", doc="PGD on the summed cross-entropy of every exit (multi-exit)")
DEEPSLOTH = AttackEntry(
    name="deepsloth", impl=f"{_G}:deepsloth", doc="DeepSloth: push every exit towards uniform confidence "
    "(Hong 2021), per sample", norms=("linf", "l2", "l1"), roles=("train", "slowdown"))
DEEPSLOTH_UNIVERSAL = AttackEntry(
    name="deepsloth_universal", impl=f"{_S}:_deepsloth_universal", doc="one DeepSloth perturbation for every input",
    norms=("linf", "l2", "l1"), roles=("slowdown",))
DEEPSLOTH_CLASS_UNIVERSAL = AttackEntry(
    name="deepsloth_class_universal", impl=f"{_S}:_deepsloth_class_universal",
    doc="one DeepSloth perturbation per class", norms=("linf", "l2", "l1"), roles=("slowdown",))
PGD_FINAL = AttackEntry(
    name="pgd_final", impl=f"{_S}:_pgd_final", doc="PGD on the final exit's cross-entropy (slowdown baseline)",
    norms=("linf", "l2", "l1"), roles=("slowdown",))
PGD_AVG = AttackEntry(
    name="pgd_avg", impl=f"{_S}:_pgd_avg", doc="PGD on the mean cross-entropy of the exits (slowdown baseline)",
    norms=("linf", "l2", "l1"), roles=("slowdown",))
PGD_MAX = AttackEntry(
    name="pgd_max", impl=f"{_S}:_pgd_max", doc="PGD on the largest exit cross-entropy (slowdown baseline)",
    norms=("linf", "l2", "l1"), roles=("slowdown",))
NOISE = AttackEntry(
    name="noise", impl=f"{_S}:_noise", doc="uniform random noise of the same budget (slowdown baseline)",
    norms=("linf", "l2", "l1"), roles=("slowdown",))
