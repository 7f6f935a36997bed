"""AutoAttack behind one adapter, resumable at batch granularity.

Croce & Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse parameter-free
attacks", ICML 2020 (https://arxiv.org/abs/2003.01690), through ``pyautoattack`` (the upstream fra31 code).

:class:`AutoAttackAdapter` configures the attacks with pyautoattack's own ``AutoAttack`` (versions standard,
plus, rand, or a custom list) and drives the same loop as ``AutoAttack.run_standard_evaluation``: the sanity
checks, a clean pass, then each attack on the points still robust, in batches, in the same order and with the
same seeds, so the robust accuracy is identical to calling pyautoattack directly. After each batch the
adapter commits the robust flags and the batch count to an :class:`AutoAttackState`, written atomically at
most every ``save_every_s`` seconds and after every attack, so an evaluation killed at any point continues
where it was on the next call and ends with the uninterrupted answer.

Robust accuracy is the pointwise worst case over the attacks (a point counts as robust only if no attack
fooled the model on it). Its 95 % confidence interval is the Wilson score interval
(``statsmodels.stats.proportion.proportion_confint(method="wilson")``), which keeps its coverage near 0 % and
100 % accuracy where the normal approximation does not.
"""
from __future__ import annotations

import logging
import os
import signal
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from recipes import AUTOATTACK_VERSIONS

from ..eval_data import EvalSet, as_eval_set, tensor_digest
from ..interruption import TEST_INTERRUPT_ENV, TestInterrupt
from ._meter import add_energy, measure
from ._signals import EvaluationInterrupted, SignalGuard
from ._state import AttackProgress, AutoAttackState, flags_from_text, flags_to_text

logger = logging.getLogger("robustperf.evaluation")

#: Recipe norm -> pyautoattack norm.
NORMS = {"linf": "Linf", "l2": "L2"}
#: AutoAttack versions: the recipe schema's vocabulary (tests/test_vocabulary.py checks pyautoattack has them).
VERSIONS = AUTOATTACK_VERSIONS
#: Default seconds between state writes inside an attack (always written after each attack). A write costs a
#: few ms (fsync); an attack batch on a large model costs seconds to minutes.
SAVE_EVERY_S = 10.0
#: Slack on the ``norm <= eps`` check: float32 rounding of the projection.
EPS_TOLERANCE = 1e-5
CI_METHOD = "wilson"


class PerturbationError(RuntimeError):
    """An attack returned a point outside the eps-ball: the reported robustness would be wrong."""


@dataclass
class AutoAttackResult:
    """Outcome of an AutoAttack evaluation. Accuracies are fractions in [0, 1].

    Attributes:
        n: points evaluated (the first n of the test set).
        clean_accuracy / robust_accuracy: on those n points; robust is the pointwise worst case.
        robust_count: points no attack fooled.
        ci: 95 % Wilson interval of the robust accuracy.
        per_attack: accuracy after the clean pass and after each attack, in order.
        max_perturbation: largest norm (the recipe's) of a successful adversarial example; 0 if none.
        warnings: pyautoattack's sanity warnings and the adapter's own.
        seconds / energy_j: wall time and energy of the attack, summed over sessions; energy None if unmeasured.
        version / attacks: what ran.  sessions: processes that worked on it (1 when never interrupted).
        fresh_work: this call attacked (False when it only read a finished state).
        robust_flags: per point, True when no attack fooled the model.
        trace: per-point survival data (:class:`benchmarks.evaluation.survival.Trace`, config
            ``autoattack-<version>``): the cumulative attack time and model evaluations until the attack that
            first fooled the point, or over all attacks (censored).
        examples: with ``run(keep_examples=True)``, the adversarial example of each point that an attack fooled
            the model on and the clean point elsewhere (what ``run_standard_evaluation`` returns); else None.
    """

    n: int
    clean_accuracy: float
    robust_accuracy: float
    robust_count: int
    ci: Tuple[float, float]
    per_attack: Dict[str, float]
    max_perturbation: float
    warnings: List[str]
    seconds: float
    energy_j: Optional[float]
    version: str
    attacks: List[str]
    sessions: int
    fresh_work: bool
    robust_flags: torch.Tensor = field(repr=False)
    trace: Any = field(default=None, repr=False)
    examples: Optional[torch.Tensor] = field(default=None, repr=False)


def wilson_interval(count: int, n: int, alpha: float = 0.05) -> Tuple[float, float]:
    """Two-sided ``1 - alpha`` Wilson score interval of ``count / n``, as fractions."""
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(count, n, alpha=alpha, method=CI_METHOD)
    return float(lo), float(hi)




def model_digest(model: torch.nn.Module) -> str:
    return tensor_digest(list(model.state_dict().values()))


class _WarningCollector(logging.Handler):
    """Collects pyautoattack's sanity warnings (logged at WARNING on the "auto-attack" logger)."""

    def __init__(self, sink):
        super().__init__(level=logging.WARNING)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink(record.getMessage())


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
        from pyautoattack import AutoAttack

        if norm not in NORMS:
            raise ValueError(f"norm {norm!r} is not supported; expected one of {', '.join(NORMS)}")
        if device is None:
            first = next(model.parameters(), None)
            device = first.device if first is not None else torch.device("cpu")
        from ..models import FinalLogits

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
        from pyautoattack import checks

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
        from pyautoattack import __version__

        data = as_eval_set(x, y)
        return {"model": model_digest(self.model), "data": data.digest(), "n": int(data.n),
                "version": self.version, "attacks": self.attacks, "eps": self.eps, "norm": self.norm,
                "seed": self.seed, "batch_size": self.batch_size, "pyautoattack": __version__}

    def run(self, x, y: Optional[torch.Tensor] = None, *, state_path: Optional[str] = None, meter: Any = None,
            save_every_s: float = SAVE_EVERY_S, fresh: bool = False, keep_examples: bool = False) -> AutoAttackResult:
        """Evaluate on ``x``, continuing from ``state_path`` when it holds this evaluation's state.

        Args:
            x, y: the points, e.g. the first ``autoattack_n`` test points: an :class:`benchmarks.eval_data.EvalSet`
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
        collector = _WarningCollector(self._warn(state))
        self.aa.logger.addHandler(collector)
        self._last_save = time.monotonic()
        state.sessions += 1
        hook = _parse_hook(os.environ.get(TEST_INTERRUPT_ENV))
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
                start = 0
                for xb, yb in data.batches(bs):
                    if self.examples is not None:
                        self.examples[start:start + xb.shape[0]] = xb.to(self.examples.dtype)
                    xb, yb = xb.clone().to(self.device), yb.clone().to(self.device)
                    flags[start:start + xb.shape[0]] = yb.eq(self.aa.get_logits(xb).max(dim=1)[1]).cpu()
                    start += xb.shape[0]
                with guard.critical():
                    state.clean_flags = state.robust_flags = flags_to_text(flags)
                    state.point_seconds, state.point_forwards, state.broken_by = [0.0] * n, [0.0] * n, [None] * n
                    self._commit_save(state, state_path, save_every_s, force=True)
                logger.info("AutoAttack: clean accuracy %.2f%% on %d points", 100.0 * _fraction(flags), n)
                _fire(hook, "clean", 0, state, state_path)
            robust = flags_from_text(state.robust_flags)
            if state.point_seconds is None:  # a state written before survival data was kept
                state.point_seconds, state.point_forwards, state.broken_by = [0.0] * n, [0.0] * n, [None] * n
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
                    with _ForwardCounter(self.model) as counter:
                        _sync(self.device)
                        t0 = time.perf_counter()
                        adv = self._perturb(attack, xb, yb)
                        fooled = ~yb.eq(self.aa.get_logits(adv).max(dim=1)[1])
                        fooled_cpu = fooled.cpu()  # synchronises the device
                        per_point = (time.perf_counter() - t0) / bidx.numel()
                    forwards = counter.rows / bidx.numel()
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
                            if bool(fooled_cpu[j]):
                                state.broken_by[point] = attack
                        state.robust_flags = flags_to_text(robust)
                        state.current.batches_done = b + 1
                        state.max_perturbation = max(state.max_perturbation, largest)
                        self._commit_save(state, state_path, save_every_s)
                    logger.debug("AutoAttack: %s batch %d/%d: %d of %d fooled", attack, b + 1, n_batches,
                                 int(fooled.sum()), bidx.numel())
                    _fire(hook, attack, b + 1, state, state_path)
                accuracy = int(robust.sum()) / n
                with guard.critical():
                    state.done.append({"name": attack, "accuracy": accuracy})
                    state.current = None
                    self._commit_save(state, state_path, save_every_s, force=True)
                logger.info("AutoAttack: robust accuracy after %s: %.2f%%", attack, 100.0 * accuracy)
            from pyautoattack import checks

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
            robust_flags=robust, trace=self._trace(state))

    def _trace(self, state: AutoAttackState):
        from .survival import Trace, _append

        trace = Trace(f"autoattack-{self.version}")
        clean = flags_from_text(state.clean_flags).tolist()
        seconds = state.point_seconds or [0.0] * len(clean)
        forwards = state.point_forwards or [0.0] * len(clean)
        broken = state.broken_by or [None] * len(clean)
        ran = [d["name"] for d in state.done if not d.get("skipped")]
        for i, ok in enumerate(clean):
            if not ok:
                _append(trace, False, True, None, 0.0, 0, 0.0, 0.0)
            elif broken[i] is not None:
                _append(trace, True, True, broken[i], seconds[i], ran.index(broken[i]) + 1 if broken[i] in ran
                        else len(ran), forwards[i], self.eps)
            else:
                _append(trace, True, False, None, seconds[i], len(ran), forwards[i], self.eps)
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


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


class _ForwardCounter:
    """Counts the rows passed through ``model`` while active (the model evaluations an attack spends)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.rows = 0
        self._handle = None

    def _hook(self, module, inputs, output) -> None:
        if inputs and torch.is_tensor(inputs[0]):
            self.rows += int(inputs[0].shape[0])

    def __enter__(self) -> "_ForwardCounter":
        self._handle = self.model.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc) -> None:
        self._handle.remove()


def _fraction(flags: torch.Tensor) -> float:
    # count / n in double precision, as upstream computes its accuracies (a float32 mean is off in digit 8).
    return int(flags.sum()) / flags.numel()


def _parse_hook(text: Optional[str]):
    hook = TestInterrupt(text, TEST_INTERRUPT_ENV)
    return hook if hook.point else None


def _fire(hook, attack: str, batches: int, state: AutoAttackState, state_path: Optional[str]) -> None:
    # the hook counts the batches of ``attack`` itself; ``batches`` is the attack's own count (1, 2, ...)
    if hook is not None and hook.point == attack and batches == hook.count:
        hook.seen = hook.count - 1
        hook(attack, before=(lambda: state.save(state_path)) if state_path is not None else None)