"""Per-point survival data of the evaluation's attacks: when each point first fails, or that it never did.

Meyers et al. ("A Cost-Aware Approach to Adversarial Robustness in Neural Networks") treat the attacker's
effort until a model misclassifies a point as a time-to-failure. The paper had one attack time per run and
assumed it uniform over the 100 points; here each point is a subject:

* ``pgd-<steps>``: the evaluation's attack (``evaluation.attack``, PGD unless the recipe names another attack
  of the ``evaluation`` role; the configuration is then ``<attack>-<steps>``). Iterate i (0 = the random start)
  is checked with the logits the attack computes anyway; a point fails at the first iterate the model
  misclassifies. ``iterations`` = the gradient steps taken (i), ``forward_passes`` = i + 1, ``backward_passes``
  = i (one backward to the input per step), ``seconds`` = the batch's wall time from the start of its attack to
  that iterate divided by the batch's points (the attacker's amortised time per point; on CUDA the device is
  synchronised at each iterate for this). Points the attack never fools are right-censored at the whole budget
  (steps + 1 forwards, the last one the final check, and steps backwards). An attack that does not report its
  iterates is checked at its end only; its passes are then counted (:class:`~..measurement.passes.PassCounter`,
  amortised over the batch) rather than assumed.
* ``autoattack-<version>``: AutoAttack's attacks in turn (resolution: one attack). A point's clock runs
  across the attacks (the adapter keeps its cumulative seconds, forward and backward passes in the resumable
  state); it fails at the end of the attack that first fools it (``attack`` names it) and is censored after the
  last. pyautoattack's ``perturb`` does not return per-point query or iteration counts (Square counts queries
  internally and drops them), so the passes are counted by hooks on the model, amortised over the batch.
* ``fgm-min-eps``: the paper's minimal-eps fast gradient method (as ART's ``minimal=True``): one gradient at
  the clean point, then eps = k * eps_max / steps for k = 1, 2, ... until the prediction flips. ``eps`` is
  the eps at failure (the paper's "time"), censored at eps_max; ``forward_passes`` = 2 + the levels tried on
  the point (the clean check, the gradient's forward and one per level), ``backward_passes`` = 1.

Seconds measure the machine as much as the attack (on a shared machine the median seconds per PGD iteration of
one model differed 46x between runs); the passes do not, and the survival analysis's default duration is the
FLOPs they cost (``attack_flops``, :mod:`scaling.survival.durations`).

Points the model misclassifies without attack fail at zero effort (``clean_correct`` false, every duration
0); AFT models need T > 0 and drop them. One row per point and attack configuration, written beside the record
as ``survival.parquet`` (:func:`write_survival`, atomic).
"""
from __future__ import annotations

import inspect
import io
import time
from typing import Callable, Iterable, Optional, Tuple, Union

import torch
import torch.nn.functional as F

from results import atomic_write_bytes
from results.keys import SURVIVAL_TABLE as SURVIVAL_FILE

from ..attacks import create_attack, eval_mode, fgm_direction
from ..datasets.evalset import as_eval_set
from ..measurement.passes import PassCounter
from ..measurement.trace import Trace
from ..models.outputs import final_logits

__all__ = ["COLUMNS", "SURVIVAL_FILE", "Trace", "fgm_min_eps", "pgd_trace", "point_losses", "survival_frame",
           "write_survival"]

#: Columns of survival.parquet, in order.
COLUMNS = ("run_id", "which", "config", "point", "clean_correct", "event", "attack", "seconds", "iterations",
           "forward_passes", "backward_passes", "eps")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _device_of(model: torch.nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def point_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each point's cross-entropy of ``logits`` (in float32, as the evaluation's forward passes run), on the CPU:
    the record's ``accuracy.*_loss`` are their means."""
    return F.cross_entropy(logits.float(), y, reduction="none").detach().cpu()


def _observes(attack: Callable[..., torch.Tensor]) -> bool:
    """Whether ``attack`` reports its iterates (an ``observe(i, logits)`` argument, as PGD has)."""
    try:
        return "observe" in inspect.signature(attack).parameters
    except (TypeError, ValueError):
        return False


def pgd_trace(model: torch.nn.Module, x, y: Optional[torch.Tensor] = None, *, norm: str, eps: float, steps: int,
              step_size: float, batch_size: int, seed: int, random_start: bool = True,
              device: Optional[Union[str, torch.device]] = None, attack: str = "pgd",
              losses: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Trace]:
    """Robustness per point against the evaluation's attack (``evaluation.attack``, PGD by default; as
    ``accuracy.pgd_correct``) and the first iterate that fooled each point.

    An attack that does not report its iterates (no ``observe`` argument) is checked at its result only: a point
    it fools fails at the whole budget of ``steps``, after the passes the attack was counted to spend per point.

    ``losses`` (a CPU tensor of n floats), when given, is filled with each point's cross-entropy at the attack's
    final iterate (the logits of the final check).

    Returns:
        ``(robust, trace)``: robust is True where both the clean point and the attack's final iterate are
        classified correctly (the evaluation's ``pgd`` accuracy); trace has one entry per point, config
        ``<attack>-<steps>`` (``pgd-<steps>``).
    """
    device = torch.device(device) if device is not None else _device_of(model)
    craft = create_attack(attack, model, norm=norm, eps=eps, steps=steps, step_size=step_size,
                          random_start=random_start)
    observes = _observes(craft)
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    data = as_eval_set(x, y)
    robust = torch.empty(data.n, dtype=torch.bool)
    trace = Trace(f"{attack}-{steps}")
    start = 0
    for xb, yb in data.batches(batch_size):
        xb, yb = xb.to(device), yb.to(device)
        n = xb.shape[0]
        first = torch.full((n,), -1, dtype=torch.long)
        when = torch.zeros(n, dtype=torch.float64)
        _sync(device)
        t0 = time.perf_counter()

        def observe(i: int, logits: torch.Tensor) -> None:
            fooled = logits.argmax(1).ne(yb).cpu()  # synchronises the device
            elapsed = time.perf_counter() - t0
            new = fooled & first.eq(-1)
            first[new] = i
            when[new] = elapsed / n

        forwards = backwards = 0.0  # per point, counted for an attack that does not report its iterates
        if observes:  # one forward and one backward per step: iterate i costs i + 1 forwards and i backwards
            x_adv = craft(xb, yb, generator=generator, observe=observe)
        else:
            with PassCounter(model) as counter:
                x_adv = craft(xb, yb, generator=generator)
            forwards, backwards = counter.forward_rows / n, counter.backward_rows / n
        with torch.no_grad():
            logits = final_logits(model(x_adv))
            observe(steps, logits)
            total = (time.perf_counter() - t0) / n
            clean_dev = final_logits(model(xb)).argmax(1).eq(yb)
            ok = logits.argmax(1).eq(yb) & clean_dev
            clean = clean_dev.cpu()
            if losses is not None:
                losses[start:start + n] = point_losses(logits, yb)
        robust[start:start + n] = ok.cpu()
        start += n
        for j in range(n):
            failed = int(first[j]) >= 0
            if not bool(clean[j]):
                trace.add(False, True, None, 0.0, 0, 0.0, 0.0, backward_passes=0.0)
            elif failed and observes:
                i = int(first[j])
                trace.add(True, True, attack, float(when[j]), i, float(i + 1), float(eps), backward_passes=float(i))
            elif observes:
                trace.add(True, False, None, total, steps, float(steps + 1), float(eps), backward_passes=float(steps))
            else:  # checked at the end only: the counted passes and the final check
                trace.add(True, failed, attack if failed else None, float(when[j]) if failed else total, steps,
                          forwards + 1.0, float(eps), backward_passes=backwards)
    return robust, trace


def fgm_min_eps(model: torch.nn.Module, x, y: Optional[torch.Tensor] = None, *, norm: str, eps_max: float,
                steps: int, batch_size: int,
                device: Optional[Union[str, torch.device]] = None) -> Tuple[torch.Tensor, Trace]:
    """Minimal-eps FGM: the least eps = k * eps_max / steps (k = 1..steps) whose FGM step flips the prediction.

    One forward-backward pass at the clean point gives the direction; each eps level costs one forward pass on
    the points not yet broken. Returns ``(robust, trace)``: robust where no level up to eps_max flipped a
    correctly classified point; the trace's ``eps`` is the eps at failure (or eps_max, censored).
    """
    device = torch.device(device) if device is not None else _device_of(model)
    data = as_eval_set(x, y)
    robust = torch.empty(data.n, dtype=torch.bool)
    trace = Trace("fgm-min-eps")
    start = 0
    with eval_mode(model):
        for xb, yb in data.batches(batch_size):
            xb, yb = xb.to(device), yb.to(device)
            n = xb.shape[0]
            _sync(device)
            t0 = time.perf_counter()
            with torch.no_grad():
                clean = final_logits(model(xb)).argmax(1).eq(yb)
            direction = fgm_direction(model, xb, yb, norm)
            level = torch.zeros(n, dtype=torch.long)  # 0: not broken
            when = torch.zeros(n, dtype=torch.float64)
            forwards = torch.zeros(n, dtype=torch.float64)
            alive = clean.cpu().clone()
            for k in range(1, steps + 1):
                idx = torch.nonzero(alive).reshape(-1)
                if idx.numel() == 0:
                    break
                eps_k = eps_max * k / steps
                with torch.no_grad():
                    x_k = (xb[idx.to(device)] + eps_k * direction[idx.to(device)]).clamp(0.0, 1.0)
                    fooled = final_logits(model(x_k)).argmax(1).ne(yb[idx.to(device)]).cpu()
                elapsed = time.perf_counter() - t0
                forwards[idx] += 1
                hit = idx[fooled]
                level[hit] = k
                when[hit] = elapsed / n
                alive[hit] = False
            total = (time.perf_counter() - t0) / n
            clean = clean.cpu()
            robust[start:start + n] = clean & level.eq(0)
            start += n
            for j in range(n):
                if not bool(clean[j]):
                    trace.add(False, True, None, 0.0, 0, 0.0, 0.0, backward_passes=0.0)
                elif int(level[j]) > 0:
                    k = int(level[j])
                    trace.add(True, True, "fgm", float(when[j]), k, 2.0 + float(forwards[j]),
                              eps_max * k / steps, backward_passes=1.0)
                else:
                    trace.add(True, False, None, total, steps, 2.0 + float(forwards[j]), float(eps_max),
                              backward_passes=1.0)
    return robust, trace


def survival_frame(run_id: str, which: str, traces: Iterable[Trace]):
    """One row per point and attack configuration (columns :data:`COLUMNS`), as a pandas DataFrame."""
    import pandas as pd  # pandas deferred: only writing the table needs it

    frames = []
    for trace in traces:
        n = len(trace)
        frames.append(pd.DataFrame({
            "run_id": [run_id] * n, "which": [which] * n, "config": [trace.config] * n,
            "point": list(range(n)), "clean_correct": trace.clean_correct, "event": trace.event,
            "attack": trace.attack, "seconds": trace.seconds, "iterations": trace.iterations,
            "forward_passes": trace.forward_passes, "backward_passes": trace.backward_passes, "eps": trace.eps,
        }, columns=list(COLUMNS)))
    if not frames:
        return pd.DataFrame({c: [] for c in COLUMNS})
    return pd.concat(frames, ignore_index=True)


def write_survival(path: str, frame) -> str:
    """Write the survival table as Parquet, atomically (temp file + rename)."""
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    return path
