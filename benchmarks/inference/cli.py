"""Option parsing and the console table of ``robustperf infer`` (kept apart from the CLI module so the
argument checks are importable and testable without a run)."""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

import torch

# pyautoattack's attack names (a custom list) and versions: the recipe schema's vocabulary, imported not copied
from recipes import AUTOATTACK_ATTACKS, AUTOATTACK_VERSIONS
from recipes.bounds import IMAGES, STEPS
from recipes.errors import UserError
from results.keys import INFERENCE_SETUP, OFFLINE, SINGLE_STREAM

from .precisions import list_precisions


class InferError(UserError):
    """A bad ``robustperf infer`` option or run folder (exit 2)."""


def parse_list(option: str, text: str) -> List[str]:
    items = [part.strip() for part in str(text).split(",")]
    if not text or any(not item for item in items):
        raise InferError(f"{option}: expected a comma-separated list, got {text!r}")
    return items


def parse_precisions(text: str) -> List[str]:
    """Precision names of ``--precision`` (unknown names: InferError naming the option, the value, the choices)."""
    known = list_precisions()
    names = parse_list("--precision", text)
    bad = [n for n in names if n not in known]
    if bad:
        raise InferError(f"--precision: unknown precision {bad[0]!r} (in {text!r}); valid: {', '.join(known)}")
    return list(dict.fromkeys(names))


#: the longest a timed measurement may be asked to take, s (one day: a benchmark that needs more is a typo)
MAX_SECONDS = 86_400.0


def parse_batch_sizes(text: str) -> List[int]:
    """``--batch-sizes``: integers from 1 to the recipe bound on batch sizes (``IMAGES``, recipes/bounds.py)."""
    out = []
    for item in parse_list("--batch-sizes", text):
        try:
            value = int(item)
        except ValueError:
            value = 0
        if not 1 <= value <= IMAGES:
            raise InferError(f"--batch-sizes: {item[:40]!r} is not an integer from 1 to {IMAGES:,} (in "
                             f"{text[:80]!r})")
        out.append(value)
    return out


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask; the machine's count where that is unknown)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _autoattack(text: Optional[str], default: Any) -> Any:
    if text is None:
        return default
    if text.strip().lower() in ("none", "null", "off"):
        return None
    if text in AUTOATTACK_VERSIONS:
        return text
    attacks = parse_list("--autoattack", text)
    bad = [a for a in attacks if a not in AUTOATTACK_ATTACKS]
    if bad:
        raise InferError(f"--autoattack: {bad[0]!r} is neither a version ({', '.join(AUTOATTACK_VERSIONS)}), none, "
                         f"nor an attack ({', '.join(AUTOATTACK_ATTACKS)})")
    return attacks


def parse_device(text: Optional[str]):
    """The torch device of ``--device`` (default: CUDA when available, else the CPU); InferError if unusable."""
    try:
        device = torch.device(text or ("cuda" if torch.cuda.is_available() else "cpu"))
    except (RuntimeError, ValueError):
        raise InferError(f"--device: {text!r} is not a torch device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise InferError(f"--device: {text!r}: no such CUDA device here ({torch.cuda.device_count()} visible)")
    return device


def _check(option: str, value, minimum, exclusive: bool = False, maximum=None, why: str = ""):
    """``value`` (None: unset) must be a finite number from ``minimum`` (``exclusive``: above it) to ``maximum``."""
    if value is None:
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise InferError(f"{option}: must be a finite number, got {value!r}")
    if value < minimum or (exclusive and value == minimum) or (maximum is not None and value > maximum):
        upper = f" and <= {maximum:,}{why}" if maximum is not None else ""
        raise InferError(f"{option}: must be {'>' if exclusive else '>='} {minimum}{upper}, got {value!r}")


def parse_options(args, cfg=None) -> Dict[str, Any]:
    """:class:`InferSettings` keyword arguments from the parsed command line and the run's config.

    Raises:
        InferError: a bad value, naming the option and the value.
    """
    precisions = parse_precisions(args.precision)
    batch_sizes = parse_batch_sizes(args.batch_sizes)
    day, cores = " (one day)", " (the cores this process may use)"
    for option, value, minimum, exclusive, maximum, why in (
            ("--queries", args.queries, 0, False, IMAGES, ""), ("--min-seconds", args.min_seconds, 0.0, False,
                                                                MAX_SECONDS, day),
            ("--max-seconds", args.max_seconds, 0.0, True, MAX_SECONDS, day),
            ("--warmup", args.warmup, 0, False, IMAGES, ""), ("--passes", args.passes, 1, False, STEPS, ""),
            ("--threads", args.threads, 1, False, available_cores(), cores),
            ("--accuracy-n", args.accuracy_n, 1, False, IMAGES, ""),
            ("--autoattack-n", args.autoattack_n, 1, False, IMAGES, ""),
            ("--calibration-n", args.calibration_n, 1, False, IMAGES, "")):
        _check(option, value, minimum, exclusive, maximum, why)
    if args.queries == 0 and not args.min_seconds:
        raise InferError("--queries 0 needs --min-seconds > 0: SingleStream needs a query count or a duration")
    ev = getattr(cfg, "evaluation", None)
    return {"precisions": tuple(precisions), "batch_sizes": tuple(batch_sizes), "warmup": args.warmup,
            "queries": args.queries, "min_seconds": args.min_seconds, "max_seconds": args.max_seconds,
            "passes": args.passes, "threads": args.threads, "accuracy_n": args.accuracy_n,
            "autoattack": _autoattack(args.autoattack, getattr(ev, "autoattack", "standard")),
            "autoattack_n": args.autoattack_n or getattr(ev, "autoattack_n", 1000),
            "attack_batch_size": getattr(ev, "batch_size", 500)}


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render_table(section: Dict[str, Any], run_id: str, which: str) -> str:
    """The console table of an inference section: one row per precision."""
    setup = section.get(INFERENCE_SETUP, {})
    lines = [f"{run_id} ({which}) on {setup.get('device_name')} [{setup.get('device')}, "
             f"{setup.get('threads')} threads], energy: {setup.get('energy_source') or 'not measured'}, "
             f"forward {_fmt(setup.get('flops_per_image'), ',')} FLOPs/image (measured)",
             f"{'precision':9}  {'p50 ms':>8}  {'p90 ms':>8}  {'p99 ms':>8}  {'img/s':>10}  {'batch':>5}  "
             f"{'J/img':>8}  {'clean %':>7}  {'drop':>6}  {'robust %':>8}  {'drop':>6}  robust by"]
    for name, entry in section.items():
        if name == INFERENCE_SETUP:
            continue
        if entry.get("status") != "measured":
            lines.append(f"{name:9}  {entry.get('status')}: {entry.get('reason')}")
            continue
        ss, off, acc = entry[SINGLE_STREAM], entry[OFFLINE], entry.get("accuracy") or {}
        energy = off.get("energy_j_per_image")
        lines.append(
            f"{name:9}  {ss['latency_ms_p50']:8.3f}  {ss['latency_ms_p90']:8.3f}  {ss['latency_ms_p99']:8.3f}  "
            f"{off['images_per_s']:10.1f}  {off['batch_size']:5d}  {_fmt(energy, '8.4f'):>8}  "
            f"{_fmt(acc.get('clean'), '7.2f'):>7}  "
            f"{_fmt(acc.get('clean_drop_vs_fp32'), '+6.2f'):>6}  {_fmt(acc.get('robust'), '8.2f'):>8}  "
            f"{_fmt(acc.get('robust_drop_vs_fp32'), '+6.2f'):>6}  "
            f"{acc.get('robust_method') or '-'}")
    lines.append("drop: percentage points below fp32; robust by: AutoAttack, or transfer of the fp32 examples (int8)")
    lines.append("backends: " + "; ".join(f"{k}: {v.get('backend')}" for k, v in section.items()
                                           if k != INFERENCE_SETUP and v.get("backend")))
    return "\n".join(lines)
