"""AutoAttack (Croce & Hein 2020) through pyautoattack, resumable at batch granularity: the robust accuracy of the
final evaluation (:mod:`benchmarks.evaluation`) and of each precision of the inference benchmark
(:mod:`benchmarks.inference`), which both build on this package.

* :mod:`.adapter`: :class:`AutoAttackAdapter` and :func:`run_autoattack`;
* :mod:`.state`: the resumable state file; :mod:`.result`: what a run returns, its Wilson interval;
* :mod:`.probes`: forward counting, pyautoattack's warnings, the kill/resume tests' hook.
"""
from .adapter import (EPS_TOLERANCE, NORMS, SAVE_EVERY_S, VERSIONS, AutoAttackAdapter, model_digest,
                      run_autoattack)
from .result import CI_METHOD, AutoAttackResult, PerturbationError, wilson_interval
from .state import AttackProgress, AutoAttackState

__all__ = ["CI_METHOD", "EPS_TOLERANCE", "NORMS", "SAVE_EVERY_S", "VERSIONS", "AttackProgress", "AutoAttackAdapter",
           "AutoAttackResult", "AutoAttackState", "PerturbationError", "model_digest", "run_autoattack",
           "wilson_interval"]
