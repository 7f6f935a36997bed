"""Multi-exit inference and slowdown attacks: early-exit rules, calibration, efficacy, DeepSloth.

* :mod:`.metrics` - exit fractions, EEC curve, efficacy (trapezoid and step), mean FLOPs, latency model;
* :mod:`.exits` - confidence / entropy exit rules, batched and batch-1 early-exit inference;
* :mod:`.calibrate` - RAD threshold calibration on a validation split;
* :mod:`.overthinking` - wasteful and destructive overthinking and internal confusion per exit (SDN);
* :mod:`.counter` - the attacker's forward passes, counted for its crafting FLOPs;
* :mod:`.evaluate` - the ``evaluation.slowdown`` workload filling the record's ``slowdown`` group;
* :mod:`.transfer` - surrogate runs the attacks are crafted on for a victim run (transferability);
* :mod:`.run` - that workload on a run's splits.

The slowdown attacks themselves (DeepSloth in Linf / L2 / L1, per sample, universal and class-universal, and the
baselines) are attacks like any other, with the ``slowdown`` role: :mod:`benchmarks.attacks.deepsloth` and
:mod:`benchmarks.attacks.exit_baselines`.
"""
