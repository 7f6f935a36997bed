"""The built-in attacks, declared once: name, code, threat models, and where recipes may choose each.

Torch-free (see :mod:`recipes.catalog`); registered under the ``robustperf.attacks`` entry-point group in the
project's ``setup.cfg``. Every attack is built through one signature (:func:`benchmarks.attacks.create_attack`).
``norms`` are the threat models it supports (keys of :data:`recipes.catalog.NORMS`). Roles: ``train`` crafts a
method's training examples, ``check`` runs the per-epoch best-checkpoint check (``training.select_attack``),
``evaluation`` the final robust evaluation (``evaluation.attack``), ``slowdown`` attacks the early exits of a
multi-exit model (``evaluation.slowdown.attacks``; such an attack takes the ``settings`` and ``crafting_set``
options).
"""
from recipes.catalog import AttackEntry

_A = "benchmarks.attacks"

PGD = AttackEntry(
    name="pgd", impl=f"{_A}.pgd:pgd",
    doc="projected gradient ascent on cross-entropy, uniform random start (Madry 2018)", roles=("train", "check", "evaluation"))
FGSM_RS = AttackEntry(
    name="fgsm_rs", impl=f"{_A}.fgsm:fgsm_rs", doc="one FGSM step from a uniform random start (Wong 2020)")
N_FGSM = AttackEntry(
    name="n_fgsm", impl=f"{_A}.fgsm:n_fgsm",
    doc="one FGSM step from uniform noise of k x eps, not projected (de Jorge 2022, N-FGSM)")
PGD_NORMAL_START = AttackEntry(
    name="pgd_normal_start", impl=f"{_A}.pgd:pgd_normal_start",
    doc="PGD on cross-entropy from x + 0.001 N(0, I) (MART's code)")
TRADES_KL = AttackEntry(
    name="trades_kl", impl=f"{_A}.pgd:trades_kl", doc="PGD on KL(f(x) || f(x')) from x + 0.001 N(0, I) (TRADES)")
FGM = AttackEntry(
    name="fgm", impl=f"{_A}.fgsm:fgm", doc="fast gradient method: one full step of eps along the gradient",
    roles=("evaluation",))
PGD_EXITS = AttackEntry(
    name="pgd_exits", impl=f"{_A}.pgd:pgd_exits", doc="PGD on the summed cross-entropy of every exit (multi-exit)")
DEEPSLOTH = AttackEntry(
    name="deepsloth", impl=f"{_A}.deepsloth:deepsloth", doc="DeepSloth: push every exit towards uniform confidence "
    "(Hong 2021), per sample", norms=("linf", "l2", "l1"), roles=("train", "slowdown"))
DEEPSLOTH_UNIVERSAL = AttackEntry(
    name="deepsloth_universal", impl=f"{_A}.deepsloth:deepsloth_universal",
    doc="one DeepSloth perturbation for every input", norms=("linf", "l2", "l1"), roles=("slowdown",))
DEEPSLOTH_CLASS_UNIVERSAL = AttackEntry(
    name="deepsloth_class_universal", impl=f"{_A}.deepsloth:deepsloth_class_universal",
    doc="one DeepSloth perturbation per class", norms=("linf", "l2", "l1"), roles=("slowdown",))
PGD_FINAL = AttackEntry(
    name="pgd_final", impl=f"{_A}.exit_baselines:pgd_final",
    doc="PGD on the final exit's cross-entropy (slowdown baseline)", norms=("linf", "l2", "l1"), roles=("slowdown",))
PGD_AVG = AttackEntry(
    name="pgd_avg", impl=f"{_A}.exit_baselines:pgd_avg",
    doc="PGD on the mean cross-entropy of the exits (slowdown baseline)", norms=("linf", "l2", "l1"),
    roles=("slowdown",))
PGD_MAX = AttackEntry(
    name="pgd_max", impl=f"{_A}.exit_baselines:pgd_max",
    doc="PGD on the largest exit cross-entropy (slowdown baseline)", norms=("linf", "l2", "l1"), roles=("slowdown",))
NOISE = AttackEntry(
    name="noise", impl=f"{_A}.exit_baselines:noise",
    doc="uniform random noise of the same budget (slowdown baseline)", norms=("linf", "l2", "l1"),
    roles=("slowdown",))
UAP = AttackEntry(
    name="uap", impl=f"{_A}.uap:uap",
    doc="universal adversarial perturbation for misclassification at the final exit (Moosavi-Dezfooli 2017; "
    "slowdown baseline)", norms=("linf", "l2", "l1"), roles=("slowdown",))
DEEPSLOTH_KEEP_ACCURACY = AttackEntry(
    name="deepsloth_keep_accuracy", impl=f"{_A}.deepsloth_accuracy:deepsloth_keep_accuracy",
    doc="DeepSloth towards a near-uniform target favouring the true label: slowdown that keeps accuracy",
    norms=("linf", "l2", "l1"), roles=("slowdown",))
DEEPSLOTH_HURT_ACCURACY = AttackEntry(
    name="deepsloth_hurt_accuracy", impl=f"{_A}.deepsloth_accuracy:deepsloth_hurt_accuracy",
    doc="DeepSloth towards a near-uniform target favouring a wrong label: slowdown that destroys accuracy",
    norms=("linf", "l2", "l1"), roles=("slowdown",))
PGD_MAX_EXITS = AttackEntry(
    name="pgd_max_exits", impl=f"{_A}.pgd_max_exits:pgd_max_exits",
    doc="PGD per exit, the candidate with the largest summed exit cross-entropy kept (PGD-max, multi-exit)",
    roles=("train",))
