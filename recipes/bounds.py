"""The largest value each kind of number in a recipe may take, and why: no run can use more.

Without an upper bound a recipe (or ``--set``, or a ``tune`` space) accepted ``training.epochs: 1e20``,
``data.batch_size: 10**30`` or ``launch.time_min: 10**40``: nothing failed until the run allocated, overflowed or
was refused by the scheduler, hours later, or never (a run of 10^20 epochs never ends). Every numeric key of the
schema now has a maximum (``key_field(max=...)``), taken from this table; each is far beyond any published run,
so it only catches typos and hostile values, and says why. The recipe reference shows each key's range; the
docs list this table (``docs/hooks.py``, ``<!-- reference: bounds -->``).

``launch.chain`` is bounded by the ``chain`` limit of :mod:`recipes.limits` instead (an environment variable can
raise it).
"""
from __future__ import annotations

from typing import Dict, Tuple

__all__ = ["BOUNDS", "IMAGES", "EPOCHS", "STEPS", "WIDTH", "DEPTH", "PIXELS", "WORKERS", "RATE", "WEIGHT",
           "DISTANCE", "L1_DISTANCE", "MINUTES", "SECONDS", "DEVICES", "CORES", "MEMORY_GB", "PARALLEL", "EXITS",
           "PRICE", "POWER", "PUE", "CARBON", "CLIP", "MILLISECONDS", "DECAY", "RELATIVE"]

IMAGES = 100_000_000
EPOCHS = 100_000
STEPS = 1_000_000
WIDTH = 1024
DEPTH = 1000
PIXELS = 8192
WORKERS = 1024
RATE = 1000.0
WEIGHT = 1000.0
DECAY = 10.0
RELATIVE = 1.0
DISTANCE = 1000.0
L1_DISTANCE = 1_000_000.0
CLIP = 1e9
MINUTES = 525_600
SECONDS = 31_536_000
DEVICES = 1024
CORES = 4096
MEMORY_GB = 1_000_000.0
PARALLEL = 100_000
EXITS = 1000
PRICE = 1000.0
POWER = 100_000.0
PUE = 10.0
CARBON = 10.0
MILLISECONDS = 1_000_000.0

#: name -> (largest value, the keys it bounds, why no run can use more); rendered into the docs
BOUNDS: Dict[str, Tuple[float, str, str]] = {
    "IMAGES": (IMAGES, "batch sizes, subsets, `autoattack_n`, `val_size`, slowdown sample counts",
               "more images than any dataset the suite reads holds (ImageNet-21k: 14 million)"),
    "EPOCHS": (EPOCHS, "`training.epochs`, warm-up and phase epochs",
               "far beyond any published adversarial training (hundreds to a few thousand epochs)"),
    "STEPS": (STEPS, "attack iterations (`attack.steps`, `*_pgd_steps`, `fgm_steps`, slowdown steps)",
              "a million iterations of one attack on one batch, over 1000 times the most any recipe uses"),
    "WIDTH": (WIDTH, "`model.width`", "a WideResNet-28-1024 would hold about 4·10^11 parameters (WRN-70-16, the "
                                      "largest published, has 16)"),
    "DEPTH": (DEPTH, "`model.depth`", "a WideResNet of 1000 layers (the deepest published has 106)"),
    "PIXELS": (PIXELS, "`data.image_size`, `model.input_size`", "an 8192-pixel side is 800 MB per fp32 image"),
    "WORKERS": (WORKERS, "`data.num_workers`", "data-loader processes; more than any machine has cores"),
    "RATE": (RATE, "learning rates", "SGD and Adam diverge in their first step far below 1000"),
    "WEIGHT": (WEIGHT, "loss weights (`trades_beta`, `mart_beta`), `fgsm_alpha`",
               "the papers use 1 to 6; at 1000 the clean loss is noise (an FGSM step of 1000 eps is clipped to "
               "the ball)"),
    "RELATIVE": (RELATIVE, "`training.awp_gamma`",
                 "relative to each layer's weight norm: 1 perturbs the weights by their own size"),
    "DECAY": (DECAY, "`training.weight_decay`", "a decay of 10 shrinks the weights to nothing in a few steps"),
    "DISTANCE": (DISTANCE, "perturbation budgets and step sizes (`attack.eps`, step sizes, L2 radii)",
                 "larger than the L2 distance between any two 224x224 images in [0, 1] (388); Linf is at most 1"),
    "L1_DISTANCE": (L1_DISTANCE, "L1 budgets and steps of the slowdown attacks",
                    "larger than the L1 distance between any two 224x224 images (150,528)"),
    "CLIP": (CLIP, "`training.clip_grad`", "a gradient norm never reached; write null for no clipping"),
    "MINUTES": (MINUTES, "`launch.time_min`", "one year; schedulers cap a job's wall-time far lower"),
    "SECONDS": (SECONDS, "`launch.signal_seconds`", "one year"),
    "DEVICES": (DEVICES, "`launch.gpus_per_run`, `launch.nodes`", "devices (torchrun processes) or nodes of one run"),
    "CORES": (CORES, "`launch.cpus_per_run`", "cores of one run; no node has more"),
    "MEMORY_GB": (MEMORY_GB, "`launch.mem_gb`", "a petabyte of memory per run"),
    "PARALLEL": (PARALLEL, "`launch.max_parallel`",
                 "runs at once: the default `runs` limit, more than an array job holds"),
    "EXITS": (EXITS, "`evaluation.slowdown.split_exit`", "exits of a multi-exit model (the SDNs have a few)"),
    "PRICE": (PRICE, "`measurement.usd_per_kwh`", "$1000 per kWh, thousands of times any grid's price"),
    "POWER": (POWER, "`measurement.tdp_watts`", "100 kW per device; the largest accelerators draw about 1 kW"),
    "PUE": (PUE, "`measurement.pue`", "a data centre's PUE lies between 1 and about 3"),
    "CARBON": (CARBON, "`measurement.kg_co2_per_kwh`", "coal power emits about 1 kg CO2eq per kWh"),
    "MILLISECONDS": (MILLISECONDS, "`evaluation.slowdown.rtt_ms`", "a round trip of 1000 s"),
}
