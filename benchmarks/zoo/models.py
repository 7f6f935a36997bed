"""RobustBench's model zoo, built by RobustBench's own code without a download.

The leaderboards (Croce et al., "RobustBench", NeurIPS 2021 Datasets and Benchmarks) list each model with its
paper, clean and robust accuracy (AutoAttack for Linf and L2, the corruption accuracy for ``corruptions``),
architecture and venue. :func:`zoo_entries` reads them from the tables the installed robustbench package ships
(its README, the package's ``METADATA``; version 1.1.1 ships no model-info JSON) joined with its model zoo
(``robustbench.model_zoo.model_dicts``), which holds the builder of every model it can load. Whether a model
used extra data is filled from the model-info CSV the suite ships for CIFAR-10 Linf
(``tests/data/robustbench_cifar10_linf.csv``, RobustBench's ``model_info`` JSON) and left null, "not stated",
elsewhere: never guessed from a name.

:func:`build_model` builds one model (random weights) and :func:`load_weights` loads a local checkpoint from
``MODEL_DIR/<dataset>/<threat>/<name>.pt`` (RobustBench's layout and format) with ``torch.load(weights_only=True)``;
a missing file is one error naming the path, the model's paper and where RobustBench fetches it from. Nothing
here downloads (:mod:`benchmarks.zoo.compat`).
"""
from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple

from robustperf_errors import UserError

#: dataset -> (classes, one sample's shape as RobustBench feeds it)
DATASETS: Dict[str, Tuple[int, Tuple[int, int, int]]] = {
    "cifar10": (10, (3, 32, 32)), "cifar100": (100, (3, 32, 32)), "imagenet": (1000, (3, 224, 224))}
#: RobustBench's threat models (``ThreatModel`` values); corruptions_3d shares the corruptions checkpoints
THREATS = ("Linf", "L2", "corruptions")
#: the model-info table with ``additional_data`` per model (RobustBench's model_info JSON, CIFAR-10 Linf)
MODEL_INFO = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "robustbench_cifar10_linf.csv")
NOT_STATED = "not stated in robustbench's package tables"


class ZooError(UserError):
    """An unknown zoo model, dataset or threat model, or weights that cannot be loaded."""


@dataclass(frozen=True)
class ZooEntry:
    """One model of RobustBench's zoo, as its tables report it."""

    name: str
    """RobustBench's model id (``Carmon2019Unlabeled``)."""
    dataset: str
    """``cifar10``, ``cifar100`` or ``imagenet``."""
    threat: str
    """``Linf``, ``L2`` or ``corruptions``."""
    architecture: Optional[str] = None
    """the architecture the leaderboard names (``WideResNet-28-10``); null when the model is not on it."""
    paper: Optional[str] = None
    """the paper's title."""
    link: Optional[str] = None
    """the paper's URL (the model's source)."""
    venue: Optional[str] = None
    reported_clean: Optional[float] = None
    """clean accuracy on the leaderboard, percent."""
    reported_autoattack: Optional[float] = None
    """AutoAttack accuracy on the leaderboard (Linf, L2), percent."""
    reported_corruption: Optional[float] = None
    """accuracy under common corruptions on the leaderboard (corruptions), percent."""
    extra_data: Optional[bool] = None
    """whether training used data beyond the training set; null when the package's tables do not say."""
    extra_data_source: str = NOT_STATED
    buildable: bool = True
    """whether robustbench's model zoo has a builder for it (False: leaderboard only)."""
    params: Optional[int] = field(default=None, compare=False)
    """parameters, counted by building the model (the shipped table, ``make zoo-table``)."""
    forward_flops: Optional[int] = field(default=None, compare=False)
    """FLOPs of one forward of one image (DeepSpeed, as ``robustperf profile``)."""

    @property
    def source(self) -> str:
        return f"robustbench:{self.name}"

    def to_dict(self) -> Dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def check_dataset(dataset: Optional[str]) -> Optional[str]:
    if dataset is None:
        return None
    key = str(dataset).lower().replace("-", "").replace("_", "")
    if key not in DATASETS:
        raise ZooError(f"--dataset {dataset!r}: unknown; valid: {', '.join(DATASETS)}")
    return key


def check_threat(threat: Optional[str]) -> Optional[str]:
    if threat is None:
        return None
    match = [t for t in THREATS if t.lower() == str(threat).lower()]
    if not match:
        raise ZooError(f"--threat {threat!r}: unknown; valid: {', '.join(THREATS)}")
    return match[0]


# ------------------------------------------------------------------ the package's tables

_DATASET_HEADINGS = (("CIFAR-100", "cifar100"), ("CIFAR-10", "cifar10"), ("ImageNet", "imagenet"))
_ROW = re.compile(r"^\|\s*<sub>\*\*\d+\*\*</sub>\s*\|\s*<sub><sup>\*\*(?P<name>.+?)\*\*</sup></sub>\s*\|"
                  r"\s*<sub>\*\[(?P<paper>.*?)\]\((?P<link>[^)\s]*)\)\*</sub>\s*\|"
                  r"\s*<sub>(?P<clean>[\d.]+)%</sub>\s*\|\s*<sub>(?P<robust>[\d.]+)%</sub>\s*\|"
                  r"\s*<sub>(?P<arch>.*?)</sub>\s*\|\s*<sub>(?P<venue>.*?)</sub>\s*\|")


def _threat_heading(text: str) -> Optional[str]:
    text = text.strip().lower()
    if text.startswith("linf"):
        return "Linf"
    if text.startswith("l2"):
        return "L2"
    if "corruption" in text:
        return "corruptions"
    return None


def parse_tables(text: str) -> Dict[Tuple[str, str, str], Dict[str, Any]]:
    """``(dataset, threat, name) -> row`` of the leaderboard tables in RobustBench's README ``text``."""
    rows: Dict[Tuple[str, str, str], Dict[str, Any]] = {}
    in_zoo, dataset, threat = False, None, None
    for line in text.splitlines():
        if line.startswith("## "):
            in_zoo = line[3:].strip() == "Model Zoo"
            continue
        if not in_zoo:
            continue
        if line.startswith("### "):
            dataset = next((key for heading, key in _DATASET_HEADINGS if line[4:].strip().startswith(heading)), None)
            threat = None
        elif line.startswith("#### "):
            threat = _threat_heading(line[5:])
        elif dataset and threat:
            match = _ROW.match(line)
            if match:
                robust = float(match["robust"])
                rows[(dataset, threat, match["name"].strip())] = {
                    "architecture": match["arch"].strip(), "paper": match["paper"].strip(),
                    "link": match["link"].strip(), "venue": match["venue"].strip(),
                    "reported_clean": float(match["clean"]),
                    "reported_autoattack": robust if threat != "corruptions" else None,
                    "reported_corruption": robust if threat == "corruptions" else None}
    return rows


def package_tables() -> Dict[Tuple[str, str, str], Dict[str, Any]]:
    """The leaderboard tables of the installed robustbench (its README, shipped as the package's METADATA)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from .compat import INSTALL_HINT, ZooUnavailable

    try:
        text = distribution("robustbench").read_text("METADATA") or ""
    except PackageNotFoundError:
        raise ZooUnavailable(f"robustbench is not installed; {INSTALL_HINT}") from None
    return parse_tables(text)


def model_info(path: str = MODEL_INFO) -> Dict[str, bool]:
    """CIFAR-10 Linf model id -> whether it used extra data (RobustBench's model_info, shipped as a CSV)."""
    if not os.path.isfile(path):
        return {}
    with open(path, newline="", encoding="utf-8") as fh:
        return {r["model_id"]: r["additional_data"].strip() == "True" for r in csv.DictReader(fh)}


def zoo_models() -> Dict[str, Dict[str, Dict[str, Any]]]:
    """``{dataset: {threat: {name: robustbench's entry}}}`` of the installed model zoo."""
    from .compat import import_robustbench

    import_robustbench()
    from robustbench.model_zoo import model_dicts

    return {ds.value: {tm.value: dict(models) for tm, models in by_threat.items()}
            for ds, by_threat in model_dicts.items()}


def zoo_entries(dataset: Optional[str] = None, threat: Optional[str] = None) -> List[ZooEntry]:
    """Every model of the zoo and its leaderboards, read from the installed robustbench (imports it: seconds).

    Models of the zoo come first in its order, then leaderboard rows the zoo cannot build (``buildable`` False).
    ``params`` and ``forward_flops`` stay null here: :func:`benchmarks.zoo.table.read_table` has them.

    Raises:
        ZooError: an unknown dataset or threat model; ZooUnavailable: robustbench is not installed.
    """
    dataset, threat = check_dataset(dataset), check_threat(threat)
    tables, info, zoo = package_tables(), model_info(), zoo_models()
    out: List[ZooEntry] = []
    seen = set()
    for ds, by_threat in zoo.items():
        for tm, models in by_threat.items():
            if tm not in THREATS:
                continue
            for name in models:
                seen.add((ds, tm, name))
                out.append(_entry(ds, tm, name, tables.get((ds, tm, name), {}), info, True))
    out += [_entry(ds, tm, name, row, info, False) for (ds, tm, name), row in tables.items()
            if (ds, tm, name) not in seen]
    return [e for e in out if (dataset is None or e.dataset == dataset) and (threat is None or e.threat == threat)]


def _entry(ds: str, tm: str, name: str, row: Dict[str, Any], info: Dict[str, bool], buildable: bool) -> ZooEntry:
    extra = info.get(name) if (ds, tm) == ("cifar10", "Linf") else None
    source = "RobustBench model_info (tests/data/robustbench_cifar10_linf.csv)" if extra is not None else NOT_STATED
    return ZooEntry(name=name, dataset=ds, threat=tm, extra_data=extra, extra_data_source=source,
                    buildable=buildable, **row)


def find_entry(name: str, dataset: Optional[str] = None, threat: Optional[str] = None) -> ZooEntry:
    """The zoo entry ``name`` (dataset and threat narrow it; an ambiguous name asks for them)."""
    matches = [e for e in zoo_entries(dataset, threat) if e.name == name]
    if not matches:
        where = "/".join(x for x in (check_dataset(dataset), check_threat(threat)) if x) or "any leaderboard"
        raise ZooError(f"{name!r}: no such model in robustbench's zoo ({where}); see `robustperf zoo list`")
    if len(matches) > 1:
        places = ", ".join(f"--dataset {e.dataset} --threat {e.threat}" for e in matches)
        raise ZooError(f"{name!r} is in several leaderboards; choose one: {places}")
    return matches[0]


# ------------------------------------------------------------------ building and loading

def _timm_name(name: str, dataset: str, threat: str) -> str:
    # robustbench.utils.load_model: some models are registered in timm under this name (pretrained from the hub)
    return f"{name.lower().replace('-', '_')}_{dataset}_{threat.lower()}"


def build_model(name: str, dataset: str, threat: str):
    """Build zoo model ``name`` with RobustBench's own code (random weights, eval mode); nothing is downloaded.

    Raises:
        ZooError: unknown model, dataset or threat model, or a leaderboard entry the zoo cannot build.
    """
    dataset, threat = check_dataset(dataset), check_threat(threat)
    models = zoo_models()[dataset].get(threat, {})
    if name not in models:
        raise ZooError(f"{name!r}: robustbench's zoo has no builder for it under {dataset}/{threat} "
                       f"({len(models)} models there; see `robustperf zoo list --dataset {dataset} "
                       f"--threat {threat}`)")
    from .._compat import import_timm
    from .compat import offline_build

    timm = import_timm()
    timm_name = _timm_name(name, dataset, threat)
    with offline_build():  # architecture only: pretrained=True is dropped, and no socket opens
        if timm.is_model(timm_name):
            model = timm.create_model(timm_name, num_classes=DATASETS[dataset][0], pretrained=False)
        else:
            model = models[name]["model"]()
    return model.eval()


def weights_path(model_dir: str, name: str, dataset: str, threat: str) -> str:
    """``MODEL_DIR/<dataset>/<threat>/<name>.pt``, RobustBench's layout."""
    return os.path.join(model_dir, check_dataset(dataset), check_threat(threat), f"{name}.pt")


def load_weights(model, name: str, dataset: str, threat: str, model_dir: str):
    """Load RobustBench checkpoint(s) of ``name`` from ``model_dir`` into ``model`` (built by :func:`build_model`)
    as ``robustbench.utils.load_model`` does, with ``torch.load(weights_only=True)``; return the model in eval mode.

    A checkpoint is a state dict or a dict holding one under ``state_dict`` (keys may carry ``module.`` or
    ``model.`` prefixes, which are removed); ensembles have one file per member, ``<name>.pt_m<i>.pt``.

    Raises:
        ZooError: a missing file (naming the path, the model's paper and where RobustBench fetches it), a file
            that is not a plain-tensor checkpoint (refused without running code), or weights that do not fit.
    """
    from .compat import import_robustbench

    dataset, threat = check_dataset(dataset), check_threat(threat)
    import_robustbench()
    from robustbench.model_zoo.enums import BenchmarkDataset
    from robustbench.utils import _safe_load_state_dict, add_substr_to_state_dict, rm_substr_from_state_dict

    entry = zoo_models()[dataset].get(threat, {}).get(name)
    if entry is None:
        raise ZooError(f"{name!r}: robustbench's zoo has no model of that name under {dataset}/{threat}")
    path = weights_path(model_dir, name, dataset, threat)
    ids = entry.get("gdrive_id")
    ds = BenchmarkDataset(dataset)
    if isinstance(ids, list):
        for i in range(len(ids)):
            state = _state_dict(_read(f"{path}_m{i}.pt", name, dataset, threat, ids[i]))
            _load_member(model, name, i, state, ds)
        return model.eval()
    checkpoint = _read(path, name, dataset, threat, ids)
    if ("Kireev2021Effectiveness" in name or name == "Andriushchenko2020Understanding") and "last" in checkpoint:
        checkpoint = checkpoint["last"]
    state = rm_substr_from_state_dict(_state_dict(checkpoint), "model.")
    if dataset == "imagenet":
        # newer timm names Swin's weights differently; robustbench converts them with timm's own filter
        if "Swin" in name and hasattr(model, "model"):
            try:
                from timm.models.swin_transformer import checkpoint_filter_fn

                state = checkpoint_filter_fn(state, model.model)
            except (ImportError, RuntimeError, KeyError):
                pass
        # the input normalisation is a wrapper layer whose wrapped net is ``model.``: put the prefix back
        if any(k.startswith("model.") for k in model.state_dict()) and not any(k.startswith("model.") for k in state):
            state = add_substr_to_state_dict(state, "model.")
    try:
        _safe_load_state_dict(model, name, state, ds)
    except RuntimeError as err:
        raise ZooError(f"{path}: the weights do not fit {name} as robustbench builds it: "
                       f"{str(err).splitlines()[0][:200]}") from None
    return model.eval()


def _state_dict(checkpoint) -> Dict[str, Any]:
    from robustbench.utils import rm_substr_from_state_dict

    if isinstance(checkpoint, dict) and isinstance(checkpoint.get("state_dict"), dict):
        checkpoint = checkpoint["state_dict"]
    elif isinstance(checkpoint, dict) and isinstance(checkpoint.get("model_state_dict"), dict):
        checkpoint = checkpoint["model_state_dict"]
    return rm_substr_from_state_dict(checkpoint, "module.")


def _load_member(model, name: str, i: int, state: Dict[str, Any], ds) -> None:
    from robustbench.utils import _safe_load_state_dict

    if name.startswith("Bai2023Improving"):
        if i < 2:
            model.comp_model.models[i] = _safe_load_state_dict(model.comp_model.models[i], name, state, ds).eval()
        else:
            model.comp_model.policy_net = _safe_load_state_dict(model.comp_model.policy_net, name, state["model"], ds)
            model.comp_model.bn = _safe_load_state_dict(model.comp_model.bn, name, state["bn"], ds)
    elif name.startswith("Bai2024MixedNUTS"):
        target = "std_model" if i == 0 else "rob_model"
        setattr(model, target, _safe_load_state_dict(getattr(model, target), name, state, ds))
    else:
        model.models[i] = _safe_load_state_dict(model.models[i], name, state, ds).eval()


def _read(path: str, name: str, dataset: str, threat: str, gdrive_id: Any):
    import pickle

    import torch

    if not os.path.isfile(path):
        entry = _describe(name, dataset, threat)
        raise ZooError(f"{path}: no such checkpoint of {name} ({entry}); robustperf never downloads: fetch it "
                       f"elsewhere (robustbench.utils.load_model({name!r}, model_dir=..., dataset={dataset!r}, "
                       f"threat_model={threat!r}) on a machine with network access"
                       + (f", or Google Drive id {gdrive_id}" if isinstance(gdrive_id, str) else "")
                       + ") and copy it to that path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, OSError, AttributeError,
            ModuleNotFoundError) as err:
        reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
        raise ZooError(f"{path}: not a plain-tensor checkpoint (refused by torch.load(weights_only=True), "
                       f"nothing in it was run): {reason}") from None


def _describe(name: str, dataset: str, threat: str) -> str:
    try:
        row = package_tables().get((dataset, threat, name), {})
    except UserError:
        row = {}
    if row.get("link"):
        return f"source: {row.get('paper')}, {row['link']}"
    return "source: RobustBench model zoo, https://github.com/RobustBench/robustbench"
