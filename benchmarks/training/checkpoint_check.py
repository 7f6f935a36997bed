"""Validate a checkpoint against the run that is to use it, before any of it is used.

``torch.load(weights_only=True)`` guarantees that loading runs no code, not that the result fits: a checkpoint
copied from another run, edited by hand or written by a buggy tool loads fine and then fails deep inside
``load_state_dict``, ``random.setstate`` or the optimizer's first step, with a traceback and half of the state
already changed. Here every entry is checked first (types, dtypes, shapes, ranges and keys, against the run's
own model, optimizer, schedule, scaler and RNG states as built; optimizer settings, the schedule and RNG states
are also tried on scratch copies, whose own checks judge them), and the first problem is reported as one
:class:`CheckpointMismatch` naming the entry (``model['block1.0.conv1.weight']``, ``rng[0]['torch']``) and what
was expected; the callers turn it into :class:`~benchmarks.training.checkpoint.DamagedCheckpointError` (exit 2,
the file, the ``--restart`` remedy).

* :func:`check_training_state`: a ``checkpoint-last.pt`` for a :class:`~benchmarks.training.Trainer`;
* :func:`check_spec` and :func:`check_checkpoint_weights`: a checkpoint's ``model_spec`` against the run's (the
  model the run's config and data describe) and its weights against that model (``robustperf evaluate``,
  ``infer``, ``--restart``: :mod:`benchmarks._loading`);
* :func:`check_weights`, :func:`check_optimizer`, :func:`check_like`: the pieces.
"""
from __future__ import annotations

import copy
import inspect
import math
import numbers
import random
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .checkpoint import CHECKPOINT_FORMAT

__all__ = ["CheckpointMismatch", "built", "check_checkpoint_weights", "check_like", "check_optimizer", "check_spec",
           "check_training_state", "check_weights", "describe"]

#: model_spec keys that make the model what it is (the rest, mean/std/image_size, are compared as data)
SPEC_KEYS = ("name", "arch", "family", "depth", "width", "activation", "drop_rate", "input_size", "params",
             "num_classes", "in_chans", "image_size", "mean", "std")


class CheckpointMismatch(ValueError):
    """An entry of a checkpoint that does not fit the run (``where``: the entry; ``problem``: what is wrong)."""

    def __init__(self, where: str, problem: str):
        self.where, self.problem = where, problem
        super().__init__(f"{where} {problem}")


def describe(value: Any) -> str:
    """A short description of a checkpoint value for messages."""
    if isinstance(value, torch.Tensor):
        return f"a {str(value.dtype).replace('torch.', '')} tensor of shape {tuple(value.shape)}"
    if value is None:
        return "None"
    text = " ".join(repr(value).split())  # one line, whatever the value holds
    return f"{type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _at(where: str, key: Any) -> str:
    return f"{where}[{key!r}]"


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _int(value: Any, where: str, low: int = 0, high: Optional[int] = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        span = f"{low}..{high}" if high is not None else f">= {low}"
        raise CheckpointMismatch(where, f"is {describe(value)}, expected an integer {span}")
    return value


def _number(value: Any, where: str, finite: bool = True, none: bool = False) -> None:
    """A number (an int within 64 bits, a float; finite unless ``finite`` is False), or None with ``none``."""
    if value is None and none:
        return
    if not _is_number(value) or (isinstance(value, int) and abs(value) >= 2**63) \
            or (finite and not math.isfinite(value)):
        raise CheckpointMismatch(where, f"is {describe(value)}, expected a {'finite ' if finite else ''}number")


def _dict(value: Any, where: str, keys: Sequence[str] = ()) -> Mapping:
    if not isinstance(value, dict):
        raise CheckpointMismatch(where, f"is {describe(value)}, expected a dict")
    for key in keys:
        if key not in value:
            raise CheckpointMismatch(where, f"lacks the entry {key!r}")
    return value


def _tensor(value: Any, where: str, shape: Optional[Tuple[int, ...]] = None, dtype: Optional[torch.dtype] = None,
            what: str = "") -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise CheckpointMismatch(where, f"is {describe(value)}, expected a tensor{what}")
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise CheckpointMismatch(where, f"has shape {tuple(value.shape)}, expected {tuple(shape)}{what}")
    if dtype is not None and value.dtype != dtype:
        raise CheckpointMismatch(where, f"has dtype {value.dtype}, expected {dtype}{what}")
    return value


def check_like(value: Any, template: Any, where: str, kinds: bool = False) -> None:
    """``value`` has ``template``'s structure: the same dict keys, list lengths, tensor shapes and dtypes, and a
    value of the same kind at every leaf (a number for a number, a string for a string; where the template holds
    None, any number, string or None). With ``kinds``, the same kind of number: an integer where the template has
    one (a counter: a schedule's ``t_initial`` or ``last_epoch``, a scaler's ``_growth_tracker``), a float where
    it has a float (the same code wrote both)."""
    if isinstance(template, torch.Tensor):
        _tensor(value, where, tuple(template.shape), template.dtype)
    elif isinstance(template, dict):
        _dict(value, where, list(template))
        extra = [k for k in value if k not in template]
        if extra:
            raise CheckpointMismatch(where, f"holds the entry {extra[0]!r}, which this run's state does not have")
        for key, sub in template.items():
            check_like(value[key], sub, _at(where, key), kinds)
    elif isinstance(template, (list, tuple)):
        if not isinstance(value, (list, tuple)) or len(value) != len(template):
            raise CheckpointMismatch(where, f"is {describe(value)}, expected a list of {len(template)}")
        for i, (sub, ref) in enumerate(zip(value, template)):
            check_like(sub, ref, _at(where, i), kinds)
    elif isinstance(template, bool):
        if not isinstance(value, bool):
            raise CheckpointMismatch(where, f"is {describe(value)}, expected True or False")
    elif kinds and isinstance(template, int):
        _int(value, where, -2**63, 2**63 - 1)
    elif _is_number(template):
        _number(value, where, finite=math.isfinite(template))
        if kinds and not isinstance(value, float):
            raise CheckpointMismatch(where, f"is {describe(value)}, expected a float")
    elif isinstance(template, str):
        if not isinstance(value, str):
            raise CheckpointMismatch(where, f"is {describe(value)}, expected a string")
    elif template is None:
        if not (value is None or isinstance(value, (str, bool)) or _is_number(value)):
            raise CheckpointMismatch(where, f"is {describe(value)}, expected a number, a string, a flag or None")


def check_weights(weights: Any, model_state: Mapping[str, torch.Tensor], where: str = "model") -> None:
    """``weights`` (a state dict) has exactly ``model_state``'s keys, shapes and dtypes; the first mismatch (in
    the model's order) is named with both shapes."""
    _dict(weights, where)
    for key, ref in model_state.items():
        if key not in weights:
            raise CheckpointMismatch(where, f"lacks {key!r} ({describe(ref)} in the run's model)")
        value = weights[key]
        if not isinstance(value, torch.Tensor):
            raise CheckpointMismatch(_at(where, key), f"is {describe(value)}, the run's model has {describe(ref)}")
        if tuple(value.shape) != tuple(ref.shape) or value.dtype != ref.dtype:
            raise CheckpointMismatch(_at(where, key), f"is {describe(value)}, the run's model has {describe(ref)}")
    extra = [k for k in weights if k not in model_state]
    if extra:
        raise CheckpointMismatch(where, f"holds {extra[0]!r}, which the run's model does not have")


def _differs(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):  # a family's parameters: those both name (older checkpoints)
        return any(_differs(a[k], b[k]) for k in a if k in b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) != len(b) or any(_differs(x, y) for x, y in zip(a, b))
    return a != b


def _plain(value: Any, where: str, depth: int = 0) -> None:
    """Plain data only (None, flags, numbers, strings, lists and dicts of them, a few levels deep)."""
    if isinstance(value, (list, tuple)) and depth < 4:
        for i, item in enumerate(value):
            _plain(item, _at(where, i), depth + 1)
    elif isinstance(value, dict) and depth < 4:
        for key, item in value.items():
            _plain(item, _at(where, key), depth + 1)
    elif not (value is None or isinstance(value, (bool, str)) or _is_number(value)):
        raise CheckpointMismatch(where, f"is {describe(value)}, expected plain data (numbers, strings, lists)")


def check_spec(spec: Any, expected: Optional[Mapping[str, Any]] = None, where: str = "model_spec") -> Dict[str, Any]:
    """A checkpoint's ``model_spec``: a dict of plain values that names a model; with ``expected`` (the spec of
    the run's model), the same model (keys absent from older checkpoints are not compared)."""
    _dict(spec, where, ("name",))
    _plain(spec, where)
    for key in ("name", "arch", "family", "activation"):
        if key in spec and spec[key] is not None and not isinstance(spec[key], str):
            raise CheckpointMismatch(_at(where, key), f"is {describe(spec[key])}, expected a string")
    for key in ("num_classes", "in_chans", "depth", "width"):
        if key in spec:
            _int(spec[key], _at(where, key), 1)
    for key in ("mean", "std"):
        if spec.get(key) is not None:
            if not isinstance(spec[key], (list, tuple)) or not all(_is_number(v) for v in spec[key]):
                raise CheckpointMismatch(_at(where, key), f"is {describe(spec[key])}, expected a list of numbers")
    if expected is not None:
        for key in SPEC_KEYS:
            if key in spec and key in expected and _differs(spec[key], expected[key]):
                raise CheckpointMismatch(where, f"describes a {spec['name']} model ({key} {spec[key]!r}), the run's "
                                                f"config a {expected['name']} ({key} {expected[key]!r})")
    return dict(spec)


def check_checkpoint_weights(state: Mapping[str, Any], model_state: Mapping[str, torch.Tensor]) -> str:
    """The weights of a checkpoint that would be evaluated (the EMA's when there are, and the model's) against
    ``model_state``; returns which entry is evaluated."""
    which = "ema" if state.get("ema") is not None else "model"
    check_weights(state.get(which), model_state, which)
    if which == "ema":
        check_weights(state.get("model"), model_state, "model")
    return which


# ---------------------------------------------------------------- the trainer's checkpoint

def built(optimizer: torch.optim.Optimizer) -> List[Dict[str, Any]]:
    """The param groups of an optimizer as built: the template of :func:`check_optimizer` (taken before anything
    is loaded into it)."""
    return copy.deepcopy(optimizer.state_dict()["param_groups"])


def _check_settings(group: Mapping[str, Any], mine: Mapping[str, Any], optimizer: torch.optim.Optimizer,
                    at: str) -> None:
    """A param group's settings, judged by the optimizer's own checks on a scratch copy: its constructor's
    (Adam's betas in [0, 1): else its step goes complex) and its loading's (which fills in the settings older
    versions lacked); every setting the run's optimizer has must then be there."""
    names = inspect.signature(type(optimizer).__init__).parameters
    settings = {k: v for k, v in group.items() if k in names and k != "params"}
    what = "settings the optimizer"
    device = next((p.device for g in optimizer.param_groups for p in g["params"]), torch.device("cpu"))
    param = torch.zeros(1, device=device, requires_grad=True)
    scratch = _trial(at, lambda: type(optimizer)([param], **settings), what)
    _trial(at, lambda: scratch.load_state_dict({"state": {}, "param_groups": [dict(group, params=[0])]}), what)
    missing = [key for key in mine if key not in scratch.param_groups[0]]
    if missing:
        raise CheckpointMismatch(at, f"lacks the entry {missing[0]!r}")
    param.grad = torch.ones_like(param)
    _trial(at, scratch.step, f"{what} can step with (on {device.type})")


def check_optimizer(state: Any, optimizer: torch.optim.Optimizer, where: str,
                    groups_built: Optional[List[Dict[str, Any]]] = None) -> None:
    """Param groups like the run's optimizer's as built (``groups_built``, else as they are now: same parameters,
    values of the same kinds); per-parameter state of tensors of the parameter's shape (Adam's ``step`` may be a
    scalar) and numbers."""
    ref = {"param_groups": groups_built if groups_built is not None else built(optimizer)}
    _dict(state, where, ("state", "param_groups"))
    groups = state["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(ref["param_groups"]):
        raise CheckpointMismatch(_at(where, "param_groups"), f"is {describe(groups)}, expected a list of "
                                                             f"{len(ref['param_groups'])} parameter groups")
    shapes: Dict[int, Tuple[int, ...]] = {}
    for g, (group, mine, live) in enumerate(zip(groups, ref["param_groups"], optimizer.param_groups)):
        at = f"{where}['param_groups'][{g}]"
        _dict(group, at, [k for k in mine if _is_number(mine[k]) or k == "params"])
        params = group["params"]
        if not isinstance(params, list) or not all(isinstance(i, int) for i in params) or params != mine["params"]:
            raise CheckpointMismatch(_at(at, "params"), f"is {describe(group['params'])}, the run's optimizer has "
                                                        f"{describe(mine['params'])}")
        for key, value in group.items():
            if key == "params":
                continue
            if key in mine:
                check_like(value, mine[key], _at(at, key))
            elif not (value is None or isinstance(value, (bool, str)) or _is_number(value)):
                raise CheckpointMismatch(_at(at, key), f"is {describe(value)}, expected a number or a flag")
        _check_settings(group, mine, optimizer, at)
        shapes.update({index: tuple(p.shape) for index, p in zip(mine["params"], live["params"])})
    per_param = _dict(state["state"], _at(where, "state"))
    keys = None
    for index, entry in per_param.items():
        at = _at(_at(where, "state"), index)
        if index not in shapes:
            raise CheckpointMismatch(at, f"is the state of parameter {index!r}, which the run's optimizer lacks")
        if keys is not None and set(_dict(entry, at)) != keys:  # every parameter's state has the same entries
            raise CheckpointMismatch(at, f"holds {sorted(entry)}, the other parameters' states {sorted(keys)}")
        keys = set(_dict(entry, at))
        for key, value in entry.items():
            if key == "step":  # steps taken (a state exists after the first): Adam divides by 1 - beta ** step
                step = value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value
                _number(step, _at(at, key))
                if step < 1 or step != int(step):
                    raise CheckpointMismatch(_at(at, key), f"is {describe(value)}, expected a whole number >= 1")
            elif not (isinstance(value, torch.Tensor) and value.is_floating_point()
                      and tuple(value.shape) == shapes[index]):
                raise CheckpointMismatch(_at(at, key), f"is {describe(value)}, expected a float tensor of the "
                                                       f"parameter's shape {shapes[index]}")


def _trial(where: str, load: Any, what: str = "a state the generator") -> Any:
    """``load()`` gives a value read from a checkpoint to a scratch object (an RNG state to a new generator,
    settings to a new optimizer; the run's own are untouched), whose own checks judge it: a torch RNG state of
    the right size can still be no Mersenne Twister state."""
    try:
        return load()
    except Exception as err:  # noqa: BLE001 - the value comes from a file: any refusal means it is not one
        raise CheckpointMismatch(where, f"is not {what} accepts ({type(err).__name__}: "
                                        f"{' '.join(str(err).split())[:120]})") from None


def _check_rng(rng: Any, world_size: int) -> None:
    """The RNG states of :func:`~benchmarks.training.checkpoint.get_rng_state`, one per rank."""
    if not isinstance(rng, list) or not rng:
        raise CheckpointMismatch("rng", f"is {describe(rng)}, expected a list of RNG states, one per process "
                                        f"({world_size} here)")
    torch_shape = tuple(torch.get_rng_state().shape)
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    for r, state in enumerate(rng):
        at = f"rng[{r}]"
        _dict(state, at, ("python", "numpy", "torch", "cuda"))
        py = _dict(state["python"], _at(at, "python"), ("version", "keys", "gauss"))
        _int(py["version"], _at(_at(at, "python"), "version"), 3, 3)
        keys = _tensor(py["keys"], _at(_at(at, "python"), "keys"), (625,), torch.int64)
        if int(keys.min()) < 0 or int(keys[:-1].max()) >= 2**32 or int(keys[-1]) > 624:
            raise CheckpointMismatch(_at(_at(at, "python"), "keys"), "holds values outside a Mersenne Twister state")
        _number(py["gauss"], _at(_at(at, "python"), "gauss"), none=True)
        _trial(_at(at, "python"), lambda: random.Random().setstate(
            (py["version"], tuple(int(k) for k in py["keys"].tolist()), py["gauss"])))
        npy = _dict(state["numpy"], _at(at, "numpy"), ("name", "keys", "pos", "has_gauss", "gauss"))
        if npy["name"] != "MT19937":
            raise CheckpointMismatch(_at(_at(at, "numpy"), "name"), f"is {describe(npy['name'])}, expected 'MT19937'")
        keys = _tensor(npy["keys"], _at(_at(at, "numpy"), "keys"), (624,), torch.int64)
        if int(keys.min()) < 0 or int(keys.max()) >= 2**32:
            raise CheckpointMismatch(_at(_at(at, "numpy"), "keys"), "holds values outside a Mersenne Twister state")
        _int(npy["pos"], _at(_at(at, "numpy"), "pos"), 0, 624)
        _int(npy["has_gauss"], _at(_at(at, "numpy"), "has_gauss"), 0, 1)
        _number(npy["gauss"], _at(_at(at, "numpy"), "gauss"))
        _tensor(state["torch"], _at(at, "torch"), torch_shape, torch.uint8)
        _trial(_at(at, "torch"), lambda: torch.Generator().set_state(state["torch"].cpu()))
        _trial(_at(at, "numpy"), lambda: np.random.RandomState().set_state(
            (npy["name"], npy["keys"].cpu().numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["gauss"])))
        if not isinstance(state["cuda"], list):
            raise CheckpointMismatch(_at(at, "cuda"), f"is {describe(state['cuda'])}, expected a list")
        for d, value in enumerate(state["cuda"]):
            ref = cuda[d] if cuda is not None and d < len(cuda) else None
            _tensor(value, f"{at}['cuda'][{d}]", tuple(ref.shape) if ref is not None else None, torch.uint8)


def _check_numbers(value: Any, where: str, keys: Sequence[str], none: bool = False, low: Optional[float] = None
                   ) -> None:
    for key in keys:
        number = _dict(value, where, keys)[key]
        _number(number, _at(where, key), none=none)
        if low is not None and number is not None and number < low:
            raise CheckpointMismatch(_at(where, key), f"is {describe(number)}, expected a number >= {low}")


def _get(mapping: Mapping, key: str, default: Any) -> Any:
    """``mapping[key]``, or ``default`` when it is absent or None (never a value's truth: a tensor has none)."""
    value = mapping.get(key)
    return default if value is None else value


def _check_energy(extra: Any) -> None:
    _dict(extra, "extra")
    energy = extra.get("energy")
    if energy is None:
        return
    windows = _dict(energy, _at("extra", "energy")).get("windows", {})  # EnergyMeter reads .get("windows", {})
    for name, window in _dict(windows, "extra['energy']['windows']").items():
        at = f"extra['energy']['windows'][{name!r}]"
        _dict(window, at)
        for key in ("seconds", "count", "energy_j", "sampler_energy_j"):
            _number(window.get(key), _at(at, key), none=True)
        if window.get("source") is not None and not isinstance(window["source"], str):
            raise CheckpointMismatch(_at(at, "source"), f"is {describe(window['source'])}, expected a string")


def _check_flops(state: Mapping) -> None:
    flops = state.get("flops")
    if flops is None:  # written before FLOPs were counted per step shape (StepFlops.load_state_dict)
        _number(state.get("forward_flops_per_step"), "forward_flops_per_step", none=True)
        return
    _dict(flops, "flops", ("step_flops", "step_counts", "samples_seen"))
    for key, none in (("step_flops", True), ("step_counts", False), ("step_factors", True)):
        entries = _get(flops, key, {}) if key == "step_factors" else flops[key]  # only the factors may be absent
        for shape, value in _dict(entries, _at("flops", key)).items():
            if not isinstance(shape, str):
                raise CheckpointMismatch(_at("flops", key), f"has the key {describe(shape)}, expected strings")
            _number(value, _at(_at("flops", key), shape), none=none)
    _int(flops["samples_seen"], _at("flops", "samples_seen"))


def check_training_state(state: Any, trainer) -> None:
    """Everything :meth:`benchmarks.training.Trainer.load_state_dict` uses, against the trainer's own state.

    Raises:
        CheckpointMismatch: the first entry that does not fit.
    """
    required = ("model_spec", "model", "optimizer", "progress", "data_order", "sums", "history", "best", "seconds",
                "rng")
    _dict(state, "the checkpoint", required)
    if "format" in state:
        _int(state["format"], "format", 1, CHECKPOINT_FORMAT)
    check_spec(state["model_spec"], trainer.spec)
    check_weights(state["model"], trainer.model.state_dict(), "model")
    if trainer.ema is not None:
        check_weights(state.get("ema"), trainer.ema.module.state_dict(), "ema")
    if trainer.cfg.training.swa_start is not None:  # SWA's count of averaged epochs (averaging.SwaAverage)
        _int(_dict(state.get("swa"), "swa", ["epochs"])["epochs"], "swa['epochs']", 0, trainer.cfg.training.epochs)
    check_optimizer(state["optimizer"], trainer.optimizer, "optimizer", trainer.fresh_states["optimizer"])
    # the schedule and scaler as built (not as now: a trainer that resumed before holds what it loaded)
    if trainer.scheduler is not None:
        check_like(state.get("scheduler"), trainer.fresh_states["scheduler"], "scheduler", kinds=True)
    if trainer.scaler is not None and state.get("scaler") is not None:
        if _dict(state["scaler"], "scaler"):  # an empty one is not loaded
            check_like(state["scaler"], trainer.fresh_states["scaler"], "scaler", kinds=True)
    progress = _dict(state["progress"], "progress", ("epoch", "step", "global_step"))
    epoch = _int(progress["epoch"], "progress['epoch']", 0, trainer.cfg.training.epochs)
    _int(progress["step"], "progress['step']", 0, len(trainer.batches) if epoch < trainer.cfg.training.epochs else 0)
    _int(progress["global_step"], "progress['global_step']")
    if trainer.scheduler is not None:  # where the run goes on, on a scratch copy of its schedule
        from .optimizer import try_schedule

        updates = len(trainer.batches) * trainer.method.updates_per_batch()
        _trial("scheduler", lambda: try_schedule(trainer.cfg.training, trainer.lr, updates, state["scheduler"], epoch,
                                                 progress["global_step"]), "a state the run's schedule")
    order = _dict(state["data_order"], "data_order", ("seed", "world_size", "batch_size", "steps_per_epoch"))
    for key in order:
        _int(order[key], _at("data_order", key), -2**63, 2**63 - 1)
    # another world size or batch size is the user's choice (ResumeError says so); another seed or epoch length
    # means another run's checkpoint or changed data
    mine = {"seed": trainer.cfg.seed, "steps_per_epoch": len(trainer.batches)}
    for key, value in mine.items():
        if order[key] != value and order["world_size"] == trainer.dist.world_size \
                and order["batch_size"] == trainer.cfg.data.batch_size:
            raise CheckpointMismatch(_at("data_order", key), f"is {order[key]!r}, this run's is {value!r} (another "
                                                             f"run's checkpoint, or the training data changed)")
    _check_numbers(state["sums"], "sums", ("loss", "correct", "n", "steps", "seconds"), low=0)
    _check_numbers(state["seconds"], "seconds", ("train", "eval"), low=0)
    _check_numbers(state["best"], "best", ("epoch", "pgd_subset"), none=True)
    history = state["history"]
    if not isinstance(history, list) or len(history) > epoch:
        raise CheckpointMismatch("history", f"is {describe(history)}, expected a list of at most {epoch} epochs")
    for e, entry in enumerate(history):
        for key, value in _dict(entry, f"history[{e}]").items():
            _number(value, _at(f"history[{e}]", key), none=True)
    _check_flops(state)
    method = _get(state, "method", [{}])
    if not isinstance(method, list) or not all(isinstance(m, dict) for m in method):
        raise CheckpointMismatch("method", f"is {describe(method)}, expected a list of dicts, one per process")
    for m, entry in enumerate(method):
        trainer.method.check_state_dict(entry, f"method[{m}]")
    _check_rng(state["rng"], trainer.dist.world_size)
    _check_energy(_get(state, "extra", {}))
