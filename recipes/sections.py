"""The sections of a run config, one frozen dataclass each: data, model, training, attack, evaluation,
measurement, tracking, benchmark, and the launch settings (never part of a run).

Every key is a :func:`recipes.fields.key_field` with its doc, default and checks. The values a plug-in decides
(datasets, methods, attacks, meters, executors) are :class:`recipes.catalog.Choices`, read from the catalog at each
use; the keys only some plug-ins read say so with ``read_by`` (see :mod:`recipes.identity`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple, Union

from . import bounds as B
from . import catalog
from .carbon import check_region
from .checks import (DEFAULT_CLOUD_PRICES, DEFAULT_DEVICE_TABLE, check_autoattack, check_devices,
                     check_prices, check_pretraining, check_synthetic_cost, check_train_size)
from .fields import IS_POSITIVE, IS_SET
from .fields import key_field as _f
from .slowdown import check_slowdown

__all__ = ["DataConfig", "ModelConfig", "TrainingConfig", "AttackConfig", "EvaluationConfig", "MeasurementConfig",
           "TrackingConfig", "BenchmarkConfig", "LaunchConfig", "SECTIONS"]


def _role(role: str):
    return lambda entry: role in entry.roles


def _norms(entry) -> Tuple[str, ...]:
    return tuple(entry.norms)


@dataclass(frozen=True)
class DataConfig:
    name: str = _f("digits", "dataset (a datasets plug-in: robustperf plugins --kind datasets)",
                   choices=catalog.Choices("datasets"))
    root: Optional[str] = _f(None, "folder holding the dataset (cifar: python batches; tinyimagenet: "
                                   "tiny-imagenet-200; imagefolder: train/ and val/ class folders); in the run id "
                                   "only where the dataset is its folder (imagefolder): a standard dataset is the "
                                   "same wherever it lies", read_by="data.name")
    image_size: Optional[int] = _f(None, "side of the images fed to the model (folder datasets: crops decoded to "
                                         "this size); null = the dataset's own (64 Tiny ImageNet, 224 imagefolder)",
                                   min=8, max=B.PIXELS)
    synthetic: Optional[str] = _f(None, "DeepMind generated-data .npz (image uint8 Nx32x32x3, label)",
                                  when={"data.synthetic_fraction": IS_POSITIVE})
    synthetic_fraction: float = _f(0.0, "fraction of every training batch drawn from the synthetic data",
                                   min=0.0, max=0.99)
    synthetic_cost: Optional[Dict[str, Any]] = _f(None, "generation cost of the synthetic images, amortised per "
                                                        "image: {flops_per_image, kwh_per_image, "
                                                        "device_hours_per_image, source}, any subset; the record "
                                                        "adds it x the images of data.synthetic once (never in the "
                                                        "run id)", kind="cost", check=check_synthetic_cost,
                                                  identity=False)
    batch_size: int = _f(128, "per-process training batch size", min=1, max=B.IMAGES)
    augment: bool = _f(True, "random crop (padding 4) and horizontal flip for 32x32 data")
    holdout_fraction: float = _f(0.0, "fraction of the training set held out of training (seeded, fixed split) "
                                      "for calibration, e.g. early-exit thresholds", min=0.0, max=0.5)
    num_workers: int = _f(0, "data-loader worker processes", min=0, max=B.WORKERS, identity=False)
    train_size: Optional[Union[int, float]] = _f(None, "training images used: a count (integer >= 1) or a fraction in (0, 1] of the training "
                               "split left after holdout_fraction and training.val_size, chosen by the run's seed "
                               "and nested (a smaller size is a prefix of the same seeded order, so a subset of a "
                               "larger one); null = all of it. In the run id only when set",
                         min=0.0, max=B.IMAGES, min_exclusive=True, kind="train_size", check=check_train_size,
                         since="0.3")


@dataclass(frozen=True)
class ModelConfig:
    arch: str = _f("wrn", "model family (a models plug-in: robustperf plugins --kind models), or any timm "
                          "model name")
    depth: int = _f(28, "WideResNet depth, 6n+4", min=10, max=B.DEPTH, read_by="model.arch", form=(6, 4))
    width: int = _f(10, "WideResNet widening factor", min=1, max=B.WIDTH, read_by="model.arch")
    activation: str = _f("relu", "activation function", choices=("relu", "gelu", "silu"),
                         read_by="model.arch")
    drop_rate: float = _f(0.0, "dropout before the classifier", min=0.0, max=0.99)
    input_size: Optional[int] = _f(None, "resize inputs to this size inside the model (bilinear, differentiable; "
                                         "ImageNet-style timm models on small images); null = as given", min=8,
                                   max=B.PIXELS,
                               read_by="model.arch")
    init: Optional[str] = _f(None, "local checkpoint the weights start from (a state_dict .pth/.pt or "
                                   ".safetensors, timm's format, or a finished run's checkpoint: its evaluated "
                                   "weights); a classifier of another size is left as initialised; never "
                                   "downloaded; in the run id as its path (the record keeps its SHA-256)",
                             since="0.3")
    pretraining: Optional[Dict[str, Any]] = _f(None, "cost of producing model.init, declared: {flops, kwh, "
                                                     "device_hours, source}, any subset; the record adds it to the "
                                                     "run's training cost once (never in the run id)",
                                               kind="cost", check=check_pretraining, identity=False)


@dataclass(frozen=True)
class TrainingConfig:
    loss: str = _f("at", "training method (a methods plug-in: robustperf plugins --kind methods)",
                   choices=catalog.Choices("methods"))
    trades_beta: float = _f(6.0, "TRADES robustness weight beta (method trades)", min=0.0, max=B.WEIGHT,
                             read_by="training.loss")
    mart_beta: float = _f(6.0, "MART weight of the misclassification-aware KL term (method mart)", min=0.0,
                          max=B.WEIGHT,
                           read_by="training.loss")
    fgsm_alpha: float = _f(1.25, "FGSM step size as a multiple of attack.eps (method fgsm_rs)", min=0.0, max=B.WEIGHT,
                           min_exclusive=True, read_by="training.loss")
    nfgsm_noise: float = _f(2.0, "N-FGSM noise: the start is uniform in nfgsm_noise x attack.eps (k; method n_fgsm; "
                                 "0 = no noise)", min=0.0, max=B.WEIGHT, read_by="training.loss")
    nfgsm_alpha: float = _f(1.0, "N-FGSM step size as a multiple of attack.eps (method n_fgsm)", min=0.0,
                            max=B.WEIGHT, min_exclusive=True, read_by="training.loss")
    nfgsm_clip: Optional[float] = _f(None, "N-FGSM projection radius as a multiple of attack.eps (method n_fgsm); "
                                           "null = no projection (the paper's)", min=0.0, max=B.WEIGHT,
                                     min_exclusive=True, read_by="training.loss")
    awp_gamma: Optional[float] = _f(None, "adversarial weight perturbation size gamma (Wu 2020; methods at, trades, "
                                          "mart); null = off", min=0.0, max=B.RELATIVE, min_exclusive=True,
                                    read_by="training.loss")
    awp_warmup: int = _f(0, "epochs before the weight perturbation starts (with awp_gamma)", min=0, max=B.EPOCHS,
                          when={"training.awp_gamma": IS_SET})
    sdn_ic_epochs: int = _f(25, "epochs of the IC phase of the sdn_ic_only methods (Adam on the ICs, backbone "
                                "frozen); the backbone trains for the first epochs - sdn_ic_epochs", min=1,
                            max=B.EPOCHS,
                             read_by="training.loss")
    sdn_ic_lr: float = _f(0.001, "Adam learning rate of the IC phase (sdn_ic_only methods)", min=0.0, max=B.RATE,
                          min_exclusive=True, read_by="training.loss")
    sdn_ic_milestone: int = _f(15, "IC-phase epoch at which its learning rate drops 10x (sdn_ic_only methods)",
                               min=1, max=B.EPOCHS, read_by="training.loss")
    epochs: int = _f(100, "training epochs (warm-up included); method free: passes over the data, each batch "
                          "replayed attack.steps times", min=1, max=B.EPOCHS)
    ema_decay: Optional[float] = _f(None, "EMA decay of the weights (e.g. 0.995); null = no EMA",
                                    min=0.0, max=1.0, min_exclusive=True)
    swa_start: Optional[int] = _f(None, "stochastic weight averaging (Izmailov 2018) from this epoch on (1-based): "
                                        "the end-of-epoch weights averaged, BatchNorm statistics recomputed, the "
                                        "average evaluated; null = no SWA", min=1, max=B.EPOCHS, since="0.3")
    swa_lr: Optional[float] = _f(None, "constant learning rate of the SWA epochs, at lr_base_batch_size like lr; "
                                       "null = the run's schedule goes on", min=0.0, max=B.RATE, min_exclusive=True,
                                 when={"training.swa_start": IS_SET})
    lr: float = _f(0.1, "learning rate at lr_base_batch_size; scaled linearly to the global batch", min=0.0, max=B.RATE,
                   min_exclusive=True)
    lr_base_batch_size: int = _f(128, "global batch size at which lr applies", min=1, max=B.IMAGES)
    optimizer: str = _f("sgd", "timm optimizer name (sgd = SGD with Nesterov momentum)")
    momentum: float = _f(0.9, "optimizer momentum", min=0.0, max=1.0)
    weight_decay: float = _f(5e-4, "weight decay", min=0.0, max=B.DECAY)
    scheduler: str = _f("cosine", "learning-rate schedule: a timm scheduler name, or cyclic (linear from 0 up to lr "
                                  "at cycle_peak and down to 0: FGSM-RS, N-FGSM) or onecycle (torch's OneCycleLR: "
                                  "DAWNBench), both stepped per update",
                        choices=("cosine", "step", "multistep", "plateau", "tanh", "poly", "none", "cyclic",
                                 "onecycle"))
    cycle_peak: float = _f(0.4, "fraction of all updates at which the cyclic / onecycle learning rate peaks (Wong et "
                                "al. 2020: 2/5; their and N-FGSM's CIFAR-10 code: 1/2)", min=0.0, max=0.99,
                           min_exclusive=True, when={"training.scheduler": ("cyclic", "onecycle")})
    warmup_epochs: int = _f(1, "linear warm-up epochs, counted in epochs (cyclic and onecycle: ignored, their rise "
                               "is the warm-up)", min=0, max=B.EPOCHS)
    precision: str = _f("fp32", "numeric precision of forward passes (fp16: autocast with a gradient scaler)",
                        choices=("fp32", "bf16", "fp16"))
    clip_grad: Optional[float] = _f(None, "gradient-norm clipping; null = none", min=0.0,
                                    max=B.CLIP, min_exclusive=True)
    select_on: str = _f("validation", "images of the per-epoch check that picks the best checkpoint: validation "
                                      "(val_size held-out training images, never trained on) or test (the "
                                      "first select_subset test images; the reference study's protocol)",
                        choices=("validation", "test"))
    val_size: int = _f(1024, "training images held out for the check when select_on is validation (chosen by "
                             "the seed)", min=1, max=B.IMAGES, when={"training.select_on": ("validation",)})
    select_subset: int = _f(1024, "images of the per-epoch PGD check that chooses the best checkpoint (the first "
                                  "of the held-out or test images)", min=1, max=B.IMAGES)
    select_pgd_steps: int = _f(40, "PGD steps of the per-epoch best-checkpoint check", min=1, max=B.STEPS)
    select_pgd_step_size: Optional[float] = _f(None, "PGD step size of the per-epoch check; null = "
                                                     "2.5*eps/select_pgd_steps", min=0.0,
                                               max=B.DISTANCE, min_exclusive=True,
                                               kind="fraction")
    select_batch_size: int = _f(500, "batch size of the per-epoch check", min=1, max=B.IMAGES)
    select_attack: str = _f("pgd", "attack of the per-epoch check (an attacks plug-in with the check role)",
                            choices=catalog.Choices("attacks", where=_role("check")), since="0.2")
    stop_at_target: bool = _f(False, "end training after the epoch whose check first reaches the benchmark's target "
                                     "(the learning-rate schedule stays the full run's); needs a benchmark",
                              since="0.2")


@dataclass(frozen=True)
class AttackConfig:
    norm: str = _f("linf", "threat model", choices=catalog.Choices("attacks", where=_role("check"), values=_norms))
    eps: float = _f(8 / 255, "perturbation budget; accepts a fraction such as 8/255", min=0.0, max=B.DISTANCE,
                    min_exclusive=True, kind="fraction")
    steps: int = _f(10, "PGD steps of the training attack; method free: replays m of each batch", min=1, max=B.STEPS,
                    read_by="training.loss")
    step_size: Optional[float] = _f(None, "PGD step size; null = 1.5*eps/steps for every PGD-based method "
                                          "(free: eps); TRADES' and MART's papers use 0.007 at eps 0.031", min=0.0,
                                    max=B.DISTANCE,
                                    min_exclusive=True, kind="fraction", read_by="training.loss")
    random_start: bool = _f(True, "start PGD from a uniform random point in the eps-ball",
                            read_by="training.loss")




@dataclass(frozen=True)
class EvaluationConfig:
    attack: str = _f("pgd", "attack of the final robust evaluation, on the whole test set (an attacks plug-in "
                            "with the evaluation role)", choices=catalog.Choices("attacks", where=_role("evaluation")))
    pgd_steps: int = _f(40, "PGD steps of the final robust evaluation (whole test set)", min=1, max=B.STEPS)
    pgd_step_size: Optional[float] = _f(None, "final evaluation PGD step size; null = 2.5*eps/pgd_steps", min=0.0,
                                        max=B.DISTANCE,
                                        min_exclusive=True, kind="fraction")
    autoattack: Any = _f("standard", "AutoAttack version (standard, plus, rand), a list of attacks, or null to "
                                     "skip", kind="autoattack", check=check_autoattack)
    autoattack_n: int = _f(10000, "AutoAttack on the first n test points (RobustBench convention)", min=1, max=B.IMAGES)
    batch_size: int = _f(500, "evaluation batch size", min=1, max=B.IMAGES)
    which: str = _f("best", "checkpoint evaluated at the end of training", choices=("best", "last"))
    fgm_steps: int = _f(0, "minimal-eps FGM survival attack: eps levels k*fgm_eps_max/fgm_steps tried until the "
                           "prediction flips; 0 = off", min=0, max=B.STEPS)
    fgm_eps_max: Optional[float] = _f(None, "largest eps of the minimal-eps FGM; null = attack.eps", min=0.0,
                                      max=B.DISTANCE,
                                      min_exclusive=True, kind="fraction")
    slowdown: Optional[Dict[str, Any]] = _f(None, "early-exit and slowdown-attack evaluation of a multi-exit "
                                                  "(sdn_*) model: a mapping of evaluation.slowdown keys ({} = the "
                                                  "defaults); null = skip", kind="slowdown", check=check_slowdown)


@dataclass(frozen=True)
class MeasurementConfig:
    pue: float = _f(1.58, "data-centre power usage effectiveness multiplying measured energy", min=1.0, max=B.PUE)
    usd_per_kwh: float = _f(0.12, "electricity price, $ per kWh", min=0.0, max=B.PRICE)
    kg_co2_per_kwh: Optional[float] = _f(None, "grid carbon intensity, kg CO2eq per kWh; set, it beats "
                                               "measurement.region; null = the region's, else 0.5663",
                                         min=0.0, max=B.CARBON)
    region: Optional[str] = _f(None, "where the energy was drawn: a country code (FRA, FR), a grid zone (US-VA, SE3, "
                                     "CN-BJ) or a cloud region (gcp:europe-west1, aws:us-east-1, "
                                     "azure:francecentral); its carbon intensity comes from codecarbon's packaged "
                                     "data (dataset, year and version recorded in pricing.carbon_source)",
                               kind="region", check=check_region)
    tdp_watts: Optional[float] = _f(None, "if set and no meter is readable: energy estimated as tdp_watts x "
                                          "devices x time (labelled estimate-tdp)", min=0.0,
                                    max=B.POWER, min_exclusive=True)
    layer_profile: Optional[int] = _f(None, "epoch (1-based) whose first layer_profile_steps training steps the "
                                            "torch profiler times by layer type (convolution, normalisation, "
                                            "activation, linear, other) into timing.layer_profile; null = off",
                                      min=1, max=B.EPOCHS)
    layer_profile_steps: int = _f(3, "training steps the layer-type profile covers", min=1, max=1000,
                                  when={"measurement.layer_profile": IS_SET})
    energy_source: str = _f("auto", "energy backend", choices=catalog.Choices("meters", before=("auto",), after=("none",)))
    sample_hz: float = _f(10.0, "power sampling rate of the background sampler", min=0.1, max=1000.0)
    cloud_usd_per_gpu_hour: Dict[str, Any] = _f(None, "device model -> [low, high] $ per device-hour",
                                                kind="prices", check=check_prices, factory=lambda: {k: list(v) for k, v in DEFAULT_CLOUD_PRICES.items()})
    device_table: Dict[str, Any] = _f(None, "device model -> {usd_per_hour: $ per device-hour, watts: board "
                                            "power W}: TRASH's $ and energy ratios", kind="devices", check=check_devices,
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
class BenchmarkConfig:
    """The benchmark a run enters: set by the recipe's top-level ``benchmark:`` and ``division:`` keys only."""

    id: Optional[str] = _f(None, "benchmark the run enters (robustperf benchmarks lists them; the recipe's top-level "
                                 "benchmark: key): the run measures time, energy and cost to its target",
                           choices=catalog.Choices("benchmarks"), since="0.2")
    division: str = _f("closed", "division entered (the recipe's top-level division: key): closed = the reference "
                                 "model and data, hyper-parameters within bounds; open = anything, declared",
                       choices=("closed", "open"), when={"benchmark.id": IS_SET}, since="0.2")


@dataclass(frozen=True)
class LaunchConfig:
    """How the matrix is submitted; never part of a run's identity."""

    scheduler: str = _f("local", "where runs execute", choices=catalog.Choices("executors"))
    results: str = _f("runs", "results directory (one folder per run_id)")
    max_parallel: int = _f(2, "runs executing at once (the %K of an array job)", min=1, max=B.PARALLEL)
    time_min: int = _f(60, "wall-time limit of one job, minutes", min=1, max=B.MINUTES)
    partition: Optional[str] = _f(None, "SLURM partition / LSF queue")
    account: Optional[str] = _f(None, "account / project to charge")
    gpus_per_run: int = _f(0, "GPUs per run (torchrun processes when > 1)", min=0, max=B.DEVICES)
    nodes: int = _f(1, "nodes per run: above 1 each run is a multi-node job, one torchrun per node meeting at a "
                       "c10d rendezvous on the first node (batch schedulers only)", min=1, max=B.DEVICES)
    cpus_per_run: int = _f(1, "CPU cores per run", min=1, max=B.CORES)
    mem_gb: Optional[float] = _f(None, "memory per run, GB; null = scheduler default", min=0.0,
                                 max=B.MEMORY_GB, min_exclusive=True)
    signal_seconds: int = _f(120, "seconds before the wall-time at which the run is told to checkpoint", min=1,
                             max=B.SECONDS)
    chain: int = _f(0, "dependent follow-up jobs that resume unfinished runs past the wall-time", min=0)
    directives: Tuple[str, ...] = _f((), "extra raw scheduler directives, one per line", kind="strings")
    setup: Tuple[str, ...] = _f((), "shell lines run before each task (module load, venv activation)",
                                kind="strings")


#: The sections of a run, in the order of a resolved config (``launch`` is the recipe's, not a run's).
SECTIONS: Dict[str, type] = {
    "data": DataConfig, "model": ModelConfig, "training": TrainingConfig, "attack": AttackConfig,
    "evaluation": EvaluationConfig, "measurement": MeasurementConfig, "tracking": TrackingConfig,
    "benchmark": BenchmarkConfig,
}
