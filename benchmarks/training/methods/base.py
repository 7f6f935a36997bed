"""The training-method plug-in: :class:`Method`, and the registry ``training.loss`` names a method from.

A method declares, as class attributes, what the rest of the suite needs to know about it:

* ``train_attack``: the registered attack (:mod:`benchmarks.attacks`) that crafts its training examples, or
  None (``standard``; ``free``, whose perturbation comes from the training backward pass itself);
* ``params``: the ``training.*`` recipe keys it reads (validated and documented by the schema like every key);
* ``attack_keys``: the ``attack.*`` keys its training examples read besides ``norm`` and ``eps`` (default: all
  of :data:`TRAINING_ATTACK_KEYS` when it has a ``train_attack``, none otherwise);
* ``supports_awp``: whether ``training.awp_gamma`` may switch adversarial weight perturbation on;
* :meth:`Method.loss`: its objective on one batch;
* :meth:`Method.forward_passes`: forward passes per training sample of one batch (the FLOPs tests check the
  profiler's count against them).

The default :meth:`Method.step` is "craft the batch, take one optimizer step"; a method with extra passes or
replays (``free``, the AWP option) overrides it and calls :meth:`Trainer.backward` /
:meth:`Trainer.apply_gradients` as often as it needs. A method with state that changes during training
(``free``'s carried perturbation) saves it through :meth:`Method.state_dict`.

Adding a method is one module that subclasses :class:`Method` under ``@register_method("name")`` (plus its
name in ``recipes.schema.TRAINING_METHODS`` and any new ``training.*`` parameter in the schema). The keys a
method reads (:meth:`Method.reads`) are the keys that enter its runs' ids: for a built-in method the schema's
``methods=`` metadata says the same (a test keeps both equal), a plug-in declares them when it registers.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from recipes.schema import TRAINING_METHODS

from ...attacks import create_attack

__all__ = ["Method", "register_method", "get_method", "list_methods", "unregister_method", "TRAINING_ATTACK_KEYS"]

#: The ``attack.*`` keys of the training attack (``norm`` and ``eps`` are read by every method's per-epoch check).
TRAINING_ATTACK_KEYS = ("steps", "step_size", "random_start")

_METHODS: Dict[str, Type["Method"]] = {}


def register_method(name: str, name_part: Optional[str] = None) -> Callable[[Type["Method"]], Type["Method"]]:
    """Class decorator: register a :class:`Method` subclass as ``training.loss: name``.

    ``name_part``: the method's part of run names, a template such as ``pgd{attack.steps}`` (see
    :meth:`recipes.schema.Vocabulary.name_part`; ``""`` = none). Built-in methods declare theirs in
    ``recipes.schema.METHOD_NAME_PARTS`` (recipes name runs without importing this package); another method
    gives it here.
    """

    def decorate(cls: Type["Method"]) -> Type["Method"]:
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"@register_method({name!r}) decorates a Method subclass, not {cls!r}")
        if name in _METHODS and _METHODS[name] is not cls:
            raise ValueError(f"training method {name!r} is already registered by {_METHODS[name].__module__}")
        cls.name = name
        _METHODS[name] = cls
        # the schema accepts it (and names its runs) from now on, and its keys enter its runs' ids
        TRAINING_METHODS.add(name, name_part, reads=cls.reads())
        return cls

    return decorate


def unregister_method(name: str) -> None:
    """Remove a method registered at run time (tests register throw-away methods)."""
    _METHODS.pop(name, None)
    TRAINING_METHODS.discard(name)


def get_method(name: str) -> Type["Method"]:
    """The method class registered as ``name``."""
    try:
        return _METHODS[name]
    except KeyError:
        raise ValueError(f"unknown training method {name!r}; valid: {', '.join(list_methods())}") from None


def list_methods():
    return sorted(_METHODS)


class Method:
    """One training method, bound to a :class:`~benchmarks.training.Trainer` (one instance per run).

    Args:
        trainer: the trainer whose model, optimizer and config the method uses.
    """

    name: str = ""
    #: Registered attack that crafts the training examples; None = no separate attack.
    train_attack: Optional[str] = None
    #: ``training.*`` keys the method reads.
    params: Tuple[str, ...] = ()
    #: ``attack.*`` keys the training examples read besides norm and eps; None = all of TRAINING_ATTACK_KEYS
    #: with a ``train_attack``, none without.
    attack_keys: Optional[Tuple[str, ...]] = None
    #: Whether ``training.awp_gamma`` may be set with this method.
    supports_awp: bool = False
    #: The mode the training attack's forwards run in: ``eval`` (the registered attacks' own) or ``train``
    #: (``fgsm_rs``, as its paper's code); BatchNorm's FLOPs differ between the two.
    attack_mode: str = "eval"

    @classmethod
    def reads(cls) -> Tuple[str, ...]:
        """The method's own ``section.key`` paths: its params, its attack keys and the AWP switch."""
        attack = cls.attack_keys if cls.attack_keys is not None else \
            (TRAINING_ATTACK_KEYS if cls.train_attack is not None else ())
        return (tuple(f"training.{k}" for k in cls.params) + tuple(f"attack.{k}" for k in attack)
                + (("training.awp_gamma",) if cls.supports_awp else ()))

    def __init__(self, trainer):
        self.trainer = trainer
        self.cfg = trainer.cfg
        self.attack = None
        if self.train_attack is not None:
            self.attack = create_attack(self.train_attack, trainer.model, autocast=trainer.autocast,
                                        **self.attack_kwargs())
        self.awp = None
        if self.cfg.training.awp_gamma is not None:
            if not self.supports_awp:
                from recipes.errors import RecipeError

                raise RecipeError(f"training method {self.name} has no weight-perturbation option",
                                  key="training.awp_gamma", value=self.cfg.training.awp_gamma)
            from .awp import WeightPerturbation

            self.awp = WeightPerturbation(trainer, self.cfg.training.awp_gamma)

    # ------------------------------------------------------------------ declarations

    def attack_kwargs(self) -> Dict[str, Any]:
        """``create_attack`` arguments of the training attack (norm, eps, steps, step size, random start)."""
        a = self.cfg.attack
        return dict(norm=a.norm, eps=a.eps, steps=a.steps, step_size=self.cfg.train_step_size,
                    random_start=a.random_start)

    def attack_passes(self) -> int:
        """Forward passes per sample of the training attack."""
        return int(self.attack_kwargs()["steps"]) if self.attack is not None else 0

    def train_passes(self) -> int:
        """Train-mode forward passes per sample of the loss (one optimizer step)."""
        return 1

    def updates_per_batch(self) -> int:
        """Optimizer steps per training batch (replays)."""
        return 1

    def awp_active(self, epoch: Optional[int] = None) -> bool:
        """Whether the weight perturbation is on in ``epoch`` (default: the trainer's current one)."""
        epoch = self.trainer.epoch if epoch is None else epoch
        return self.awp is not None and epoch >= self.cfg.training.awp_warmup

    def forward_passes(self, awp: Optional[bool] = None) -> Dict[str, int]:
        """Forward passes per training sample of one batch: ``{"attack": the training attack's (in
        :attr:`attack_mode`), "train": train-mode}``.

        ``awp`` (default: whether it is active now) adds the perturbation's own pass of the loss.
        """
        awp = self.awp_active() if awp is None else awp
        train = self.train_passes() * self.updates_per_batch() * (2 if awp else 1)
        return {"attack": self.attack_passes(), "train": train}

    def nograd_passes(self) -> int:
        """Of the attack passes, those that run without gradients (TRADES' clean KL target): no backward."""
        return 0

    def backward_passes(self, awp: Optional[bool] = None) -> Optional[Dict[str, int]]:
        """Backward passes per training sample of one batch, by what they compute: ``weights`` (weight and input
        gradients: every training pass, replay and AWP pass) and ``input`` (input gradients only: each attack
        step); the other forwards have none. None: not modelled (the method's :meth:`executed_factor` is None)."""
        passes = self.forward_passes(awp)
        return {"weights": passes["train"], "input": passes["attack"] - self.nograd_passes()}

    def executed_factor(self, awp: Optional[bool] = None) -> Optional[float]:
        """Executed training FLOPs of one step / its forward FLOPs, estimated from :meth:`backward_passes`: a
        backward with weight gradients costs 2x its forward, one to the input only 1x (transposed convolutions
        and matrix products without the weight products), every pass's forward taken as equal. None: not
        modelled. The reference convention counts 3x for every pass (``flops.train_total``)."""
        back = self.backward_passes(awp)
        passes = self.forward_passes(awp)
        total = passes["attack"] + passes["train"]
        if back is None or not total:
            return None
        return 1.0 + (2 * back["weights"] + back["input"]) / total

    def shape_key(self) -> str:
        """What makes this step's executed work differ from another's (FLOPs are counted once per shape)."""
        return "awp" if self.awp_active() else "plain"

    # ------------------------------------------------------------------ the math

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, x_adv: torch.Tensor
             ) -> Tuple[torch.Tensor, torch.Tensor]:
        """The objective on one batch: ``(scalar loss, logits whose argmax is the reported training accuracy)``."""
        raise NotImplementedError

    def forward(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The model's final logits on ``x`` in float32, the forward under the run's autocast."""
        with self.trainer.autocast():
            out = model(x)
        return logits_of(out)

    def craft(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The training examples of the batch (the clean batch for methods without an attack)."""
        return self.attack(x, y, generator=generator) if self.attack is not None else x

    def step(self, x: torch.Tensor, y: torch.Tensor, generator: torch.Generator) -> None:
        """One training batch: craft, (perturb the weights,) forward, backward, one optimizer step."""
        trainer = self.trainer
        x_adv = self.craft(x, y, generator)
        trainer.model.train()
        model = trainer.forward_model
        restore = None
        if self.awp_active():
            restore = self.awp.perturb(lambda net: self.loss(net, x, y, x_adv)[0])
        trainer.optimizer.zero_grad(set_to_none=True)
        loss, logits = self.loss(model, x, y, x_adv)
        trainer.backward(loss)
        trainer.apply_gradients(loss, logits, y, after_step=restore)

    # ------------------------------------------------------------------ state

    def state_dict(self) -> Dict[str, Any]:
        """State that changes during training and must survive a resume (none by default)."""
        return {}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass

    def describe(self) -> Dict[str, Any]:
        """Plain data for the result record: name, parameters, attack and passes per sample."""
        t = self.cfg.training
        params = {key: getattr(t, key) for key in self.params}
        if self.awp is not None:
            params.update(awp_gamma=t.awp_gamma, awp_warmup=t.awp_warmup)
        return {"name": self.name, "params": params, "train_attack": self.train_attack,
                "forward_passes_per_sample": self.forward_passes(awp=self.awp is not None)}


def logits_of(output: Any) -> torch.Tensor:
    """The final logits of a model output (the last one of a multi-exit model's list), in float32."""
    from ...models import final_logits

    return final_logits(output).float()


def kl_batchmean(log_p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(q || p) summed over classes and averaged over the batch (TRADES' reduction)."""
    return F.kl_div(log_p, q, reduction="batchmean")

