"""Cross-field rules of one resolved run: what no single key's check can see.

:func:`check_run` runs on every run of a matrix (``RunConfig.__post_init__`` and the fast expansion alike), so it
reads plain dicts and the catalog's facts about the chosen plug-ins (a method that needs a multi-exit model, the
threat models an attack supports, the datasets that need a folder), never a list of names.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

from . import catalog
from .errors import RecipeError
from .fields import field_specs
from .sections import ModelConfig

__all__ = ["check_run"]


def _readers(kind: str, path: str) -> str:
    return ", ".join(e.name for e in catalog.entries(kind).values() if path in e.all_reads())


def _multi_exit_models() -> str:
    return ", ".join(e.name for e in catalog.entries("models").values() if e.multi_exit)


def check_run(cfg: Dict[str, Any], file: Optional[str] = None) -> None:
    """Cross-field rules of one resolved run config (a plain dict); raise RecipeError on the first broken one."""
    data, model, training, attack, evaluation = (cfg["data"], cfg["model"], cfg["training"], cfg["attack"],
                                                 cfg["evaluation"])
    dataset = catalog.find("datasets", data["name"])
    method = catalog.find("methods", training["loss"])
    family = catalog.find("models", model["arch"])
    if data["synthetic_fraction"] > 0 and not data["synthetic"]:
        raise RecipeError("synthetic_fraction > 0 needs data.synthetic (path of the .npz)", file=file,
                          key="data.synthetic_fraction", value=data["synthetic_fraction"])
    if dataset is not None and dataset.needs_root and not data["root"]:
        raise RecipeError(f"dataset {data['name']} needs data.root (the folder holding it)", file=file,
                          key="data.root", value=data["root"])
    if data["image_size"] is not None and dataset is not None and not dataset.streamed:
        streamed = ", ".join(e.name for e in catalog.entries("datasets").values() if e.streamed)
        raise RecipeError(f"data.image_size applies to the folder datasets ({streamed}); resize other inputs inside "
                          "the model with model.input_size", file=file, key="data.image_size",
                          value=data["image_size"])
    reads = family.all_reads() if family is not None else ()
    for key, spec in field_specs(ModelConfig).items():
        form = spec.get("form")
        if form and f"model.{key}" in reads and model[key] % form[0] != form[1]:
            raise RecipeError(f"{spec['doc'].split(',')[0]} must be {form[0]}n+{form[1]}", file=file,
                              key=f"model.{key}", value=model[key])
    if method is not None:
        _check_method(method, family, cfg, file)
    if evaluation.get("slowdown") is not None and not (family is not None and family.multi_exit):
        raise RecipeError(f"evaluation.slowdown needs a multi-exit model ({_multi_exit_models()})", file=file,
                          key="model.arch", value=model["arch"])
    if training["warmup_epochs"] >= training["epochs"] and training["warmup_epochs"] > 0:
        raise RecipeError("warm-up must be shorter than training", file=file, key="training.warmup_epochs",
                          value=training["warmup_epochs"])
    if training.get("swa_start") is not None and training["ema_decay"]:
        raise RecipeError("one weight average per run: training.swa_start (SWA) or training.ema_decay (EMA)",
                          file=file, key="training.swa_start", value=training["swa_start"])
    if training.get("swa_start") is not None and training["swa_start"] > training["epochs"]:
        raise RecipeError(f"SWA starts after the last epoch ({training['epochs']})", file=file,
                          key="training.swa_start", value=training["swa_start"])
    if attack["norm"] == "linf" and attack["eps"] > 1:
        raise RecipeError("an Linf eps above 1 exceeds the [0, 1] image range (write 8/255, not 8)", file=file,
                          key="attack.eps", value=attack["eps"])
    for path, name in (("training.select_attack", training.get("select_attack")),
                       ("evaluation.attack", evaluation.get("attack"))):
        _check_norm(path, name, attack["norm"], file)
    if training.get("stop_at_target") and not (cfg.get("benchmark") or {}).get("id"):
        raise RecipeError("stop_at_target needs a benchmark, whose target it stops at (the recipe's top-level "
                          "benchmark: key; robustperf benchmarks lists them)", file=file,
                          key="training.stop_at_target", value=True)
    if evaluation["autoattack"] == "rand" and attack["norm"] not in ("linf", "l2"):
        raise RecipeError("AutoAttack rand supports linf and l2", file=file, key="attack.norm", value=attack["norm"])


def _check_method(method: catalog.MethodEntry, family: Optional[catalog.ModelEntry], cfg: Dict[str, Any],
                  file: Optional[str]) -> None:
    training, model = cfg["training"], cfg["model"]
    reads = method.all_reads()
    if training["awp_gamma"] is not None and "training.awp_gamma" not in reads:
        raise RecipeError("adversarial weight perturbation is an option of "
                          + _readers("methods", "training.awp_gamma"), file=file, key="training.loss",
                          value=training["loss"])
    if method.multi_exit and not (family is not None and family.multi_exit):
        raise RecipeError(f"training method {training['loss']} trains a multi-exit model; model.arch must be one "
                          f"of {_multi_exit_models()}", file=file, key="model.arch", value=model["arch"])
    if "training.sdn_ic_epochs" in reads and training["sdn_ic_epochs"] >= training["epochs"]:
        raise RecipeError("the IC phase must be shorter than training (the backbone trains first for "
                          "training.epochs - training.sdn_ic_epochs epochs)", file=file,
                          key="training.sdn_ic_epochs", value=training["sdn_ic_epochs"])
    if method.train_attack is not None:
        attack = catalog.find("attacks", method.train_attack)
        if attack is None or "train" not in attack.roles:
            raise RecipeError(f"training method {method.name}'s attack {method.train_attack!r} is not a registered "
                              "attack with the train role", file=file, key="training.loss", value=training["loss"])
        _check_norm("training.loss", method.train_attack, cfg["attack"]["norm"], file, method=method.name)


def _check_norm(path: str, attack: Any, norm: str, file: Optional[str], method: Optional[str] = None) -> None:
    """The attack named at ``path`` supports the run's threat model."""
    if attack is None:
        return
    entry = catalog.find("attacks", attack)
    if entry is not None and norm not in entry.norms:
        who = f"training method {method}'s attack {attack}" if method else f"attack {attack}"
        raise RecipeError(f"{who} supports {', '.join(entry.norms)}, not this threat model", file=file,
                          key="attack.norm", value=norm)
