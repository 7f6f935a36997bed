"""The training-method plug-in: :class:`Method`, and how ``training.loss`` finds a method's class.

A method's facts live in its catalog entry (:class:`recipes.catalog.MethodEntry`, the built-ins' in
:mod:`.catalog`): its name, the recipe keys it reads (they enter its runs' ids), its run-name part, its training
attack and whether it trains a multi-exit model. The class implements what the entry declares:

* :meth:`Method.loss`: its objective on one batch;
* :meth:`Method.forward_passes`: forward passes per training sample of one batch (the FLOPs tests check the
  profiler's count against them); :meth:`Method.backward_passes` what they back-propagate to.

The default :meth:`Method.step` is "craft the batch, take one optimizer step"; a method with extra passes or
replays (``free``, the AWP option) overrides it and calls :meth:`Trainer.backward` /
:meth:`Trainer.apply_gradients` as often as it needs. A method with state that changes during training
(``free``'s carried perturbation) saves it through :meth:`Method.state_dict`.

Adding a method is one module with a :class:`Method` subclass plus its entry, registered under the
``robustperf.methods`` entry-point group (another package's too: see the docs' "add a method" guide), or
in-process with :func:`register_method`.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Tuple, Type

import torch
import torch.nn as nn
import torch.nn.functional as F

from recipes import catalog
from recipes.errors import RecipeError

from ...attacks import create_attack
from ...models.outputs import final_logits
from .awp import WeightPerturbation

__all__ = ["Method", "register_method", "get_method", "list_methods", "unregister_method"]


def register_method(name: str, **facts: Any) -> Callable[[Type["Method"]], Type["Method"]]:
    """Class decorator registering a :class:`Method` subclass in-process as ``training.loss: name`` (tests,
    notebooks); ``facts`` are the :class:`recipes.catalog.MethodEntry` fields (``reads``, ``name_part``, ...)."""

    def decorate(cls: Type["Method"]) -> Type["Method"]:
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"@register_method({name!r}) decorates a Method subclass, not {cls!r}")
        catalog.register(catalog.MethodEntry(name=name, impl=cls, **facts))
        return cls

    return decorate


def unregister_method(name: str) -> None:
    """Remove a method registered in-process."""
    catalog.unregister("methods", name)


def get_method(name: str) -> Type["Method"]:
    """The method class of ``training.loss: name`` (its catalog entry's implementation)."""
    cls = catalog.load("methods", name)
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise catalog.PluginError(f"training method {name!r}: {catalog.get('methods', name).impl} is not a "
                                  "benchmarks.training.methods.base.Method subclass")
    return cls


def list_methods():
    return sorted(catalog.names("methods"))


class Method:
    """One training method, bound to a :class:`~benchmarks.training.Trainer` (one instance per run).

    Args:
        trainer: the trainer whose model, optimizer and config the method uses.

    Attributes:
        entry: the method's catalog entry (name, keys read, training attack, ...).
        attack_mode: the mode the training attack's forwards run in: ``eval`` (the attacks' own) or ``train``
            (``fgsm_rs``, as its paper's code); BatchNorm's FLOPs differ between the two.
    """

    attack_mode: str = "eval"

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def train_attack(self) -> Optional[str]:
        return self.entry.train_attack

    @property
    def params(self) -> Tuple[str, ...]:
        """The method's own ``training.*`` keys (its record group's parameters; AWP is recorded apart)."""
        return tuple(p.split(".", 1)[1] for p in self.entry.all_reads()
                     if p.startswith("training.") and p != "training.awp_gamma")

    @property
    def supports_awp(self) -> bool:
        return "training.awp_gamma" in self.entry.all_reads()

    def __init__(self, trainer):
        self.trainer = trainer
        self.cfg = trainer.cfg
        self.entry = catalog.get("methods", self.cfg.training.loss)
        self.attack = None
        if self.train_attack is not None:
            self.attack = create_attack(self.train_attack, trainer.model, autocast=trainer.autocast,
                                        **self.attack_kwargs())
        self.awp = None
        if self.cfg.training.awp_gamma is not None:
            if not self.supports_awp:
                raise RecipeError(f"training method {self.name} has no weight-perturbation option",
                                  key="training.awp_gamma", value=self.cfg.training.awp_gamma)
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

    def check_state_dict(self, state: Dict[str, Any], where: str) -> None:
        """Raise :class:`benchmarks.training.checkpoint_check.CheckpointMismatch` when ``state`` (a dict read from
        a checkpoint, named ``where`` in messages) cannot be loaded by :meth:`load_state_dict`; called before any
        of the checkpoint is used. Nothing to check by default (the default state is empty and ignored)."""

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
    return final_logits(output).float()


def kl_batchmean(log_p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(q || p) summed over classes and averaged over the batch (TRADES' reduction)."""
    return F.kl_div(log_p, q, reduction="batchmean")

