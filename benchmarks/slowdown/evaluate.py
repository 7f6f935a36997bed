"""The ``evaluation.slowdown`` workload: calibrate early exits, attack them, and account both sides' compute.

For a multi-exit model (``model.exits``) and the run's ``evaluation.slowdown`` keys:

1. cumulative FLOPs per exit, measured with DeepSpeed's profiler (:func:`benchmarks.measurement.exit_forward_flops`);
2. for each RAD level, thresholds calibrated on the validation split (the training data the run held out,
   ``data.holdout_fraction``; when it held out nothing, a carved part of the training data it saw, with a
   warning) - never the test set - and the RAD achieved on the test set;
3. clean early-exit inference on the first ``n`` test samples: per-exit exit fractions, efficacy (trapezoid and
   step), accuracy, mean FLOPs from the actual exits, seconds and energy per sample of batched early exit,
   batch-1 latency per sample (the first ``latency_n`` samples), and every exit's overthinking (wasteful and
   destructive) and internal confusion (:mod:`.overthinking`, normalised by the validation split's confusion);
4. each attack x norm crafted once (it does not depend on the thresholds) and evaluated at every RAD level:
   the same metrics, the attacker's crafting FLOPs (counted forward passes x measured FLOPs per forward, x3 for
   passes with gradients: estimated), seconds and energy, the victim's extra FLOPs and energy, and their ratios
   (compute amplification), plus the edge-to-cloud latency model (``rtt_ms``, ``split_exit``).

Returns the record's ``slowdown`` group (:class:`results.Slowdown`).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from results import J_PER_KWH
from results.keys import SLOWDOWN_ATTACKS, SLOWDOWN_BY_RAD, SLOWDOWN_CLEAN, SLOWDOWN_EXIT_FLOPS

from ..attacks.ascent import eval_mode
from ..attacks.create import create_attack
from ..datasets.evalset import as_eval_set
from ..measurement.flops import exit_forward_flops
from .calibrate import calibrate
from .counter import ForwardCounter
from .exits import all_exit_logits, early_exit_batched, early_exit_single, exit_score
from .metrics import amplification, summarize_exits
from .overthinking import confusion_stats, overthinking

logger = logging.getLogger("robustperf.slowdown")

LATENCY_N = 32
SOURCES = {
    "exit_cumulative_flops": "measured (DeepSpeed flops profiler, one sample, exit by exit)",
    "mean_flops": "measured exits x measured cumulative FLOPs",
    "crafting_flops": "estimated: counted forward passes x measured forward FLOPs, x3 for passes with gradients",
    "seconds": "measured (wall clock)",
}


def rad_key(rad: float) -> str:
    """Record key of a RAD level: ``rad5`` for 0.05, ``rad15`` for 0.15."""
    pct = rad * 100
    return f"rad{int(round(pct))}" if abs(pct - round(pct)) < 1e-9 else f"rad{pct:g}".replace(".", "_")


def eps_of(cfg, norm: str) -> float:
    """The budget of ``norm`` in the settings (an attack may end with a smaller one: its ``budget``)."""
    return float(getattr(cfg, f"{norm}_eps"))


def _span(meter, name: str):
    from benchmarks.measurement.window import measure

    return measure(meter, name)


def _kwh(joules: Optional[float], pue: float) -> Optional[float]:
    return None if joules is None else joules / J_PER_KWH * pue


def _sub(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return None if a is None or b is None else a - b


def evaluate_slowdown(model: torch.nn.Module, cfg, *, test: Tuple[torch.Tensor, torch.Tensor],
                      val: Tuple[torch.Tensor, torch.Tensor], train: Tuple[torch.Tensor, torch.Tensor],
                      meter: Any = None, pue: float = 1.0, seed: int = 0, warnings: Optional[List[str]] = None,
                      log: Optional[Callable[[str], None]] = None,
                      surrogates: Sequence[Tuple[torch.nn.Module, Dict[str, Any]]] = ()) -> Dict[str, Any]:
    """Run the slowdown evaluation; return the record's ``slowdown`` group.

    Args:
        model: a multi-exit model (``exits``, ``num_exits``), inputs in [0, 1]; evaluated in eval mode.
        cfg: the :class:`recipes.schema.SlowdownConfig`.
        test, val, train: ``(images, labels)`` of the test set, the calibration split (or an
            :class:`~benchmarks.datasets.EvalSet`, read batch by batch) and the attacker's training data
            (universal crafting; a pair or an EvalSet, whose drawn samples alone are decoded).
        meter: an energy meter (``window(name)``), or None (energy null).
        pue: facility PUE multiplying measured energy (the record's kWh include it).
        seed: seeds the attacks' random starts and crafting-set draws.
        warnings: a list the caveats are appended to.
        surrogates: ``(model, info)`` of other runs (transfer, :mod:`.transfer`): every attack is also crafted on
            each surrogate and evaluated on ``model`` (the victim), recorded as ``<attack>_<norm>@<surrogate>``
            with ``info`` (both run ids) under ``transfer``; crafting FLOPs are the surrogate's.
    """
    say = log or logger.info
    warnings = warnings if warnings is not None else []
    x, y = test
    if cfg.n is not None:
        x, y = x[:cfg.n], y[:cfg.n]
    n = int(y.shape[0])
    with eval_mode(model):
        counted = exit_forward_flops(model, tuple(x.shape[1:]))
        flops = counted["exit_cumulative_flops"]
        full = float(flops[-1])
        num_classes = int(model.num_classes) if hasattr(model, "num_classes") else None

        val = as_eval_set(val)
        logits = torch.cat([all_exit_logits(model, xb, cfg.batch_size) for xb, _ in val.batches(cfg.batch_size)],
                           dim=1)
        scores = exit_score(logits, cfg.rule)
        correct = logits.argmax(-1) == val.labels
        cals = {}
        for rad in cfg.rads:
            cal = calibrate(scores, correct, flops, cfg.rule, rad, per_exit=cfg.thresholds == "per_exit",
                            num_classes=num_classes or logits.shape[-1])
            if not cal.feasible:
                warnings.append(f"slowdown: no threshold meets RAD {rad:g} on the validation split; the most "
                                "accurate one is used")
            if cal.degenerate:
                warnings.append(f"slowdown: the RAD {rad:g} calibration is degenerate ({cal.degenerate}); its "
                                "slowdown results are recorded but measure no early exit (the analysis leaves them "
                                "out)")
            cals[rad] = cal

        val_confusion = confusion_stats(logits.numpy())

        def run_exits(images: torch.Tensor, name: str):
            """Batched early exit at every RAD level; seconds and energy per sample of the first level; the
            overthinking and confusion of every exit on ``images`` (threshold-free, the same at every level)."""
            out = {}
            for i, rad in enumerate(cfg.rads):
                if i == 0:
                    with _span(meter, name) as span:
                        exits, preds = early_exit_batched(model, images, cfg.rule, cals[rad].taus, cfg.batch_size)
                    cost = {"seconds_per_sample": span.seconds / n,
                            "kwh_per_sample": _kwh(span.energy_j, pue) / n if span.energy_j is not None else None}
                else:
                    exits, preds = early_exit_batched(model, images, cfg.rule, cals[rad].taus, cfg.batch_size)
                out[rad] = summarize_exits(exits.numpy(), (preds == y).numpy(), flops, cfg.split_exit, cfg.rtt_ms)
                out[rad].update(cost)
            thinking = overthinking(all_exit_logits(model, images, cfg.batch_size).numpy(), y.numpy(),
                                    normalize=val_confusion)
            for rad in cfg.rads:
                out[rad]["overthinking"] = dict(thinking)
            return out

        clean = run_exits(x, "slowdown_clean")
        m = min(n, cfg.latency_n)
        start = time.perf_counter()
        early_exit_single(model, x[:m], cfg.rule, cals[cfg.rads[0]].taus)
        latency_ms = 1e3 * (time.perf_counter() - start) / m
        for rad in cfg.rads:
            clean[rad]["latency_ms_batch1"] = latency_ms if rad == cfg.rads[0] else None
        say(f"slowdown: {model.num_exits} exits, clean efficacy "
            + ", ".join(f"RAD{rad * 100:g}% {clean[rad]['efficacy']:.3f} / {clean[rad]['accuracy']:.1f}%"
                        for rad in cfg.rads))

        attacked: Dict[str, Dict[float, Dict[str, Any]]] = {}
        param = next(model.parameters(), None)
        gen_device = param.device if param is not None else x.device   # attacks run where the model is
        x_dev, y_dev = x.to(gen_device), y.to(gen_device)
        crafters = [(model, full, None)]
        for sur, info in surrogates:
            sur.eval()
            sur_full = float(exit_forward_flops(sur, tuple(x.shape[1:]))["exit_cumulative_flops"][-1])
            crafters.append((sur, sur_full, info))
        for (crafter, crafter_flops, info), attack_name, norm in (
                (c, a, m) for c in crafters for a in cfg.attacks for m in cfg.norms):
            name = f"{attack_name}_{norm}" + ("" if info is None else f"@{info['surrogate']}")
            generator = torch.Generator(device=gen_device)
            generator.manual_seed(seed * 1000 + len(attacked))
            counter = ForwardCounter(crafter)
            attack = create_attack(attack_name, counter, norm=norm, eps=eps_of(cfg, norm), settings=cfg,
                                   crafting_set=train)
            with _span(meter, "slowdown_craft") as span:
                x_adv = attack(x_dev, y_dev, generator=generator).cpu()
            craft_flops = counter.flops(crafter_flops)
            craft_kwh = _kwh(span.energy_j, pue)
            results = run_exits(x_adv, "slowdown_attacked")
            eps = attack.budget
            for rad, res in results.items():
                base = clean[rad]
                extra_flops = (res["mean_flops"] - base["mean_flops"]) * n
                extra_kwh = _sub(res["kwh_per_sample"], base["kwh_per_sample"])
                extra_kwh = None if extra_kwh is None else extra_kwh * n
                craft_ms = 1e3 * span.seconds / n
                res.update({
                    "attack": attack_name, "norm": norm, "eps": float(eps),
                    "efficacy_clean": base["efficacy"], "accuracy_clean": base["accuracy"],
                    "crafting_flops": craft_flops, "crafting_seconds": span.seconds, "crafting_kwh": craft_kwh,
                    "victim_extra_flops": extra_flops, "victim_extra_kwh": extra_kwh,
                    "amplification_flops": amplification(extra_flops, craft_flops),
                    "amplification_energy": amplification(extra_kwh, craft_kwh),
                    "amplification_latency": amplification(
                        res["edge_cloud_latency_ms"] - base["edge_cloud_latency_ms"], craft_ms),
                })
                if info is not None:
                    res["transfer"] = dict(info)
            attacked[name] = results
            r0 = results[cfg.rads[0]]
            say(f"slowdown: {name}: efficacy {r0['efficacy_clean']:.3f} -> {r0['efficacy']:.3f}, accuracy "
                f"{r0['accuracy_clean']:.1f}% -> {r0['accuracy']:.1f}% (RAD{cfg.rads[0] * 100:g}%), crafting "
                f"{craft_flops:.3g} FLOPs for {r0['victim_extra_flops']:.3g} extra victim FLOPs")

        ref_test = max(100.0 * float((lg.argmax(-1) == y).float().mean())
                       for lg in all_exit_logits(model, x, cfg.batch_size))
    by_rad = {}
    for rad in cfg.rads:
        cal = cals[rad].as_dict()
        test_acc = clean[rad]["accuracy"]
        cal["achieved_rad_test"] = (ref_test - test_acc) / ref_test if ref_test > 0 else None
        cal["reference_accuracy_test"] = ref_test
        by_rad[rad_key(rad)] = {"rad": float(rad), "calibration": cal, SLOWDOWN_CLEAN: clean[rad],
                                SLOWDOWN_ATTACKS: {name: res[rad] for name, res in attacked.items()}}
    first = by_rad[rad_key(cfg.rads[0])]
    return {"num_ics": int(model.num_exits - 1), "num_exits": int(model.num_exits),
            SLOWDOWN_EXIT_FLOPS: [int(c) for c in flops], "rule": cfg.rule, "rad": float(cfg.rads[0]),
            "calibration": first["calibration"], SLOWDOWN_CLEAN: first[SLOWDOWN_CLEAN],
            SLOWDOWN_ATTACKS: first[SLOWDOWN_ATTACKS], SLOWDOWN_BY_RAD: by_rad,
            "source": {**SOURCES, "energy": getattr(meter, "source", None) if meter is not None else None,
                       "n": n, "val_n": len(val)}}
