"""``evaluation.slowdown``: the early-exit and slowdown-attack evaluation of a multi-exit model, a mapping of keys
checked like a section (Hong et al. ICLR 2021, DeepSloth).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from . import bounds as B
from . import catalog
from .errors import RecipeError, nearest
from .fields import copy_default, field_specs, validate_value
from .fields import key_field as _f

__all__ = ["SlowdownConfig", "SLOWDOWN_ATTACKS", "SLOWDOWN_NORMS", "check_slowdown", "slowdown_config"]

#: the attacks with the slowdown role, and the threat models they support (decided by the catalog)
SLOWDOWN_ATTACKS = catalog.Choices("attacks", where=lambda entry: "slowdown" in entry.roles)
SLOWDOWN_NORMS = catalog.Choices("attacks", where=lambda entry: "slowdown" in entry.roles,
                                 values=lambda entry: tuple(entry.norms))


@dataclass(frozen=True)
class SlowdownConfig:
    """``evaluation.slowdown``: early-exit calibration and slowdown attacks (DeepSloth, Hong et al. ICLR 2021).

    Defaults are the paper's CIFAR-10 values (Linf eps 8/256 as its code; L2 radius 1.0 decaying by 0.9 every 50
    of 550 iterations; L1 eps 8); baselines use step 2.5 eps / steps instead of the paper's 0.001.
    """

    rule: str = _f("confidence", "early-exit rule: max softmax >= tau (confidence, SDN) or entropy <= tau "
                                 "(entropy, MSDNet)", choices=("confidence", "entropy"))
    thresholds: str = _f("global", "one threshold for every IC (global) or one per IC (per_exit)",
                         choices=("global", "per_exit"))
    rads: Tuple[float, ...] = _f((0.05, 0.15), "relative accuracy drops calibrated for (0.05 = RAD5%)",
                                 kind="floats", min=0.0, max=0.99)
    attacks: Tuple[str, ...] = _f(None, "slowdown attacks evaluated", factory=lambda: tuple(SLOWDOWN_ATTACKS), kind="choices",
                                  choices=SLOWDOWN_ATTACKS)
    norms: Tuple[str, ...] = _f(None, "threat models of each attack", factory=lambda: tuple(SLOWDOWN_NORMS), kind="choices",
                                choices=SLOWDOWN_NORMS)
    n: Optional[int] = _f(None, "test samples evaluated (the first n); null = all", min=1, max=B.IMAGES)
    batch_size: int = _f(250, "batch size of crafting and early-exit evaluation", min=1, max=B.IMAGES)
    latency_n: int = _f(32, "test samples timed one at a time (batch-1 early-exit latency)", min=1, max=B.IMAGES)
    rtt_ms: float = _f(11.0, "edge-to-cloud round-trip time of the latency model, ms", min=0.0, max=B.MILLISECONDS)
    split_exit: int = _f(1, "exits on the edge device in the latency model (samples exiting later go to the cloud)",
                         min=1, max=B.EXITS)
    linf_eps: float = _f(0.03125, "Linf budget", min=0.0, max=B.DISTANCE, min_exclusive=True, kind="fraction")
    linf_steps: int = _f(30, "per-sample Linf DeepSloth iterations", min=1, max=B.STEPS)
    linf_step_size: float = _f(0.002, "per-sample Linf DeepSloth step", min=0.0, max=B.DISTANCE, min_exclusive=True,
                               kind="fraction")
    linf_random_start: str = _f("step", "Linf start: U(-step, step) as the paper's code, U(-eps, eps), or none",
                                choices=("step", "eps", "none"))
    l2_eps: float = _f(1.0, "initial L2 radius (decays by l2_gamma every l2_decay_every iterations)", min=0.0,
                       max=B.DISTANCE,
                       min_exclusive=True)
    l2_steps: int = _f(550, "per-sample L2 DeepSloth iterations", min=1, max=B.STEPS)
    l2_lr: float = _f(1.0, "L2 step size at the start (cosine-annealed)", min=0.0, max=B.DISTANCE, min_exclusive=True)
    l2_lr_min: float = _f(0.01, "L2 step size at the end", min=0.0, max=B.DISTANCE)
    l2_gamma: float = _f(0.1, "L2 radius decay factor (1 - gamma)", min=0.0, max=0.99)
    l2_decay_every: int = _f(50, "L2 iterations between radius decays", min=1, max=B.STEPS)
    l1_eps: float = _f(8.0, "L1 budget", min=0.0, max=B.L1_DISTANCE, min_exclusive=True)
    l1_steps: int = _f(250, "per-sample L1 DeepSloth iterations", min=1, max=B.STEPS)
    l1_step_size: float = _f(0.5, "L1 step (L1 length of each sparse step)", min=0.0,
                             max=B.L1_DISTANCE, min_exclusive=True)
    l1_sparsity: float = _f(99.0, "L1 gradient sparsity: percentile of |grad| below which coordinates are "
                                  "dropped", min=0.0, max=99.99)
    universal_n: int = _f(250, "training samples a universal perturbation is crafted on (per class for "
                               "class-universal)", min=1, max=B.IMAGES)
    universal_batch_size: int = _f(250, "batch size of universal crafting", min=1, max=B.IMAGES)
    universal_linf_steps: int = _f(12, "universal Linf iterations over the crafting set", min=1, max=B.STEPS)
    universal_linf_step_size: float = _f(0.005, "universal Linf initial step", min=0.0,
                                         max=B.DISTANCE, min_exclusive=True,
                                         kind="fraction")
    universal_linf_decay: float = _f(0.1, "universal Linf step multiplier every universal_linf_decay_every "
                                          "iterations", min=0.0, max=1.0)
    universal_linf_decay_every: int = _f(4, "universal Linf iterations between step decays", min=1, max=B.STEPS)
    universal_l2_epochs: int = _f(11, "universal L2 epochs (radius and step decay by (1 - l2_gamma) each)", min=1,
                                  max=B.EPOCHS)
    universal_l2_steps: int = _f(50, "universal L2 iterations per batch and epoch", min=1, max=B.STEPS)
    universal_l2_lr: float = _f(0.1, "universal L2 initial step", min=0.0, max=B.DISTANCE, min_exclusive=True)
    universal_l1_steps: int = _f(100, "universal L1 iterations", min=1, max=B.STEPS)
    universal_l1_sparsity: float = _f(90.0, "universal L1 gradient sparsity (percentile)", min=0.0, max=99.99)
    uap_n: int = _f(100, "training samples the uap baseline is crafted on (the paper: 100 fixed samples)", min=1,
                    max=B.IMAGES)
    uap_passes: int = _f(100, "uap passes over its crafting samples at most", min=1, max=B.STEPS)
    uap_fool_rate: float = _f(0.8, "uap stops once this fraction of its crafting samples changes prediction",
                              min=0.0, max=1.0)
    uap_deepfool_steps: int = _f(10, "DeepFool iterations per uap update", min=1, max=B.STEPS)
    uap_overshoot: float = _f(0.02, "DeepFool overshoot of the uap updates", min=0.0, max=B.DISTANCE)
    accuracy_aware_bias: float = _f(0.1, "weight of the favoured label in the target of deepsloth_keep_accuracy / "
                                    "deepsloth_hurt_accuracy ((1 - bias) uniform + bias one-hot)", min=0.0, max=1.0)
    accuracy_aware_steps: int = _f(75, "Linf iterations of the accuracy-aware DeepSloth variants", min=1, max=B.STEPS)
    accuracy_aware_step_size: float = _f(0.001, "Linf step of the accuracy-aware DeepSloth variants", min=0.0,
                                         max=B.DISTANCE, min_exclusive=True, kind="fraction")
    surrogates: Tuple[str, ...] = _f((), "finished runs (run ids or names of the victim's results folder, or run "
                                     "folders) on which every attack is also crafted, then evaluated on this run "
                                     "(transfer)", kind="strings")
    surrogate_which: str = _f("last", "checkpoint of the surrogates", choices=("best", "last"))
    baseline_steps: int = _f(20, "PGD iterations of the pgd_final / pgd_avg / pgd_max baselines", min=1, max=B.STEPS)
    baseline_step_size: Optional[float] = _f(None, "baseline PGD step; null = 2.5 eps / steps (reaches eps)",
                                             min=0.0, max=B.DISTANCE, min_exclusive=True, kind="fraction")


def check_slowdown(path: str, value: Any, file: Optional[str] = None) -> Dict[str, Any]:
    """Validate ``evaluation.slowdown`` (a mapping of :class:`SlowdownConfig` keys); return it with defaults."""
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise RecipeError("expected a mapping of slowdown keys ({} for the defaults) or null", file=file, key=path,
                          value=value)
    specs = field_specs(SlowdownConfig)
    out = {k: copy_default(s["default"]) for k, s in specs.items()}
    for key, item in value.items():
        if key not in specs:
            hint = nearest(str(key), specs)
            raise RecipeError("unknown key" + (f" (did you mean '{path}.{hint}'?)" if hint else ""), file=file,
                              key=f"{path}.{key}", allowed=list(specs))
        out[key] = validate_value(f"{path}.{key}", item, specs[key], file)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def slowdown_config(value: Dict[str, Any]) -> SlowdownConfig:
    """The :class:`SlowdownConfig` of a validated ``evaluation.slowdown`` mapping."""
    return SlowdownConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
