"""Training cards: how a published model was trained, number by number, each with its source in the paper.

A card is one YAML file (the shipped ones are ``recipes/zoo_cards/<Model>.yaml``; a user adds cards in a folder
of their own, ``robustperf zoo cost --cards DIR``, where a card of the same model replaces the shipped one)::

    model: Zhang2019Theoretically          # the RobustBench model name
    dataset: cifar10                       # cifar10 | cifar100 | imagenet
    threat: Linf                           # Linf | L2 | corruptions
    architecture: WideResNet-34-10         # RobustBench's architecture name (the FLOPs look-up falls back to it)
    paper: Zhang et al., ICML 2019, arXiv:1901.08573
    training:
      method: {value: trades, source: "Sec. 5.2"}           # a robustperf training method (robustperf plugins)
      epochs: {value: 76, source: "code, train_trades_cifar10.py"}
      attack_steps: {value: 10, source: "Sec. 5.2"}
      batch_size: {value: 128, source: "Sec. 5.2"}
      images_per_epoch: {range: [50000, 50000], source: "..."}   # a range where the paper leaves it open
      ema: {value: false, source: "..."}
      awp: {value: false, source: "..."}       # adversarial weight perturbation
      awp_warmup_epochs: {value: 10, source: "..."}   # only with awp: epochs without the AWP pass
      pretraining: {value: none, source: "..."}       # text; its compute is not in the estimate

Every field of ``training`` is ``{value: X, source: TEXT}`` or, for a number the paper does not state exactly,
``{range: [LOW, HIGH], source: TEXT}`` (the source then says why the range); ``source`` names the paper's section,
table or the authors' code. Loading checks every key and value and fails with one line naming the file, the key
and the value (:class:`CardError`, exit 2). Imports no torch: the estimate itself (the suite's FLOP accounting)
is :mod:`benchmarks.zoo.estimate`.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from . import catalog
from .errors import RecipeError
from .limits import limit, over_limit_message
from .loading import parse_yaml

__all__ = ["CardError", "Card", "Number", "CARDS_DIR", "NUMBERS", "BENCHMARKS", "load_card", "load_cards",
           "card_from_dict"]

#: The shipped cards, one YAML per model.
CARDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo_cards")
DATASETS = ("cifar10", "cifar100", "imagenet")
THREATS = ("Linf", "L2", "corruptions")
#: (dataset, threat) -> the suite's benchmark at RobustBench's budget of that leaderboard (recipes/benchmarks/)
BENCHMARKS: Dict[Tuple[str, str], str] = {("cifar10", "Linf"): "cifar10-linf-8", ("cifar10", "L2"): "cifar10-l2-0.5",
                                          ("cifar100", "Linf"): "cifar100-linf-8",
                                          ("imagenet", "Linf"): "imagenet-linf-4"}
TOP_KEYS = ("model", "dataset", "threat", "architecture", "paper", "training")
#: the numeric training fields, the smallest value each may take
NUMBERS: Dict[str, int] = {"epochs": 1, "attack_steps": 0, "batch_size": 1, "images_per_epoch": 1,
                           "awp_warmup_epochs": 0}
FLAGS = ("ema", "awp")
TEXTS = ("method", "pretraining")
REQUIRED = ("method", "epochs", "attack_steps", "batch_size", "images_per_epoch", "ema", "awp", "pretraining")
TRAINING_KEYS = TEXTS + tuple(NUMBERS) + FLAGS


class CardError(RecipeError):
    """A training card that cannot be used: one line naming the file, the key and the value."""


@dataclasses.dataclass(frozen=True)
class Number:
    """A card's number: ``low == high`` where the paper states it, else the range it leaves open."""

    low: float
    high: float
    source: str

    @property
    def stated(self) -> bool:
        return self.low == self.high


@dataclasses.dataclass(frozen=True)
class Card:
    """One model's training card (see the module docstring)."""

    file: str
    model: str
    dataset: str
    threat: str
    architecture: str
    paper: str
    method: str
    epochs: Number
    attack_steps: Number
    batch_size: Number
    images_per_epoch: Number
    ema: bool
    awp: bool
    pretraining: str
    awp_warmup_epochs: Optional[Number] = None
    #: field -> its source text (every training field)
    sources: Dict[str, str] = dataclasses.field(default_factory=dict, compare=False)


def _text(data: Dict[str, Any], key: str, file: str, lines: Dict[str, int], where: str = "") -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise CardError("expected a non-empty text", file=file, key=where + key, value=value,
                        line=lines.get(where + key))
    return value.strip()


def _number(raw: Any, key: str, file: str, line: Optional[int]) -> Tuple[float, float]:
    bound = limit("card_number")
    low_ok = NUMBERS[key]
    if "value" in raw:
        values = [raw["value"]]
    else:
        values = raw["range"]
        if not isinstance(values, list) or len(values) != 2:
            raise CardError("a range is [LOW, HIGH]", file=file, key=f"training.{key}.range", value=values,
                            line=line)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
            raise CardError("expected a number", file=file, key=f"training.{key}", value=v, line=line)
        if v < low_ok:
            raise CardError(f"expected a number >= {low_ok}", file=file, key=f"training.{key}", value=v, line=line)
        if v > bound:
            raise CardError(over_limit_message("card_number", "a number of a training card", v),
                            file=file, key=f"training.{key}", value=v, line=line)
    low, high = float(values[0]), float(values[-1])
    if low > high:
        raise CardError("a range's LOW is above its HIGH", file=file, key=f"training.{key}.range", value=values,
                        line=line)
    return low, high


def card_from_dict(data: Any, file: str = "<card>", lines: Optional[Dict[str, int]] = None) -> Card:
    """Check a parsed card and return it.

    Raises:
        CardError: a missing, unknown or wrong key or value (file, key and value named).
    """
    lines = lines or {}
    if not isinstance(data, dict):
        raise CardError("a training card is a mapping of " + ", ".join(TOP_KEYS), file=file, value=type(data).__name__)
    for key in data:
        if key not in TOP_KEYS:
            raise CardError("unknown key", file=file, key=str(key), allowed=TOP_KEYS, line=lines.get(str(key)))
    head = {k: _text(data, k, file, lines) for k in ("model", "architecture", "paper")}
    for key, choices in (("dataset", DATASETS), ("threat", THREATS)):
        if data.get(key) not in choices:
            raise CardError("unknown value", file=file, key=key, value=data.get(key), allowed=choices,
                            line=lines.get(key))
    training = data.get("training")
    if not isinstance(training, dict):
        raise CardError("expected a mapping of " + ", ".join(REQUIRED), file=file, key="training", value=training,
                        line=lines.get("training"))
    fields: Dict[str, Any] = {}
    sources: Dict[str, str] = {}
    for key in list(training) + [k for k in REQUIRED if k not in training]:
        path = f"training.{key}"
        line = lines.get(path)
        if key not in TRAINING_KEYS:
            raise CardError("unknown key", file=file, key=path, allowed=TRAINING_KEYS, line=line)
        raw = training.get(key)
        if not isinstance(raw, dict):
            raise CardError("expected {value: X, source: TEXT} or {range: [LOW, HIGH], source: TEXT}",
                            file=file, key=path, value=raw, line=line)
        extra = set(raw) - {"value", "range", "source"}
        if extra or ("value" in raw) == ("range" in raw):
            raise CardError("expected exactly one of value and range, and source", file=file, key=path,
                            value=sorted(map(str, raw)), line=line)
        sources[key] = _text(raw, "source", file, lines, where=path + ".")
        if key in NUMBERS:
            low, high = _number(raw, key, file, line)
            fields[key] = Number(low, high, sources[key])
        elif "range" in raw:
            raise CardError("only a number can be a range", file=file, key=path, value=raw["range"], line=line)
        elif key in FLAGS:
            if not isinstance(raw["value"], bool):
                raise CardError("expected true or false", file=file, key=path + ".value", value=raw["value"],
                                line=line)
            fields[key] = raw["value"]
        else:
            fields[key] = _text(raw, "value", file, lines, where=path + ".")
    methods = sorted(catalog.names("methods"))
    if fields["method"] not in methods:
        raise CardError("not a training method of the suite (robustperf plugins)", file=file, key="training.method",
                        value=fields["method"], allowed=methods, line=lines.get("training.method"))
    if fields.get("awp_warmup_epochs") is not None and not fields["awp"]:
        raise CardError("awp_warmup_epochs needs awp: true", file=file, key="training.awp_warmup_epochs",
                        value=fields["awp_warmup_epochs"].low, line=lines.get("training.awp_warmup_epochs"))
    return Card(file=file, dataset=data["dataset"], threat=data["threat"], sources=sources, **head, **fields)


def load_card(path: str) -> Card:
    """Read and check one card file (see :func:`card_from_dict`)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(limit("recipe_bytes") + 1)
    except (OSError, UnicodeDecodeError) as err:
        raise CardError(f"cannot read the card: {err.__class__.__name__}: {err}", file=path) from None
    try:
        data, lines = parse_yaml(text, path)
    except RecipeError as err:
        raise CardError(err.message, file=path, line=err.line) from None
    return card_from_dict(data, path, lines)


def load_cards(folders: Sequence[str] = (), shipped: bool = True) -> List[Card]:
    """The cards of the shipped folder (unless ``shipped`` is false), then of ``folders`` in order: a later
    card of the same model (dataset and threat alike) replaces an earlier one. Sorted by model name.

    Raises:
        CardError: a folder that is not one, too many cards, or a card that fails its checks.
    """
    chosen: Dict[Tuple[str, str, str], Card] = {}
    for folder in ([CARDS_DIR] if shipped else []) + list(folders):
        if not os.path.isdir(folder):
            raise CardError("not a folder of training cards (*.yaml)", file=folder)
        names = sorted(n for n in os.listdir(folder) if n.endswith((".yaml", ".yml")))
        if len(names) > limit("zoo_cards"):
            raise CardError(over_limit_message("zoo_cards", "training cards in one folder", len(names)), file=folder)
        for name in names:
            card = load_card(os.path.join(folder, name))
            chosen[(card.model, card.dataset, card.threat)] = card
    return sorted(chosen.values(), key=lambda c: (c.dataset, c.threat, c.model))
