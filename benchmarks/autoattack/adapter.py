"""AutoAttack behind one adapter, resumable at batch granularity.

Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
attacks", ICML 2020 (https://arxiv.org/abs/2003.01690), through ``pyautoattack`` (the upstream fra31 code).

:class:`AutoAttackAdapter` configures the attacks with pyautoattack's own ``AutoAttack`` (versions standard,
plus, rand, or a custom list) and drives the same loop as ``AutoAttack.run_standard_evaluation``: the sanity
checks, a clean pass, then each attack on the points still robust, in batches, in the same order and with the
same seeds, so the robust accuracy is identical to calling pyautoattack directly. After each batch the
adapter commits the robust flags and the batch count to an :class:`~.state.AutoAttackState`, written atomically
at most every ``save_every_s`` seconds and after every attack, so an evaluation killed at any point continues
where it was on the next call and ends with the uninterrupted answer (:class:`~.result.AutoAttackResult`).

Used by the final evaluation (:mod:`benchmarks.evaluation`) and the inference benchmark
(:mod:`benchmarks.inference`), below both.
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from pyautoattack import AutoAttack, checks
from pyautoattack import __version__ as PYAUTOATTACK_VERSION

from recipes import AUTOATTACK_VERSIONS, catalog

from ..datasets.evalset import EvalSet, as_eval_set, tensor_digest
from ..interruption import EvaluationInterrupted, SignalGuard
from ..measurement.passes import PassCounter
from ..measurement.trace import Trace
from ..measurement.window import add_energy, measure
from ..models.outputs import FinalLogits
from .probes import WarningCollector, fire, interrupt_hook, sync
from .result import AutoAttackResult, PerturbationError, wilson_interval
from .state import AttackProgress, AutoAttackState, flags_from_text, flags_to_text

__all__ = ["EPS_TOLERANCE", "NORMS", "SAVE_EVERY_S", "VERSIONS", "AutoAttackAdapter", "model_digest",
           "run_autoattack"]

logger = logging.getLogger("robustperf.evaluation")

#: The threat models the adapter runs, with AutoAttack's name of each (:data:`recipes.catalog.NORMS`).
NORMS = {norm: catalog.NORMS[norm] for norm in ("linf", "l2")}
#: AutoAttack versions: the recipe schema's vocabulary (tests/test_vocabulary.py checks pyautoattack has them).
VERSIONS = AUTOATTACK_VERSIONS
#: Default seconds between state writes inside an attack (always written after each attack). A write costs a
#: few ms (fsync); an attack batch on a large model costs seconds to minutes.
SAVE_EVERY_S = 10.0
#: Slack on the ``norm <= eps`` check: float32 rounding of the projection.
EPS_TOLERANCE = 1e-5


def _point_losses(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each point's cross-entropy of ``logits`` in float32, on the CPU (as float64 for the mean)."""
    return torch.nn.functional.cross_entropy(logits.float(), y, reduction="none").cpu().double()


def model_digest(model: torch.nn.Module) -> str:
    """Hash of the model's weights and buffers: a state made for other weights is stale."""
    return tensor_digest(list(model.state_dict().values()))


def _fraction(flags: torch.Tensor) -> float:
    # count / n in double precision, as upstream computes its accuracies (a float32 mean is off in digit 8).
    return int(flags.sum()) / flags.numel()


class AutoAttackAdapter:
    """pyautoattack, configured from the recipe, run resumably.

    Args:
        model: classifier in eval mode taking inputs in [0, 1] and returning logits.
        eps: perturbation budget.
        norm: ``linf`` or ``l2`` (the recipe's spelling).
        version: ``standard``, ``plus``, ``rand``, or a list of attacks (run as pyautoattack's ``custom``).
        seed: seed of every attack (pyautoattack re-seeds at each batch).
        batch_size: attack batch size (part of the answer: batches share a random start).
        device: where the model runs; default: the device of its first parameter.

    Raises:
        ValueError: unknown norm or version.
    """

    def __init__(self, model: torch.nn.Module, *, eps: float, norm: str = "linf",
                 version: Union[str, Sequence[str]] = "standard", seed: int = 0, batch_size: int = 500,
                 device: Optional[Union[str, torch.device]] = None):
        if norm not in NORMS:
            raise ValueError(f"norm {norm!r} is not supported; expected one of {', '.join(NORMS)}")
        if device is None:
            first = next(model.parameters(), None)
            device = first.device if first is not None else torch.device("cpu")
        self.model = model
        # AutoAttack sees the final logits of a multi-exit model (the digest still names the model itself).
        model = self.attacked = FinalLogits(model)
        self.eps = float(eps)
        self.norm = norm
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.device = device
        if isinstance(version, str):
            if version not in VERSIONS:
                raise ValueError(f"AutoAttack version {version!r} is unknown; expected one of {', '.join(VERSIONS)} "
                                 "or a list of attacks")
            self.aa = AutoAttack(model, eps=self.eps, norm=NORMS[norm], version=version, seed=self.seed,
                                 device=device)
        else:
            self.aa = AutoAttack(model, eps=self.eps, norm=NORMS[norm], version="custom", attacks=list(version),
                                 seed=self.seed, device=device)
        self.version = self.aa.version
        self.attacks: List[str] = list(self.aa.attacks_to_run)
        self.examples: Optional[torch.Tensor] = None

    # ------------------------------------------------------------ the attacks, exactly as upstream calls them

    def _configure(self, attack: str) -> None:
        """Set the attack object up as ``run_standard_evaluation`` does before each batch (settings persist,
        e.g. fab-t leaves FAB at one restart, so on resume they are replayed for the attacks already done)."""
        aa = self.aa
        if attack in ("apgd-ce", "apgd-dlr"):
            aa.apgd.loss = "ce" if attack == "apgd-ce" else "dlr"
            aa.apgd.seed = aa.get_seed()
        elif attack == "fab":
            aa.fab.targeted = False
            aa.fab.seed = aa.get_seed()
        elif attack == "fab-t":
            aa.fab.targeted = True
            aa.fab.n_restarts = 1
            aa.fab.seed = aa.get_seed()
        elif attack == "square":
            aa.square.seed = aa.get_seed()
        elif attack == "apgd-t":
            aa.apgd_targeted.seed = aa.get_seed()
        else:
            raise ValueError(f"attack {attack!r} is not supported")

    def _perturb(self, attack: str, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        aa = self.aa
        if attack in ("apgd-ce", "apgd-dlr"):
            return aa.apgd.perturb(x, y)
        if attack in ("fab", "fab-t"):
            return aa.fab.perturb(x, y)
        if attack == "square":
            return aa.square.perturb(x, y)
        return aa.apgd_targeted.perturb(x, y)

    def _checks(self, data: EvalSet) -> None:
        aa, bs = self.aa, self.batch_size
        xb, yb = next(data.batches(bs, indices=range(min(bs, data.n))))
        xb, yb = xb.to(self.device), yb.to(self.device)
        if self.version != "rand":
            checks.check_randomized(aa.get_logits, xb, yb, bs=bs, logger=aa.logger)
        n_cls = checks.check_range_output(aa.get_logits, xb, logger=aa.logger)
        checks.check_dynamic(self.attacked, xb, False, logger=aa.logger)
        checks.check_n_classes(n_cls, self.attacks, aa.apgd_targeted.n_target_classes, aa.fab.n_target_classes,
                               logger=aa.logger)

    def _norms(self, delta: torch.Tensor) -> torch.Tensor:
        flat = delta.reshape(delta.shape[0], -1)
        return flat.abs().max(1)[0] if self.norm == "linf" else flat.pow(2).sum(-1).sqrt()

    # ------------------------------------------------------------ the resumable loop

    def fingerprint(self, x, y: Optional[torch.Tensor] = None) -> Dict[str, Any]:
        data = as_eval_set(x, y)
        return {"model": model_digest(self.model), "data": data.digest(), "n": int(data.n),
                "version": self.version, "attacks": self.attacks, "eps": self.eps, "norm": self.norm,
                "seed": self.seed, "batch_size": self.batch_size, "pyautoattack": PYAUTOATTACK_VERSION}

    def run(self, x, y: Optional[torch.Tensor] = None, *, state_path: Optional[str] = None, meter: Any = None,
            save_every_s: float = SAVE_EVERY_S, fresh: bool = False, keep_examples: bool = False) -> AutoAttackResult:
        """Evaluate on ``x``, continuing from ``state_path`` when it holds this evaluation's state.

        Args:
            x, y: the points, e.g. the first ``autoattack_n`` test points: an :class:`benchmarks.datasets.EvalSet`
                (``y`` None), read batch by batch (the clean pass in order, each attack over the points still
                robust when it started, in index order, from its first unfinished batch), or images in [0, 1]
                with labels ``y``. Only one attack batch (plus the set's batches in flight) is in memory at once.
            state_path: state file; None keeps the state in memory only (not resumable).
            meter: energy meter with ``window(name)``; its "attack" window covers this call.
            save_every_s: least seconds between state writes inside an attack.
            fresh: ignore an existing state.
            keep_examples: also return the adversarial examples (``AutoAttackResult.examples``, on the CPU, one
                per point: n x C x H x W floats); they are not part of the state, so the attack then runs from
                the start in this call.

        Raises:
            EvaluationInterrupted: SIGTERM or SIGUSR1 arrived; the state is saved, a rerun continues.
            PerturbationError: an adversarial example lies outside the eps-ball.
        """
        data = as_eval_set(x, y)
        fingerprint = self.fingerprint(data)
        fresh = fresh or keep_examples
        self.examples = torch.empty((data.n, *data.shape)) if keep_examples else None  # filled by the clean pass
        state = None if (fresh or state_path is None) else AutoAttackState.load(state_path, fingerprint)
        if state is None:
            if state_path is not None and os.path.exists(state_path):
                logger.info("AutoAttack state %s is for another evaluation (or --fresh): starting over", state_path)
            state = AutoAttackState(fingerprint)
        elif not state.finished:
            logger.info("AutoAttack: resuming from %s (%s done)", state_path,
                        ", ".join(d["name"] for d in state.done) or "clean pass")
        fresh_work = not state.finished
        if fresh_work:
            self._run_session(state, data, state_path, meter, save_every_s)
        result = self._result(state, fresh_work)
        result.examples, self.examples = self.examples, None
        return result

    def _run_session(self, state: AutoAttackState, data: EvalSet, state_path, meter, save_every_s) -> None:
        collector = WarningCollector(self._warn(state))
        self.aa.logger.addHandler(collector)
        self._last_save = time.monotonic()
        state.sessions += 1
        hook = interrupt_hook()
        try:
            span = None
            with SignalGuard() as guard, measure(meter, "attack") as span:
                self._loop(state, data, guard, state_path, save_every_s, hook)
        except EvaluationInterrupted as err:
            self._close_session(state, span, state_path)
            err.state_path = state_path
            raise
        except BaseException:
            # KeyboardInterrupt, an OOM, ...: keep what is committed so a rerun loses as little as possible.
            self._close_session(state, span, state_path)
            raise
        finally:
            self.aa.logger.removeHandler(collector)
        self._close_session(state, span, state_path)

    def _close_session(self, state: AutoAttackState, span, state_path) -> None:
        if span is not None:
            state.seconds += span.seconds
            state.energy_j = add_energy(state.energy_j, span.energy_j)
        if state_path is not None:
            state.save(state_path)

    @staticmethod
    def _saver(state: AutoAttackState, state_path: Optional[str]):
        return (lambda: state.save(state_path)) if state_path is not None else None

    @staticmethod
    def _warn(state: AutoAttackState):
        def sink(message: str) -> None:
            if message not in state.warnings:
                logger.warning("AutoAttack: %s", message)
            state.add_warning(message)
        return sink

    def _commit_save(self, state, state_path, save_every_s, force=False) -> None:
        if state_path is not None and (force or time.monotonic() - self._last_save >= save_every_s):
            state.save(state_path)
            self._last_save = time.monotonic()

    def _loop(self, state: AutoAttackState, data: EvalSet, guard: SignalGuard, state_path, save_every_s,
              hook) -> None:
        bs, n = self.batch_size, data.n
        self._checks(data)
        with torch.no_grad():
            if state.robust_flags is None:  # always with keep_examples (a fresh start), which fills examples here
                flags = torch.zeros(n, dtype=torch.bool)
                losses = torch.zeros(n, dtype=torch.float64)
                start = 0
                for xb, yb in data.batches(bs):
                    if self.examples is not None:
                        self.examples[start:start + xb.shape[0]] = xb.to(self.examples.dtype)
                    xb, yb = xb.clone().to(self.device), yb.clone().to(self.device)
                    logits = self.aa.get_logits(xb)
                    flags[start:start + xb.shape[0]] = yb.eq(logits.max(dim=1)[1]).cpu()
                    losses[start:start + xb.shape[0]] = _point_losses(logits, yb)
                    start += xb.shape[0]
                with guard.critical():
                    state.point_loss = losses.tolist()
                    state.clean_flags = state.robust_flags = flags_to_text(flags)
                    state.point_seconds, state.point_forwards, state.broken_by = [0.0] * n, [0.0] * n, [None] * n
                    state.point_backwards = [0.0] * n
                    self._commit_save(state, state_path, save_every_s, force=True)
                logger.info("AutoAttack: clean accuracy %.2f%% on %d points", 100.0 * _fraction(flags), n)
                fire(hook, "clean", 0, self._saver(state, state_path))
            robust = flags_from_text(state.robust_flags)
            if state.point_seconds is None:  # a state written before survival data was kept
                state.point_seconds, state.point_forwards, state.broken_by = [0.0] * n, [0.0] * n, [None] * n
            if state.point_backwards is None:  # written before backward passes were counted: unknown if any ran
                started = bool(state.done) or state.current is not None
                state.point_backwards = [None if started else 0.0] * n
            done = {d["name"] for d in state.done}
            for attack in self.attacks:
                self._configure(attack)
                if attack in done:
                    continue
                if state.current is None or state.current.name != attack:
                    if not bool(robust.any()):
                        # As upstream: with no robust point left the remaining attacks are skipped.
                        with guard.critical():
                            state.done.append({"name": attack, "accuracy": 0.0, "skipped": True})
                        continue
                    with guard.critical():
                        state.current = AttackProgress(attack, flags_to_text(robust))
                idx = torch.nonzero(flags_from_text(state.current.start_flags)).reshape(-1)
                first, n_batches = state.current.batches_done, -(-idx.numel() // bs)
                # the attacked points, read in batches from the first unfinished one (streamed for folder data)
                stream = data.batches(bs, indices=idx[first * bs:])
                for b, (xb, yb) in zip(range(first, n_batches), stream):
                    self._configure(attack)
                    bidx = idx[b * bs:(b + 1) * bs]
                    xb, yb = xb.clone().to(self.device), yb.clone().to(self.device)
                    with PassCounter(self.model) as counter:
                        sync(self.device)
                        t0 = time.perf_counter()
                        adv = self._perturb(attack, xb, yb)
                        adv_logits = self.aa.get_logits(adv)
                        fooled = ~yb.eq(adv_logits.max(dim=1)[1])
                        fooled_cpu = fooled.cpu()  # synchronises the device
                        per_point = (time.perf_counter() - t0) / bidx.numel()
                    adv_loss = _point_losses(adv_logits, yb)
                    forwards = counter.forward_rows / bidx.numel()
                    backwards = counter.backward_rows / bidx.numel()
                    largest = float(self._norms(adv[fooled] - xb[fooled]).max()) if bool(fooled.any()) else 0.0
                    if not largest <= self.eps + EPS_TOLERANCE:
                        raise PerturbationError(f"{attack} returned a {self.norm} perturbation of {largest:.6g} > "
                                                f"eps {self.eps:.6g}")
                    if self.examples is not None:
                        self.examples[bidx[fooled.to(bidx.device)].to(self.examples.device)] = \
                            adv[fooled].to(self.examples.device, self.examples.dtype)
                    with guard.critical():
                        robust[bidx[fooled.to(robust.device)]] = False
                        for j, point in enumerate(bidx.tolist()):
                            state.point_seconds[point] += per_point
                            state.point_forwards[point] += forwards
                            if state.point_backwards[point] is not None:
                                state.point_backwards[point] += backwards
                            if bool(fooled_cpu[j]):
                                state.broken_by[point] = attack
                                if state.point_loss is not None:
                                    state.point_loss[point] = float(adv_loss[j])
                        state.robust_flags = flags_to_text(robust)
                        state.current.batches_done = b + 1
                        state.max_perturbation = max(state.max_perturbation, largest)
                        self._commit_save(state, state_path, save_every_s)
                    logger.debug("AutoAttack: %s batch %d/%d: %d of %d fooled", attack, b + 1, n_batches,
                                 int(fooled.sum()), bidx.numel())
                    fire(hook, attack, b + 1, self._saver(state, state_path))
                accuracy = int(robust.sum()) / n
                with guard.critical():
                    state.done.append({"name": attack, "accuracy": accuracy})
                    state.current = None
                    self._commit_save(state, state_path, save_every_s, force=True)
                logger.info("AutoAttack: robust accuracy after %s: %.2f%%", attack, 100.0 * accuracy)
            with guard.critical():
                checks.check_square_sr(self._accuracy_dict(state), logger=self.aa.logger)
                state.finished = True

    @staticmethod
    def _accuracy_dict(state: AutoAttackState) -> Dict[str, float]:
        clean = _fraction(flags_from_text(state.clean_flags))
        return {"clean": clean, **{d["name"]: d["accuracy"] for d in state.done if not d.get("skipped")}}

    def _result(self, state: AutoAttackState, fresh_work: bool) -> AutoAttackResult:
        robust = flags_from_text(state.robust_flags)
        n, count = robust.numel(), int(robust.sum())
        per_attack = {"clean": _fraction(flags_from_text(state.clean_flags))}
        per_attack.update({d["name"]: d["accuracy"] for d in state.done})
        return AutoAttackResult(
            n=n, clean_accuracy=per_attack["clean"], robust_accuracy=count / n, robust_count=count,
            ci=wilson_interval(count, n), per_attack=per_attack, max_perturbation=state.max_perturbation,
            warnings=list(state.warnings), seconds=state.seconds, energy_j=state.energy_j, version=self.version,
            attacks=list(self.attacks), sessions=state.sessions, fresh_work=fresh_work,
            robust_flags=robust, trace=self._trace(state),
            loss=sum(state.point_loss) / n if state.point_loss is not None and n else None)

    def _trace(self, state: AutoAttackState) -> Trace:
        trace = Trace(f"autoattack-{self.version}")
        clean = flags_from_text(state.clean_flags).tolist()
        seconds = state.point_seconds or [0.0] * len(clean)
        forwards = state.point_forwards or [0.0] * len(clean)
        backwards = state.point_backwards or [None] * len(clean)
        broken = state.broken_by or [None] * len(clean)
        ran = [d["name"] for d in state.done if not d.get("skipped")]
        for i, ok in enumerate(clean):
            back = math.nan if backwards[i] is None else backwards[i]
            if not ok:
                trace.add(False, True, None, 0.0, 0, 0.0, 0.0, backward_passes=0.0)
            elif broken[i] is not None:
                trace.add(True, True, broken[i], seconds[i], ran.index(broken[i]) + 1 if broken[i] in ran
                          else len(ran), forwards[i], self.eps, backward_passes=back)
            else:
                trace.add(True, False, None, seconds[i], len(ran), forwards[i], self.eps, backward_passes=back)
        return trace


def run_autoattack(model: torch.nn.Module, x, y: Optional[torch.Tensor] = None, *, eps: float, norm: str = "linf",
                   version: Union[str, Sequence[str]] = "standard", seed: int = 0, batch_size: int = 500,
                   device: Optional[Union[str, torch.device]] = None, state_path: Optional[str] = None,
                   meter: Any = None, save_every_s: float = SAVE_EVERY_S, fresh: bool = False,
                   keep_examples: bool = False) -> AutoAttackResult:
    """AutoAttack robust accuracy of ``model`` on ``x`` (an EvalSet, or images with labels ``y``); see
    :class:`AutoAttackAdapter` and its ``run``."""
    adapter = AutoAttackAdapter(model, eps=eps, norm=norm, version=version, seed=seed, batch_size=batch_size,
                                device=device)
    return adapter.run(x, y, state_path=state_path, meter=meter, save_every_s=save_every_s, fresh=fresh,
                       keep_examples=keep_examples)
