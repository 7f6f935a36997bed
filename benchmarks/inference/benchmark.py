"""The inference benchmark of a trained model: SingleStream and Offline at each precision, with accuracy.

:func:`benchmark_inference` returns the record's ``evaluation.inference`` section (keys: ``setup`` and one
entry per precision, each with its ``SingleStream`` and ``Offline`` scenario and its ``accuracy``) and the raw
samples (kept beside the record, not in it). See :mod:`.timing` for the timing method and :mod:`.precisions`
for how each precision is built.

Every number says how it was obtained: latencies and throughputs are ``measured``; energy is measured by the
run's energy meter (``energy_source`` names the backend; null when it cannot measure); FLOPs per image are the
fp32 model's executed forward FLOPs counted by DeepSpeed's profiler (the same operations at every precision);
robust accuracy is ``autoattack`` (the attack run on that precision's model) or ``transfer`` (the fp32 model's
AutoAttack examples fed to a model without gradients).
"""
from __future__ import annotations

import logging
import resource
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch

from results.keys import INFERENCE_SETUP, OFFLINE, SINGLE_STREAM

from ..autoattack import run_autoattack
from ..datasets.evalset import as_eval_set
from ..measurement.flops import forward_flops_per_sample
from ..measurement.hardware import cpu_model
from ..measurement.window import measure
from . import timing
from .precisions import AUTOATTACK, TRANSFER, Prepared, Unsupported, get_precision, quantized_engine, threads

__all__ = ["FAILED", "MEASURED", "REFERENCE", "UNSUPPORTED", "AttackSetup", "InferSettings", "Outcome", "accuracy",
           "benchmark_inference", "device_name", "offline", "single_stream"]

logger = logging.getLogger("robustperf.inference")

MEASURED = "measured"
UNSUPPORTED = "unsupported"
FAILED = "failed"
#: The precision every accuracy drop is measured against.
REFERENCE = "fp32"
#: Distinct test images SingleStream cycles through.
SINGLE_STREAM_IMAGES = 256


@dataclass(frozen=True)
class InferSettings:
    """How to benchmark (``robustperf infer`` options; defaults are MLPerf-like, tests pass small values).

    Attributes:
        precisions: registered precision names, in order; fp32 (the reference of the drops) is always added.
        batch_sizes: Offline batch sizes to measure; the headline is the largest that fits in memory (a batch
            that does not fit is halved until one does).
        warmup: untimed queries (and Offline passes) before timing.
        queries / min_seconds: SingleStream minimum query count and minimum timed duration (both must be met).
        max_seconds: optional cap of each timed measurement (then at least 5 queries / passes).
        passes / offline_min_seconds: Offline minimum timed passes and duration.
        threads: intra-op CPU threads, fixed for the whole benchmark and recorded; None = the current count.
        accuracy_n: test points for clean accuracy (None = the whole test set).
        autoattack: AutoAttack version (standard, plus, rand) or list of attacks; None = no robust accuracy.
        autoattack_n: points AutoAttack runs on (the first of the test set).
        attack_batch_size: batch size of AutoAttack and of the accuracy passes.
    """

    precisions: Tuple[str, ...] = ("fp32", "bf16", "fp16", "int8")
    batch_sizes: Tuple[int, ...] = (256,)
    warmup: int = 10
    queries: int = 1000
    min_seconds: float = 0.0
    max_seconds: Optional[float] = None
    passes: int = 10
    offline_min_seconds: float = 0.0
    threads: Optional[int] = None
    accuracy_n: Optional[int] = None
    autoattack: Any = "standard"
    autoattack_n: int = 1000
    attack_batch_size: int = 500


@dataclass
class AttackSetup:
    """The run's threat model: what AutoAttack attacks with."""

    eps: float
    norm: str = "linf"
    seed: int = 0


@dataclass
class Outcome:
    section: Dict[str, Any]
    samples: Dict[str, Any] = field(default_factory=dict)


def _is_oom(err: BaseException) -> bool:
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    text = str(err).lower()
    return isinstance(err, (RuntimeError, MemoryError)) and ("out of memory" in text or "can't allocate" in text
                                                             or isinstance(err, MemoryError))


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory(device: torch.device) -> Dict[str, Any]:
    if device.type == "cuda":
        return {"peak_memory_mb": torch.cuda.max_memory_allocated(device) / 2**20,
                "peak_memory_kind": "torch.cuda.max_memory_allocated during the scenario"}
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = kb / 2**20 if sys.platform == "darwin" else kb / 2**10  # bytes on macOS, KiB on Linux
    return {"peak_memory_mb": mb, "peak_memory_kind": "process peak RSS so far (ru_maxrss; CPU)"}


def _batch(images: torch.Tensor, size: int, device: torch.device) -> torch.Tensor:
    if images.shape[0] < size:
        images = images.repeat((-(-size // images.shape[0]),) + (1,) * (images.dim() - 1))
    return images[:size].to(device).contiguous()


def _energy(span, images: int, source: Optional[str]) -> Dict[str, Any]:
    per = None if span.energy_j is None else span.energy_j / images
    return {"energy_j_per_image": per, "energy_j": span.energy_j, "energy_source": source,
            "energy_seconds": span.seconds}


def single_stream(prepared: Prepared, images: torch.Tensor, settings: InferSettings, meter: Any = None
                  ) -> Tuple[Dict[str, Any], List[float]]:
    """SingleStream: batch-1 queries on consecutive test images, latency percentiles; returns (figures, raw s)."""
    device, model = prepared.device, prepared.model
    n = images.shape[0]
    queries = [images[i:i + 1].to(device) for i in range(min(n, SINGLE_STREAM_IMAGES))]
    counter = [0]

    def query():
        x = queries[counter[0] % len(queries)]
        counter[0] += 1
        return model(x)

    _reset_peak(device)
    with torch.inference_mode():
        for _ in range(settings.warmup):
            query()
        timing.synchronizer(device)()
        with measure(meter, "inference") as span:
            samples = timing.run_queries(query, device, warmup=0, min_queries=settings.queries,
                                         min_seconds=settings.min_seconds, max_seconds=settings.max_seconds)
    samples.warmup = settings.warmup
    out = {"batch_size": 1, **timing.latency_summary(samples), "status": MEASURED}
    out.update(_energy(span, len(samples.seconds), getattr(meter, "source", None)))
    out.update(_peak_memory(device))
    return out, samples.seconds


def offline(prepared: Prepared, images: torch.Tensor, settings: InferSettings, meter: Any = None
            ) -> Tuple[Dict[str, Any], Dict[str, List[float]]]:
    """Offline: images/s at each batch size of ``settings.batch_sizes`` that fits (OOM: halve until one does);
    the headline figures are those of the largest batch that fits. Returns (figures, raw seconds by batch)."""
    device, model = prepared.device, prepared.model
    sync = timing.synchronizer(device)
    per_batch: Dict[str, Dict[str, Any]] = {}
    raw: Dict[str, List[float]] = {}
    did_not_fit: List[int] = []
    candidates = sorted(set(int(b) for b in settings.batch_sizes), reverse=True)
    pending = list(candidates)
    while pending:
        size = pending.pop(0)
        try:
            x = _batch(images, size, device)
            _reset_peak(device)
            with torch.inference_mode():
                for _ in range(max(1, min(settings.warmup, 3))):
                    model(x)
                sync()
                with measure(meter, "inference") as span:
                    samples = timing.run_queries(lambda: model(x), device, warmup=0, min_queries=settings.passes,
                                                 min_seconds=settings.offline_min_seconds,
                                                 max_seconds=settings.max_seconds, floor=3)
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled; anything else propagates
            if not _is_oom(err):
                raise
            x = None
            if device.type == "cuda":
                torch.cuda.empty_cache()
            did_not_fit.append(size)
            logger.info("Offline: batch %d does not fit on %s; trying %d", size, device, size // 2)
            if size > 1 and not pending and not per_batch:
                pending.append(size // 2)
            continue
        samples.warmup = max(1, min(settings.warmup, 3))
        figures = {"batch_size": size, **timing.throughput_summary(samples, size)}
        figures.update(_energy(span, size * len(samples.seconds), getattr(meter, "source", None)))
        figures.update(_peak_memory(device))
        per_batch[str(size)] = figures
        raw[str(size)] = samples.seconds
        del x
    if not per_batch:
        raise RuntimeError(f"no Offline batch size fits on {device} (tried {did_not_fit})")
    largest = max(per_batch, key=int)
    kept = ("images_per_s", "batch_ms_olympic_mean", "energy_j_per_image", "peak_memory_mb")
    by_size = {k: {name: per_batch[k][name] for name in kept} for k in sorted(per_batch, key=int)}
    out = {**per_batch[largest], "status": MEASURED, "largest_fitting_batch": int(largest),
           "did_not_fit": did_not_fit, "by_batch_size": by_size}
    return out, raw


@torch.inference_mode()
def accuracy(model: torch.nn.Module, x, y: Optional[torch.Tensor], device: torch.device,
             batch_size: int) -> float:
    """Percentage of ``x`` (an :class:`benchmarks.datasets.EvalSet`, or images with labels ``y``) that ``model``
    classifies correctly, read in batches of ``batch_size``."""
    data = as_eval_set(x, y)
    correct = 0
    for xb, yb in data.batches(batch_size):
        logits = model(xb.to(device))
        correct += int((logits.argmax(1).cpu() == yb).sum())
    return 100.0 * correct / data.n


def benchmark_inference(model: torch.nn.Module, test: Any,
                        calibration: torch.Tensor, settings: InferSettings, *, device: Any = "cpu",
                        meter: Any = None, attack: Optional[AttackSetup] = None,
                        flops_per_image: Optional[int] = None, count_flops: bool = True,
                        measure_accuracy: bool = True) -> Outcome:
    """Benchmark ``model`` (fp32, eval mode, inputs in [0, 1]) at each precision of ``settings``.

    Args:
        model: the trained classifier.
        test: the test set in dataset order (queries, batches and accuracy points): an
            :class:`benchmarks.datasets.EvalSet` (read in batches; folder datasets stream) or ``(images, labels)``
            (labels may be None without ``measure_accuracy``). The timed scenarios use its first
            ``max(256, largest batch size)`` images, held in memory; the accuracies stream over the set.
        calibration: training images for int8 calibration (a few hundred).
        settings: :class:`InferSettings`.
        device: where the fp32/bf16/fp16 models run (int8 runs on the CPU or is unsupported).
        meter: a started ``benchmarks.measurement.EnergyMeter``; each scenario is one "inference" window.
        attack: the threat model for robust accuracy; None = no robust accuracy.
        flops_per_image: forward FLOPs per image when already known; else counted (``count_flops``).
        measure_accuracy: measure clean (and robust) accuracy; False: ``accuracy`` is None (labels unused).

    Returns:
        :class:`Outcome`: ``section`` (the record's ``evaluation.inference``) and ``samples`` (raw seconds:
        ``{precision: {"SingleStream": [...], "Offline": {batch: [...]}}}``).
    """
    device = torch.device(device)
    model = model.to(device).eval()
    test = as_eval_set(test)
    # the timed queries and Offline batches: the first images, as many as a scenario reads
    x = test.head(max(SINGLE_STREAM_IMAGES, *settings.batch_sizes)).tensors()[0]
    precisions = list(dict.fromkeys([REFERENCE, *settings.precisions]))
    for name in precisions:
        get_precision(name)  # unknown names fail before any work
    with threads(settings.threads) as n_threads:
        flops, flops_source = flops_per_image, "given"
        if flops is None and count_flops:
            flops = int(forward_flops_per_sample(model, tuple(test.shape))["forward_flops"])
            flops_source = "deepspeed flops profiler on the fp32 model (the same operations run at every precision)"
        setup = _setup(device, n_threads, settings, meter, flops, flops_source if flops is not None else None,
                       attack, test.n)
        section: Dict[str, Any] = {INFERENCE_SETUP: setup}
        samples: Dict[str, Any] = {}
        acc_n = test.n if settings.accuracy_n is None else min(settings.accuracy_n, test.n)
        aa_n = min(settings.autoattack_n, test.n)
        reference_examples = None
        for name in precisions:
            logger.info("inference: %s on %s (%d threads)", name, device, n_threads)
            try:
                prepared = get_precision(name)(model, device, calibration)
            except Unsupported as err:
                logger.warning("inference: %s is unsupported here: %s", name, err)
                section[name] = {"status": UNSUPPORTED, "reason": str(err)}
                continue
            entry: Dict[str, Any] = {"status": MEASURED, "reason": None, "backend": prepared.backend,
                                     "device": str(prepared.device), **prepared.details}
            stream, stream_raw = single_stream(prepared, x, settings, meter)
            off, off_raw = offline(prepared, x, settings, meter)
            entry[SINGLE_STREAM], entry[OFFLINE] = stream, off
            samples[name] = {SINGLE_STREAM: stream_raw, OFFLINE: off_raw}
            if not measure_accuracy:
                entry["accuracy"] = None
                section[name] = entry
                continue
            acc: Dict[str, Any] = {"clean": accuracy(prepared.model, test.head(acc_n), None, prepared.device,
                                                     settings.attack_batch_size),
                                   "clean_n": acc_n, "robust": None, "robust_n": None, "robust_method": None}
            if attack is not None and settings.autoattack is not None:
                if prepared.robust_method == AUTOATTACK:
                    result = run_autoattack(prepared.model, test.head(aa_n), eps=attack.eps, norm=attack.norm,
                                            version=settings.autoattack, seed=attack.seed,
                                            batch_size=settings.attack_batch_size, device=prepared.device,
                                            keep_examples=name == REFERENCE)
                    acc.update(robust=100.0 * result.robust_accuracy, robust_n=result.n,
                               robust_method=f"autoattack ({result.version}: {', '.join(result.attacks)})",
                               robust_ci=[100.0 * result.ci[0], 100.0 * result.ci[1]],
                               autoattack_seconds=result.seconds)
                    if name == REFERENCE:
                        reference_examples = result.examples
                elif prepared.robust_method == TRANSFER and reference_examples is not None:
                    acc.update(robust=accuracy(prepared.model, reference_examples.cpu(), test.labels[:aa_n],
                                               prepared.device, settings.attack_batch_size),
                               robust_n=aa_n, robust_method=f"transfer of the {REFERENCE} model's AutoAttack examples")
            entry["accuracy"] = acc
            section[name] = entry
        _drops(section)
    return Outcome(section, samples)


def _drops(section: Dict[str, Any]) -> None:
    ref = (section.get(REFERENCE) or {}).get("accuracy") or {}
    for name, entry in section.items():
        if name == INFERENCE_SETUP or entry.get("status") != MEASURED or not entry.get("accuracy"):
            continue
        acc = entry["accuracy"]
        for key in ("clean", "robust"):
            acc[f"{key}_drop_vs_{REFERENCE}"] = (ref[key] - acc[key]) if ref.get(key) is not None and \
                acc.get(key) is not None else None


def device_name(device: torch.device) -> str:
    """The device's model name (the GPU's, or the CPU's), as the inference setup records it."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model() or "cpu"


def _setup(device, n_threads, settings, meter, flops, flops_source, attack, n_test) -> Dict[str, Any]:
    return {"device": str(device), "device_name": device_name(device), "threads": n_threads,
            "torch": torch.__version__, "quantized_engine": quantized_engine(),
            "energy_source": getattr(meter, "source", None), "flops_per_image": flops, "flops_source": flops_source,
            "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(settings).items()},
            "attack": asdict(attack) if attack is not None else None, "test_images": int(n_test),
            "timing": "synchronised timed regions after warm-up; nearest-rank percentiles; olympic mean "
                      "(min and max dropped); raw samples in samples_file",
            "reference": REFERENCE}
