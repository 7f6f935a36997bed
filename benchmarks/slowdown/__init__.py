"""Multi-exit inference and slowdown attacks: early-exit rules, calibration, efficacy, DeepSloth.

* :mod:`.metrics` - exit fractions, EEC curve, efficacy (trapezoid and step), mean FLOPs, latency model;
* :mod:`.exits` - confidence / entropy exit rules, batched and batch-1 early-exit inference;
* :mod:`.calibrate` - RAD threshold calibration on a validation split;
* :mod:`.attacks` - DeepSloth (Linf / L2 / L1; per-sample, universal, class-universal) and the baselines;
* :mod:`.evaluate` - the ``evaluation.slowdown`` workload filling the record's ``slowdown`` group.
"""
