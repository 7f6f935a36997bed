"""Typed schema of a robustperf recipe: one frozen dataclass per section, composed into :class:`RunConfig`.

Each field carries its one-line doc, allowed values and range in ``metadata``; :func:`validate_section` reads
them, so the README's recipe reference, the checks and the defaults come from one place (compare
``torchtitan/config/job_config.py``). Cross-field rules live in :func:`check_run`, called by ``RunConfig``'s
``__post_init__`` and by the fast matrix expansion alike.
"""
from __future__ import annotations

import dataclasses
import math
import re
import typing
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Dict, Optional, Tuple

from .errors import RecipeError, nearest


def _f(default: Any, doc: str, *, choices: Optional[Tuple[Any, ...]] = None, min: Optional[float] = None,
       max: Optional[float] = None, min_exclusive: bool = False, kind: Optional[str] = None, factory=None,
       family: Optional[Tuple[str, ...]] = None, methods: Optional[Tuple[str, ...]] = None,
       when: Optional[Dict[str, Any]] = None, name_part: bool = False, form: Optional[Tuple[int, int]] = None,
       identity: bool = True):
    """A schema field: default, one-line doc and checks. ``family``: the model families that read a ``model.*``
    key (None = every family); ``methods``: the training methods that read it (None = every method); ``when``:
    other conditions on which the key is read, ``{"section.key": allowed values, or IS_SET}``. A key that is not
    read by the run (its family, method or condition says so) stays out of the run id (see :func:`applies`).
    ``name_part``: the value appears in run names (``wrn-28-10``); ``form``: ``(m, r)`` the value must be ``r``
    modulo ``m`` (checked when the key's family is the run's). ``identity=False``: the key cannot change the
    trained weights, so it stays out of the run id even inside an identity section (see
    :data:`IDENTITY_SECTIONS`)."""
    conditions: Dict[str, Any] = dict(when or {})
    if family is not None:
        conditions["model.arch"] = tuple(family)
    if methods is not None:
        conditions["training.loss"] = tuple(methods)
    meta = {"doc": doc, "choices": choices, "min": min, "max": max, "min_exclusive": min_exclusive, "kind": kind,
            "family": family, "methods": methods, "when": conditions, "name_part": name_part, "form": form,
            "identity": identity}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


#: ``when`` value: the controlling key is read when it is set (not null), e.g. ``awp_warmup`` needs ``awp_gamma``.
IS_SET = "<set>"
#: ``when`` value: the controlling number is above 0, e.g. ``data.synthetic`` needs ``synthetic_fraction > 0``.
IS_POSITIVE = "<positive>"


class Vocabulary:
    """The allowed values of a key that a registry outside ``recipes`` extends (training methods, ...).

    Recipes cannot import the workloads (imports flow recipes <- results <- benchmarks), so the names a recipe
    may use are declared here, in the schema, and the registry that implements them (e.g.
    :mod:`benchmarks.training.methods`) adds each name it registers with :meth:`add`; a parity test keeps the
    declared names and the registry equal. Iterates, compares and prints like the tuple of its names.
    """

    def __init__(self, key: str, *names: str, name_parts: Optional[Dict[str, str]] = None,
                 fallback: Optional[str] = None):
        self.key = key
        self._names: Dict[str, None] = dict.fromkeys(names)
        self.builtin: Tuple[str, ...] = tuple(names)
        self._parts: Dict[str, str] = dict(name_parts or {})
        self._builtin_parts: Dict[str, str] = dict(self._parts)
        #: the name a value no plug-in registered counts as (model.arch: any timm model is the timm family)
        self.fallback = fallback
        self._reads: Dict[str, frozenset] = {}

    #: bumped whenever a plug-in's declared keys change (memoised applicability is keyed by it)
    generation = 0

    def add(self, name: str, name_part: Optional[str] = None, reads: Tuple[str, ...] = ()) -> None:
        """Allow ``name``; ``name_part`` (a template, see :meth:`name_part`) is its part of run names; ``reads``:
        the ``section.key`` paths a plug-in (not built-in) name reads, so that :func:`applies` keeps them in its
        runs' ids (a built-in's are its fields' ``family``/``methods``).

        A built-in name keeps the part declared here; giving it another one is an error (one source of truth).
        """
        if name_part is not None:
            declared = self._builtin_parts.get(name)
            if name in self.builtin and declared is not None and declared != name_part:
                raise ValueError(f"{self.key} {name!r}: the schema declares the run-name part {declared!r}, "
                                 f"not {name_part!r}")
            self._parts[name] = name_part
        self._names[name] = None
        if name not in self.builtin:
            self._reads[name] = frozenset(reads)
            Vocabulary.generation += 1

    def discard(self, name: str) -> None:
        if name not in self.builtin:
            self._names.pop(name, None)
            self._parts.pop(name, None)
            self._reads.pop(name, None)
            Vocabulary.generation += 1

    def reads(self, name: str) -> Optional[frozenset]:
        """The paths a registered plug-in ``name`` declared (None: a built-in or unknown name)."""
        return self._reads.get(name)

    def name_part(self, name: str, cfg: Dict[str, Any]) -> str:
        """The part of a run name that ``name`` gives for the resolved config ``cfg``.

        The declared template's ``{section.key}`` fields are filled from ``cfg`` (e.g. ``pgd{attack.steps}`` ->
        ``pgd10``); an empty template gives no part; a name without a declared part gives ``""``.
        """
        template = self._parts.get(name, "")
        return re.sub(r"\{(\w+)\.(\w+)\}", lambda m: str(cfg[m.group(1)][m.group(2)]), template)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return repr(tuple(self._names))


#: ``training.loss``: the registered training methods (benchmarks/training/methods/, one module each).
#: Each method's part of run names (``recipes.recipe.run_name``): what its training attack is, with ``{section.key}``
#: filled from the run's config; empty for a method that runs no attack. A method registered outside the
#: built-ins gives its own (``register_method(name, name_part=...)``).
METHOD_NAME_PARTS = {
    "standard": "", "at": "pgd{attack.steps}", "trades": "pgd{attack.steps}", "mart": "pgd{attack.steps}",
    "fgsm_rs": "fgsm", "free": "free-m{attack.steps}",
    "sdn_ic_only": "", "sdn_ic_only_pgd": "pgd{attack.steps}", "sdn_ic_only_sloth": "sloth{attack.steps}",
    "sdn_ic_only_sloth_pgd": "sloth-pgd{attack.steps}", "sdn": "", "sdn_pgd": "pgd{attack.steps}",
}
TRAINING_METHODS = Vocabulary("training.loss", "standard", "at", "trades", "fgsm_rs", "free", "mart",
                              "sdn_ic_only", "sdn_ic_only_pgd", "sdn_ic_only_sloth", "sdn_ic_only_sloth_pgd", "sdn",
                              "sdn_pgd", name_parts=METHOD_NAME_PARTS)
#: Training methods of multi-exit (sdn_*) models; they need a model.arch that returns one logits per exit.
SDN_METHODS = ("sdn_ic_only", "sdn_ic_only_pgd", "sdn_ic_only_sloth", "sdn_ic_only_sloth_pgd", "sdn", "sdn_pgd")
SDN_ARCHS = ("sdn_vgg16", "sdn_resnet56", "sdn_mobilenet", "sdn_wrn")

#: The sdn methods that train the backbone first and then the internal classifiers (``training.sdn_ic_*``).
SDN_IC_ONLY_METHODS = ("sdn_ic_only", "sdn_ic_only_pgd", "sdn_ic_only_sloth", "sdn_ic_only_sloth_pgd")
#: ``model.arch``: the built-in model families (benchmarks/models/); any other name is a timm model (``timm``).
MODEL_FAMILIES = Vocabulary("model.arch", "wrn", "cifar_resnet18", "preact_resnet18", "vit_cifar_s", *SDN_ARCHS,
                            "timm", fallback="timm")

#: Methods with the ``training.awp_gamma`` option (their modules set ``supports_awp``; a test keeps both equal).
AWP_METHODS = ("at", "trades", "mart")
#: Methods whose training examples read ``attack.steps`` and ``attack.step_size`` (an iterative attack, or free's
#: replays). The others read only ``attack.norm`` and ``attack.eps``, as the per-epoch best-checkpoint check of
#: every method does: standard and the clean sdn methods craft nothing, fgsm_rs takes one step of
#: ``fgsm_alpha * eps``. Each method module declares the same in ``attack_keys`` (a test keeps both equal).
ITERATIVE_METHODS = ("at", "trades", "mart", "free", "sdn_ic_only_pgd", "sdn_ic_only_sloth", "sdn_ic_only_sloth_pgd",
                     "sdn_pgd")
#: Methods whose training attack starts where ``attack.random_start`` says. TRADES and MART start at
#: x + 0.001 N(0, I), free from the perturbation it carries, fgsm_rs always from a uniform point.
RANDOM_START_METHODS = ("at", "sdn_ic_only_pgd", "sdn_ic_only_sloth", "sdn_ic_only_sloth_pgd", "sdn_pgd")

AUTOATTACK_VERSIONS = ("standard", "plus", "rand")
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-t", "fab", "fab-t", "square", "apgd-dlr")
DEFAULT_CLOUD_PRICES = {
    # On-demand $/GPU-hour, low (spot / cheapest large provider) and high (major cloud list price).
    "H100": [2.0, 12.3], "H200": [3.5, 13.0], "A100": [1.2, 4.1], "V100": [0.5, 3.1],
    "cpu": [0.02, 0.05],
}

#: Per device model: rental price ($ per device-hour) and board power (W), for the cost-aware survival
#: analysis (TRASH in $ and energy: $/h x hours, W x s -> J). Defaults: Meyers et al., Table 1 (GCP
#: europe-west4 on-demand prices retrieved 3 Dec 2023; Nvidia datasheet power).
DEFAULT_DEVICE_TABLE = {
    "V100": {"usd_per_hour": 2.55, "watts": 250.0},
    "P100": {"usd_per_hour": 1.60, "watts": 250.0},
    "L4": {"usd_per_hour": 0.81, "watts": 72.0},
}
DEVICE_KEYS = ("usd_per_hour", "watts")


@dataclass(frozen=True)
class DataConfig:
    name: str = _f("digits", "dataset (tinyimagenet, imagefolder: image folders streamed from disk)",
                   choices=("digits", "cifar10", "cifar100", "tinyimagenet", "imagefolder"))
    root: Optional[str] = _f(None, "folder holding the dataset (cifar: python batches; tinyimagenet: "
                                   "tiny-imagenet-200; imagefolder: train/ and val/ class folders); in the run id "
                                   "for imagefolder only, whose folder is the dataset (a standard dataset is the "
                                   "same wherever it lies)", when={"data.name": ("imagefolder",)})
    image_size: Optional[int] = _f(None, "side of the images fed to the model (folder datasets: crops decoded to "
                                         "this size); null = the dataset's own (64 Tiny ImageNet, 224 imagefolder)",
                                   min=8)
    synthetic: Optional[str] = _f(None, "DeepMind generated-data .npz (image uint8 Nx32x32x3, label)",
                                  when={"data.synthetic_fraction": IS_POSITIVE})
    synthetic_fraction: float = _f(0.0, "fraction of every training batch drawn from the synthetic data",
                                   min=0.0, max=0.99)
    batch_size: int = _f(128, "per-process training batch size", min=1)
    augment: bool = _f(True, "random crop (padding 4) and horizontal flip for 32x32 data")
    holdout_fraction: float = _f(0.0, "fraction of the training set held out of training (seeded, fixed split) "
                                      "for calibration, e.g. early-exit thresholds", min=0.0, max=0.5)
    num_workers: int = _f(0, "data-loader worker processes", min=0, identity=False)


@dataclass(frozen=True)
class ModelConfig:
    arch: str = _f("wrn", "model family (benchmarks/models): wrn (CIFAR WideResNet, depth/width below), "
                          "cifar_resnet18, preact_resnet18, vit_cifar_s, the multi-exit Shallow-Deep Networks "
                          "sdn_vgg16, sdn_resnet56, sdn_mobilenet, sdn_wrn, or any timm model name")
    depth: int = _f(28, "WideResNet depth, 6n+4 (families wrn, sdn_wrn)", min=10, family=("wrn", "sdn_wrn"),
                    name_part=True, form=(6, 4))
    width: int = _f(10, "WideResNet widening factor (families wrn, sdn_wrn)", min=1, family=("wrn", "sdn_wrn"),
                    name_part=True)
    activation: str = _f("relu", "activation function (families wrn, cifar_resnet18, preact_resnet18, sdn_wrn)",
                         choices=("relu", "gelu", "silu"),
                         family=("wrn", "cifar_resnet18", "preact_resnet18", "sdn_wrn"))
    drop_rate: float = _f(0.0, "dropout before the classifier", min=0.0, max=0.99)
    input_size: Optional[int] = _f(None, "resize inputs to this size inside the model (bilinear, differentiable; "
                                         "ImageNet-style timm models on small images); null = as given", min=8,
                               family=("timm",))


@dataclass(frozen=True)
class TrainingConfig:
    loss: str = _f("at", "training method (benchmarks/training/methods/): standard (no attack), at (Madry PGD-AT), "
                         "trades, fgsm_rs (Wong 2020), free (Shafahi 2019), mart (Wang 2020)",
                   choices=TRAINING_METHODS)
    trades_beta: float = _f(6.0, "TRADES robustness weight beta (method trades)", min=0.0,
                             methods=("trades",))
    mart_beta: float = _f(6.0, "MART weight of the misclassification-aware KL term (method mart)", min=0.0,
                           methods=("mart",))
    fgsm_alpha: float = _f(1.25, "FGSM step size as a multiple of attack.eps (method fgsm_rs)", min=0.0,
                           min_exclusive=True, methods=("fgsm_rs",))
    awp_gamma: Optional[float] = _f(None, "adversarial weight perturbation size gamma (Wu 2020; methods at, trades, "
                                          "mart); null = off", min=0.0, min_exclusive=True,
                                    methods=AWP_METHODS)
    awp_warmup: int = _f(0, "epochs before the weight perturbation starts (with awp_gamma)", min=0,
                          when={"training.awp_gamma": IS_SET})
    sdn_ic_epochs: int = _f(25, "epochs of the IC phase of the sdn_ic_only methods (Adam on the ICs, backbone "
                                "frozen); the backbone trains for the first epochs - sdn_ic_epochs", min=1,
                             methods=SDN_IC_ONLY_METHODS)
    sdn_ic_lr: float = _f(0.001, "Adam learning rate of the IC phase (sdn_ic_only methods)", min=0.0,
                          min_exclusive=True, methods=SDN_IC_ONLY_METHODS)
    sdn_ic_milestone: int = _f(15, "IC-phase epoch at which its learning rate drops 10x (sdn_ic_only methods)",
                               min=1, methods=SDN_IC_ONLY_METHODS)
    epochs: int = _f(100, "training epochs (warm-up included); method free: passes over the data, each batch "
                          "replayed attack.steps times", min=1)
    ema_decay: Optional[float] = _f(None, "EMA decay of the weights (e.g. 0.995); null = no EMA",
                                    min=0.0, max=1.0, min_exclusive=True)
    lr: float = _f(0.1, "learning rate at lr_base_batch_size; scaled linearly to the global batch", min=0.0,
                   min_exclusive=True)
    lr_base_batch_size: int = _f(128, "global batch size at which lr applies", min=1)
    optimizer: str = _f("sgd", "timm optimizer name (sgd = SGD with Nesterov momentum)")
    momentum: float = _f(0.9, "optimizer momentum", min=0.0, max=1.0)
    weight_decay: float = _f(5e-4, "weight decay", min=0.0)
    scheduler: str = _f("cosine", "timm scheduler name", choices=("cosine", "step", "multistep", "plateau",
                                                                   "tanh", "poly", "none"))
    warmup_epochs: int = _f(1, "linear warm-up epochs, counted in epochs", min=0)
    precision: str = _f("fp32", "numeric precision of forward passes (fp16: autocast with a gradient scaler)",
                        choices=("fp32", "bf16", "fp16"))
    clip_grad: Optional[float] = _f(None, "gradient-norm clipping; null = none", min=0.0, min_exclusive=True)
    select_on: str = _f("validation", "images of the per-epoch check that picks the best checkpoint: validation "
                                      "(val_size held-out training images, never trained on) or test (the "
                                      "first select_subset test images; the reference study's protocol)",
                        choices=("validation", "test"))
    val_size: int = _f(1024, "training images held out for the check when select_on is validation (chosen by "
                             "the seed)", min=1, when={"training.select_on": ("validation",)})
    select_subset: int = _f(1024, "images of the per-epoch PGD check that chooses the best checkpoint (the first "
                                  "of the held-out or test images)", min=1)
    select_pgd_steps: int = _f(40, "PGD steps of the per-epoch best-checkpoint check", min=1)
    select_pgd_step_size: Optional[float] = _f(None, "PGD step size of the per-epoch check; null = "
                                                     "2.5*eps/select_pgd_steps", min=0.0, min_exclusive=True,
                                               kind="fraction")
    select_batch_size: int = _f(500, "batch size of the per-epoch check", min=1)


@dataclass(frozen=True)
class AttackConfig:
    norm: str = _f("linf", "threat model", choices=("linf", "l2"))
    eps: float = _f(8 / 255, "perturbation budget; accepts a fraction such as 8/255", min=0.0,
                    min_exclusive=True, kind="fraction")
    steps: int = _f(10, "PGD steps of the training attack; method free: replays m of each batch", min=1,
                    methods=ITERATIVE_METHODS)
    step_size: Optional[float] = _f(None, "PGD step size; null = 1.5*eps/steps for every PGD-based method "
                                          "(free: eps); TRADES' and MART's papers use 0.007 at eps 0.031", min=0.0,
                                    min_exclusive=True, kind="fraction", methods=ITERATIVE_METHODS)
    random_start: bool = _f(True, "start PGD from a uniform random point in the eps-ball",
                            methods=RANDOM_START_METHODS)


SLOWDOWN_ATTACKS = ("deepsloth", "deepsloth_universal", "deepsloth_class_universal", "pgd_final", "pgd_avg",
                    "pgd_max", "noise")
SLOWDOWN_NORMS = ("linf", "l2", "l1")


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
    attacks: Tuple[str, ...] = _f(SLOWDOWN_ATTACKS, "slowdown attacks evaluated", kind="choices",
                                  choices=SLOWDOWN_ATTACKS)
    norms: Tuple[str, ...] = _f(SLOWDOWN_NORMS, "threat models of each attack", kind="choices",
                                choices=SLOWDOWN_NORMS)
    n: Optional[int] = _f(None, "test samples evaluated (the first n); null = all", min=1)
    batch_size: int = _f(250, "batch size of crafting and early-exit evaluation", min=1)
    latency_n: int = _f(32, "test samples timed one at a time (batch-1 early-exit latency)", min=1)
    rtt_ms: float = _f(11.0, "edge-to-cloud round-trip time of the latency model, ms", min=0.0)
    split_exit: int = _f(1, "exits on the edge device in the latency model (samples exiting later go to the cloud)",
                         min=1)
    linf_eps: float = _f(0.03125, "Linf budget", min=0.0, min_exclusive=True, kind="fraction")
    linf_steps: int = _f(30, "per-sample Linf DeepSloth iterations", min=1)
    linf_step_size: float = _f(0.002, "per-sample Linf DeepSloth step", min=0.0, min_exclusive=True,
                               kind="fraction")
    linf_random_start: str = _f("step", "Linf start: U(-step, step) as the paper's code, U(-eps, eps), or none",
                                choices=("step", "eps", "none"))
    l2_eps: float = _f(1.0, "initial L2 radius (decays by l2_gamma every l2_decay_every iterations)", min=0.0,
                       min_exclusive=True)
    l2_steps: int = _f(550, "per-sample L2 DeepSloth iterations", min=1)
    l2_lr: float = _f(1.0, "L2 step size at the start (cosine-annealed)", min=0.0, min_exclusive=True)
    l2_lr_min: float = _f(0.01, "L2 step size at the end", min=0.0)
    l2_gamma: float = _f(0.1, "L2 radius decay factor (1 - gamma)", min=0.0, max=0.99)
    l2_decay_every: int = _f(50, "L2 iterations between radius decays", min=1)
    l1_eps: float = _f(8.0, "L1 budget", min=0.0, min_exclusive=True)
    l1_steps: int = _f(250, "per-sample L1 DeepSloth iterations", min=1)
    l1_step_size: float = _f(0.5, "L1 step (L1 length of each sparse step)", min=0.0, min_exclusive=True)
    l1_sparsity: float = _f(99.0, "L1 gradient sparsity: percentile of |grad| below which coordinates are "
                                  "dropped", min=0.0, max=99.99)
    universal_n: int = _f(250, "training samples a universal perturbation is crafted on (per class for "
                               "class-universal)", min=1)
    universal_batch_size: int = _f(250, "batch size of universal crafting", min=1)
    universal_linf_steps: int = _f(12, "universal Linf iterations over the crafting set", min=1)
    universal_linf_step_size: float = _f(0.005, "universal Linf initial step", min=0.0, min_exclusive=True,
                                         kind="fraction")
    universal_linf_decay: float = _f(0.1, "universal Linf step multiplier every universal_linf_decay_every "
                                          "iterations", min=0.0, max=1.0)
    universal_linf_decay_every: int = _f(4, "universal Linf iterations between step decays", min=1)
    universal_l2_epochs: int = _f(11, "universal L2 epochs (radius and step decay by (1 - l2_gamma) each)", min=1)
    universal_l2_steps: int = _f(50, "universal L2 iterations per batch and epoch", min=1)
    universal_l2_lr: float = _f(0.1, "universal L2 initial step", min=0.0, min_exclusive=True)
    universal_l1_steps: int = _f(100, "universal L1 iterations", min=1)
    universal_l1_sparsity: float = _f(90.0, "universal L1 gradient sparsity (percentile)", min=0.0, max=99.99)
    baseline_steps: int = _f(20, "PGD iterations of the pgd_final / pgd_avg / pgd_max baselines", min=1)
    baseline_step_size: Optional[float] = _f(None, "baseline PGD step; null = 2.5 eps / steps (reaches eps)",
                                             min=0.0, min_exclusive=True, kind="fraction")


@dataclass(frozen=True)
class EvaluationConfig:
    pgd_steps: int = _f(40, "PGD steps of the final robust evaluation (whole test set)", min=1)
    pgd_step_size: Optional[float] = _f(None, "final evaluation PGD step size; null = 2.5*eps/pgd_steps", min=0.0,
                                        min_exclusive=True, kind="fraction")
    autoattack: Any = _f("standard", "AutoAttack version (standard, plus, rand), a list of attacks, or null to "
                                     "skip", kind="autoattack")
    autoattack_n: int = _f(10000, "AutoAttack on the first n test points (RobustBench convention)", min=1)
    batch_size: int = _f(500, "evaluation batch size", min=1)
    which: str = _f("best", "checkpoint evaluated at the end of training", choices=("best", "last"))
    fgm_steps: int = _f(0, "minimal-eps FGM survival attack: eps levels k*fgm_eps_max/fgm_steps tried until the "
                           "prediction flips; 0 = off", min=0)
    fgm_eps_max: Optional[float] = _f(None, "largest eps of the minimal-eps FGM; null = attack.eps", min=0.0,
                                      min_exclusive=True, kind="fraction")
    slowdown: Optional[Dict[str, Any]] = _f(None, "early-exit and slowdown-attack evaluation of a multi-exit "
                                                  "(sdn_*) model: a mapping of evaluation.slowdown keys ({} = the "
                                                  "defaults); null = skip", kind="slowdown")


@dataclass(frozen=True)
class MeasurementConfig:
    pue: float = _f(1.58, "data-centre power usage effectiveness multiplying measured energy", min=1.0)
    usd_per_kwh: float = _f(0.12, "electricity price, $ per kWh", min=0.0)
    kg_co2_per_kwh: float = _f(0.5663, "grid carbon intensity, kg CO2eq per kWh", min=0.0)
    tdp_watts: Optional[float] = _f(None, "if set and no meter is readable: energy estimated as tdp_watts x "
                                          "devices x time (labelled estimate-tdp)", min=0.0, min_exclusive=True)
    energy_source: str = _f("auto", "energy backend", choices=("auto", "nvml", "nvidia-smi", "rapl", "none"))
    sample_hz: float = _f(10.0, "power sampling rate of the background sampler", min=0.1, max=1000.0)
    cloud_usd_per_gpu_hour: Dict[str, Any] = _f(None, "device model -> [low, high] $ per device-hour",
                                                kind="prices", factory=lambda: {k: list(v) for k, v in DEFAULT_CLOUD_PRICES.items()})
    device_table: Dict[str, Any] = _f(None, "device model -> {usd_per_hour: $ per device-hour, watts: board "
                                            "power W}: TRASH's $ and energy ratios", kind="devices",
                                      factory=lambda: {k: dict(v) for k, v in DEFAULT_DEVICE_TABLE.items()})


@dataclass(frozen=True)
class TrackingConfig:
    wandb: str = _f("disabled", "Weights & Biases mode", choices=("disabled", "offline", "online"))
    project: str = _f("robustperf", "W&B project")
    entity: Optional[str] = _f(None, "W&B entity (team or user)")
    group: Optional[str] = _f(None, "W&B group; null = the recipe name")
    mllog: bool = _f(True, "write mllog.txt (MLPerf logging format) beside the result record")
    submission_org: str = _f("robustperf", "mllog submission_org: the organisation that ran the benchmark")
    submission_platform: Optional[str] = _f(None, "mllog submission_platform; null = the devices, e.g. 4xNVIDIA H200")
    submission_division: str = _f("open", "mllog submission_division", choices=("open", "closed"))
    submission_status: str = _f("research", "mllog submission_status",
                                choices=("onprem", "cloud", "preview", "research"))


@dataclass(frozen=True)
class LaunchConfig:
    """How the matrix is submitted; never part of a run's identity."""

    scheduler: str = _f("local", "where runs execute", choices=("local", "slurm", "lsf"))
    results: str = _f("runs", "results directory (one folder per run_id)")
    max_parallel: int = _f(2, "runs executing at once (the %K of an array job)", min=1)
    time_min: int = _f(60, "wall-time limit of one job, minutes", min=1)
    partition: Optional[str] = _f(None, "SLURM partition / LSF queue")
    account: Optional[str] = _f(None, "account / project to charge")
    gpus_per_run: int = _f(0, "GPUs per run (torchrun processes when > 1)", min=0)
    cpus_per_run: int = _f(1, "CPU cores per run", min=1)
    mem_gb: Optional[float] = _f(None, "memory per run, GB; null = scheduler default", min=0.0, min_exclusive=True)
    signal_seconds: int = _f(120, "seconds before the wall-time at which the run is told to checkpoint", min=1)
    chain: int = _f(0, "dependent follow-up jobs that resume unfinished runs past the wall-time", min=0)
    directives: Tuple[str, ...] = _f((), "extra raw scheduler directives, one per line", kind="strings")
    setup: Tuple[str, ...] = _f((), "shell lines run before each task (module load, venv activation)",
                                kind="strings")


SECTIONS: Dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "training": TrainingConfig, "attack": AttackConfig,
    "evaluation": EvaluationConfig, "measurement": MeasurementConfig, "tracking": TrackingConfig,
}
#: The run identity is what changes the trained weights: the seed and these sections, every default filled
#: in, less the fields marked ``identity=False`` and the keys the run does not read (another family's or method's
#: parameters, ``awp_warmup`` without ``awp_gamma``, ...; see :func:`applies`). The final evaluation, measurement
#: and pricing, tracking and launch settings change no id: a finished run is re-evaluated or re-priced, never
#: retrained, for them.
IDENTITY_SECTIONS = ("data", "model", "training", "attack")
#: Sections left out of the run id (everything that is not an identity section).
IDENTITY_EXCLUDED = tuple(s for s in SECTIONS if s not in IDENTITY_SECTIONS)


def identity_keys(section: str) -> Tuple[str, ...]:
    """The keys of an identity section that may be part of the run id (those some run reads), in sorted order."""
    cached = _IDENTITY_KEYS.get(section)
    if cached is None:
        cached = _IDENTITY_KEYS[section] = tuple(sorted(k for k, spec in section_fields(section).items()
                                                        if spec.get("identity", True)))
    return cached


_IDENTITY_KEYS: Dict[str, Tuple[str, ...]] = {}


def is_identity_key(section: str, key: Optional[str]) -> bool:
    """Whether ``section.key`` (``key`` None: the whole section, or ``seed``) can be part of the run identity
    (it is for the runs that read it, :func:`applies`)."""
    if section == "seed":
        return True
    if section not in IDENTITY_SECTIONS:
        return False
    return key is None or key in identity_keys(section)


#: The keys whose values decide whether another key is read (``training.loss``, ``model.arch``, ...) and the
#: registry that plug-ins declare their own keys in, where there is one.
_READERS: Dict[str, Vocabulary] = {TRAINING_METHODS.key: TRAINING_METHODS, MODEL_FAMILIES.key: MODEL_FAMILIES}


def conditions(section: str, key: str) -> Dict[str, Any]:
    """``{"section.key": allowed values or IS_SET}``: when ``section.key`` is read (empty: always)."""
    return section_fields(section)[key].get("when") or {}


def applies(section: str, key: str, value_of: Callable[[str, str], Any]) -> bool:
    """Whether a run reads ``section.key``; ``value_of(section, key)`` gives the run's value of a controlling key.

    A key read only by some model families (``family=``) or training methods (``methods=``) applies to the runs
    of those, and to the runs of a plug-in family or method that declared it when it registered; an arch no
    family is registered under counts as the ``timm`` family. ``when=`` conditions on other keys apply alike.
    """
    for path, allowed in conditions(section, key).items():
        value = value_of(*path.split(".", 1))
        if allowed == IS_SET:
            if value is None:
                return False
            continue
        if allowed == IS_POSITIVE:
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                return False
            continue
        try:
            if value in allowed:
                continue
        except TypeError:  # an unhashable value matches nothing
            return False
        vocabulary = _READERS.get(path)
        if vocabulary is None:
            return False
        declared = vocabulary.reads(value)
        if declared is not None:
            if f"{section}.{key}" not in declared:
                return False
        elif value in vocabulary.builtin or vocabulary.fallback not in allowed:
            return False
    return True


def controllers(section: str) -> Tuple[Tuple[str, str], ...]:
    """The ``(section, key)`` pairs whose values decide which keys of ``section`` a run reads."""
    cached = _CONTROLLERS.get(section)
    if cached is None:
        paths = sorted({p for k in identity_keys(section) for p in conditions(section, k)})
        cached = _CONTROLLERS[section] = tuple(tuple(p.split(".", 1)) for p in paths)  # type: ignore[misc]
    return cached


_CONTROLLERS: Dict[str, Tuple[Tuple[str, str], ...]] = {}


def run_identity_keys(section: str, cfg: Dict[str, Any]) -> Tuple[str, ...]:
    """The keys of ``section`` in the id of the run ``cfg`` (a resolved config dict): the identity keys it reads."""
    ctrl = controllers(section)
    if not ctrl:
        return identity_keys(section)
    values = tuple(_get(cfg, s, k) for s, k in ctrl)
    try:
        memo = (section, values, tuple(map(type, values)), Vocabulary.generation)
        hit = _RUN_KEYS.get(memo)
    except TypeError:  # an unhashable controlling value
        memo, hit = None, None
    if hit is None:
        hit = tuple(k for k in identity_keys(section) if applies(section, k, lambda s, k2: _get(cfg, s, k2)))
        if memo is not None:
            if len(_RUN_KEYS) >= 4096:
                _RUN_KEYS.clear()
            _RUN_KEYS[memo] = hit
    return hit


def _get(cfg: Dict[str, Any], section: str, key: str) -> Any:
    values = cfg.get(section)
    return values.get(key) if isinstance(values, dict) else None


_RUN_KEYS: Dict[Any, Tuple[str, ...]] = {}


def identity_of(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The part of a resolved run config that defines the run (and its id): seed + the identity sections' keys
    that the run reads (:func:`run_identity_keys`)."""
    out: Dict[str, Any] = {"seed": cfg.get("seed")}
    for section in IDENTITY_SECTIONS:
        values = cfg.get(section) or {}
        out[section] = {k: values.get(k) for k in run_identity_keys(section, cfg) if k in values}
    return out


@dataclass(frozen=True)
class RunConfig:
    """One fully resolved run of the matrix."""

    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    attack: AttackConfig = field(default_factory=AttackConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    measurement: MeasurementConfig = field(default_factory=MeasurementConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def __post_init__(self):
        check_run(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, config: Dict[str, Any], *, file: Optional[str] = None) -> "RunConfig":
        """Build from a resolved config dict (as in ``expand`` output or a result record)."""
        if not isinstance(config, dict):
            raise RecipeError("a run config must be a mapping", file=file, value=config)
        unknown = set(config) - set(SECTIONS) - {"seed"}
        if unknown:
            key = sorted(unknown)[0]
            raise RecipeError("unknown section", file=file, key=key, allowed=["seed", *SECTIONS])
        kwargs: Dict[str, Any] = {"seed": validate_value("seed", config.get("seed", 0), _SEED_FIELD, file)}
        for name, section in SECTIONS.items():
            values = config.get(name)
            kwargs[name] = section(**validate_section(name, {} if values is None else values, file=file))
        return cls(**kwargs)

    def to_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def eps(self) -> float:
        return self.attack.eps

    @property
    def train_step_size(self) -> float:
        """PGD step size of the training attack (1.5*eps/steps unless set)."""
        return self.attack.step_size or 1.5 * self.attack.eps / self.attack.steps

    @property
    def select_step_size(self) -> float:
        """PGD step size of the per-epoch best-checkpoint check (2.5*eps/select_pgd_steps unless set)."""
        return self.training.select_pgd_step_size or 2.5 * self.attack.eps / self.training.select_pgd_steps

    @property
    def eval_step_size(self) -> float:
        """PGD step size of the evaluation attack (2.5*eps/steps unless set)."""
        return self.evaluation.pgd_step_size or 2.5 * self.attack.eps / self.evaluation.pgd_steps


_SEED_FIELD = {"doc": "random seed of the run (repeats add 0, 1, ...)", "default": 0, "choices": None, "min": 0,
               "max": 2**32 - 1,
               "min_exclusive": False, "kind": None, "type": int}


# ---------------------------------------------------------------- field validation

def _fields(section: type) -> Dict[str, Dict[str, Any]]:
    cached = _FIELD_CACHE.get(section)
    if cached is None:
        hints = typing.get_type_hints(section)
        cached = {}
        for f in dataclasses.fields(section):
            meta = dict(f.metadata)
            meta["type"] = hints[f.name]
            if f.default is not dataclasses.MISSING:
                meta["default"] = f.default
            else:
                meta["default"] = f.default_factory()  # type: ignore[misc]
            cached[f.name] = meta
        _FIELD_CACHE[section] = cached
    return cached


_FIELD_CACHE: Dict[type, Dict[str, Dict[str, Any]]] = {}


def section_fields(section: str) -> Dict[str, Dict[str, Any]]:
    """Field specs of a section by name (``data``, ``launch``, ...): doc, type, default, choices, range."""
    cls = SECTIONS.get(section) or {"launch": LaunchConfig}.get(section)
    if cls is None:
        raise KeyError(section)
    return _fields(cls)


def all_paths() -> Dict[str, Dict[str, Any]]:
    """Every addressable run-config key path with its field spec (``seed``, ``data.name``, ...)."""
    paths = {"seed": _SEED_FIELD}
    for name in SECTIONS:
        for key, spec in section_fields(name).items():
            paths[f"{name}.{key}"] = spec
    return paths


def parse_fraction(value: Any) -> Any:
    """``'8/255'`` -> 0.0313..., numbers unchanged; anything else is returned for the type check to reject."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(Fraction(text)) if "/" in text else float(text)
        except (ValueError, ZeroDivisionError, OverflowError):
            return value
    return value


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args) + " or null"
    return getattr(tp, "__name__", str(tp))


def validate_value(path: str, value: Any, spec: Dict[str, Any], file: Optional[str] = None) -> Any:
    """Check (and normalise) one value against its field spec; raise RecipeError naming the key."""
    kind = spec.get("kind")
    tp = spec["type"]
    optional = typing.get_origin(tp) is typing.Union and type(None) in typing.get_args(tp)
    if value is None:
        if optional or kind == "autoattack":
            return None
        raise RecipeError(f"must not be null; expected {_type_name(tp)}", file=file, key=path, value=value)
    if kind == "fraction":
        value = parse_fraction(value)
    if kind == "autoattack":
        return _check_autoattack(path, value, file)
    if kind == "prices":
        return _check_prices(path, value, file)
    if kind == "slowdown":
        return check_slowdown(path, value, file)
    if kind in ("floats", "choices"):
        return _check_list(path, value, spec, file)
    if kind == "devices":
        return _check_devices(path, value, file)
    if kind == "strings":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise RecipeError("expected a list of strings", file=file, key=path, value=value)
        return tuple(value)
    base = tp
    if optional:
        base = next(a for a in typing.get_args(tp) if a is not type(None))
    if base is bool:
        if not isinstance(value, bool):
            raise RecipeError("expected true or false", file=file, key=path, value=value)
    elif base is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
                value = int(value)
            else:
                raise RecipeError("expected an integer", file=file, key=path, value=value)
    elif base is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError("expected a number" + (" or a fraction such as 8/255" if kind == "fraction" else ""),
                              file=file, key=path, value=value)
        value = float(value)
        if not math.isfinite(value):
            raise RecipeError("expected a finite number", file=file, key=path, value=value)
    elif base is str:
        if not isinstance(value, str):
            raise RecipeError("expected a string", file=file, key=path, value=value)
    choices = spec.get("choices")
    if choices is not None and value not in choices:
        hint = nearest(value, choices) if isinstance(value, str) else None
        raise RecipeError("not an allowed value" + (f" (did you mean '{hint}'?)" if hint else ""), file=file,
                          key=path, value=value, allowed=choices)
    lo, hi = spec.get("min"), spec.get("max")
    if lo is not None and (value < lo or (spec.get("min_exclusive") and value == lo)):
        op = ">" if spec.get("min_exclusive") else ">="
        raise RecipeError(f"must be {op} {lo}", file=file, key=path, value=value)
    if hi is not None and value > hi:
        raise RecipeError(f"must be <= {hi}", file=file, key=path, value=value)
    return value


def _check_list(path: str, value: Any, spec: Dict[str, Any], file: Optional[str]) -> Tuple[Any, ...]:
    items = [value] if isinstance(value, (str, int, float)) and not isinstance(value, bool) else value
    if not isinstance(items, (list, tuple)) or not items:
        raise RecipeError("expected a non-empty list", file=file, key=path, value=value)
    out = []
    for item in items:
        if spec["kind"] == "floats":
            item = validate_value(path, parse_fraction(item), {**spec, "kind": None, "type": float}, file)
        else:
            if item not in spec["choices"]:
                hint = nearest(item, spec["choices"]) if isinstance(item, str) else None
                raise RecipeError("not an allowed value" + (f" (did you mean '{hint}'?)" if hint else ""), file=file,
                                  key=path, value=item, allowed=spec["choices"])
        if item in out:
            raise RecipeError("listed twice", file=file, key=path, value=item)
        out.append(item)
    return tuple(out)


def check_slowdown(path: str, value: Any, file: Optional[str] = None) -> Dict[str, Any]:
    """Validate ``evaluation.slowdown`` (a mapping of :class:`SlowdownConfig` keys); return it with defaults."""
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise RecipeError("expected a mapping of slowdown keys ({} for the defaults) or null", file=file, key=path,
                          value=value)
    specs = _fields(SlowdownConfig)
    out = {k: _copy_default(s["default"]) for k, s in specs.items()}
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


def _check_autoattack(path: str, value: Any, file: Optional[str]) -> Any:
    if isinstance(value, str):
        if value not in AUTOATTACK_VERSIONS:
            hint = nearest(value, AUTOATTACK_VERSIONS + AUTOATTACK_ATTACKS)
            raise RecipeError("not an AutoAttack version" + (f" (did you mean '{hint}'?)" if hint else ""),
                              file=file, key=path, value=value, allowed=AUTOATTACK_VERSIONS + ("a list of attacks",))
        return value
    if isinstance(value, (list, tuple)) and value:
        for item in value:
            if item not in AUTOATTACK_ATTACKS:
                raise RecipeError("not an AutoAttack attack", file=file, key=path, value=item,
                                  allowed=AUTOATTACK_ATTACKS)
        if len(set(value)) != len(value):
            raise RecipeError("an attack is listed twice", file=file, key=path, value=list(value))
        return list(value)
    raise RecipeError("expected an AutoAttack version or a non-empty list of attacks", file=file, key=path,
                      value=value, allowed=AUTOATTACK_VERSIONS)


def _check_prices(path: str, value: Any, file: Optional[str]) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise RecipeError("expected a mapping of device model to [low, high] $/hour", file=file, key=path,
                          value=value)
    out = {}
    for model, pair in value.items():
        ok = (isinstance(model, str) and isinstance(pair, (list, tuple)) and len(pair) == 2
              and all(isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and p >= 0
                      for p in pair) and pair[0] <= pair[1])
        if not ok:
            raise RecipeError("expected [low, high] with 0 <= low <= high", file=file, key=f"{path}.{model}",
                              value=pair)
        out[model] = [float(pair[0]), float(pair[1])]
    return out


def _check_devices(path: str, value: Any, file: Optional[str]) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise RecipeError("expected a mapping of device model to {usd_per_hour: $/h, watts: W}", file=file,
                          key=path, value=value)
    out = {}
    for model, entry in value.items():
        where = f"{path}.{model}"
        if not isinstance(model, str) or not model or not isinstance(entry, dict):
            raise RecipeError("expected {usd_per_hour: $ per device-hour, watts: W}", file=file, key=where,
                              value=entry)
        for key in entry:
            if key not in DEVICE_KEYS:
                raise RecipeError("unknown key", file=file, key=f"{where}.{key}", allowed=DEVICE_KEYS)
        checked = {}
        for key in DEVICE_KEYS:
            number = entry.get(key)
            if number is None:
                checked[key] = None
                continue
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) \
                    or number < 0:
                raise RecipeError("expected a number >= 0" + (" ($ per device-hour)" if key == "usd_per_hour"
                                                              else " (watts)"), file=file, key=f"{where}.{key}",
                                  value=number)
            checked[key] = float(number)
        out[model] = checked
    return out


def validate_section(name: str, values: Any, *, file: Optional[str] = None, partial: bool = False,
                     lines: Optional[Dict[str, int]] = None) -> Dict[str, Any]:
    """Validate a section mapping; return it normalised with defaults filled in (unless ``partial``)."""
    specs = section_fields(name)
    if not isinstance(values, dict):
        raise RecipeError("a section must be a mapping of keys to values", file=file, key=name, value=values,
                          line=(lines or {}).get(name))
    out = {} if partial else {k: _copy_default(s["default"]) for k, s in specs.items()}
    for key, value in values.items():
        path = f"{name}.{key}"
        line = (lines or {}).get(path)
        if key not in specs:
            hint = nearest(str(key), specs)
            raise RecipeError("unknown key" + (f" (did you mean '{name}.{hint}'?)" if hint else ""), file=file,
                              key=path, allowed=list(specs), line=line)
        try:
            out[key] = validate_value(path, value, specs[key], file)
        except RecipeError as err:
            raise err.located(line=line) from None
    return out


def _copy_default(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: list(v) if isinstance(v, tuple) else (dict(v) if isinstance(v, dict) else v)
                for k, v in value.items()}
    return value


def check_run(cfg: Dict[str, Any], file: Optional[str] = None) -> None:
    """Cross-field rules of one resolved run config (a plain dict); raise RecipeError on the first broken one."""
    data, model, training, attack, evaluation = (cfg["data"], cfg["model"], cfg["training"], cfg["attack"],
                                                 cfg["evaluation"])
    if data["synthetic_fraction"] > 0 and not data["synthetic"]:
        raise RecipeError("synthetic_fraction > 0 needs data.synthetic (path of the .npz)", file=file,
                          key="data.synthetic_fraction", value=data["synthetic_fraction"])
    if data["name"] not in ("digits",) and not data["root"]:
        raise RecipeError(f"dataset {data['name']} needs data.root (the folder holding it)", file=file,
                          key="data.root", value=data["root"])
    if data["image_size"] is not None and data["name"] not in ("tinyimagenet", "imagefolder"):
        raise RecipeError("data.image_size applies to the folder datasets (tinyimagenet, imagefolder); resize "
                          "other inputs inside the model with model.input_size", file=file, key="data.image_size",
                          value=data["image_size"])
    for key, spec in section_fields("model").items():
        form, family = spec.get("form"), spec.get("family")
        if form and (family is None or model["arch"] in family) and model[key] % form[0] != form[1]:
            raise RecipeError(f"{spec['doc'].split(',')[0]} must be {form[0]}n+{form[1]}", file=file,
                              key=f"model.{key}", value=model[key])
    if training["awp_gamma"] is not None and training["loss"] not in AWP_METHODS:
        raise RecipeError("adversarial weight perturbation is an option of " + ", ".join(AWP_METHODS), file=file,
                          key="training.loss", value=training["loss"])
    if training["loss"] in SDN_METHODS and model["arch"] not in SDN_ARCHS:
        raise RecipeError(f"training method {training['loss']} trains a multi-exit model; model.arch must be one "
                          f"of {', '.join(SDN_ARCHS)}", file=file, key="model.arch", value=model["arch"])
    if training["loss"].startswith("sdn_ic_only") and training["sdn_ic_epochs"] >= training["epochs"]:
        raise RecipeError("the IC phase must be shorter than training (the backbone trains first for "
                          "training.epochs - training.sdn_ic_epochs epochs)", file=file,
                          key="training.sdn_ic_epochs", value=training["sdn_ic_epochs"])
    if evaluation.get("slowdown") is not None and model["arch"] not in SDN_ARCHS:
        raise RecipeError(f"evaluation.slowdown needs a multi-exit model ({', '.join(SDN_ARCHS)})", file=file,
                          key="model.arch", value=model["arch"])
    if training["warmup_epochs"] >= training["epochs"] and training["warmup_epochs"] > 0:
        raise RecipeError("warm-up must be shorter than training", file=file, key="training.warmup_epochs",
                          value=training["warmup_epochs"])
    if attack["norm"] == "linf" and attack["eps"] > 1:
        raise RecipeError("an Linf eps above 1 exceeds the [0, 1] image range (write 8/255, not 8)", file=file,
                          key="attack.eps", value=attack["eps"])
    if evaluation["autoattack"] == "rand" and attack["norm"] not in ("linf", "l2"):
        raise RecipeError("AutoAttack rand supports linf and l2", file=file, key="attack.norm", value=attack["norm"])
