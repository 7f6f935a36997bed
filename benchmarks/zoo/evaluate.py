"""``robustperf zoo eval``: a published RobustBench model evaluated and benchmarked as a run of this suite.

The model is built by RobustBench's code and loaded from the local checkpoint (:mod:`benchmarks.zoo.models`);
then :func:`benchmarks.evaluation.evaluate` (clean, PGD, resumable AutoAttack, survival) and
:func:`benchmarks.inference.benchmark_inference` (``robustperf infer``'s scenarios and precisions) measure it, and
the results room's writer writes ``RESULTS/zoo-<dataset>-<threat>-<name>/result.json``. The record's ``origin``
group names the source (``robustbench:NAME``), the leaderboard's accuracies and the difference to the AutoAttack
accuracy measured here; its training fields stay null, with ``origin.training`` saying "not measured".
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from typing import Any, Dict, List, Sequence, Tuple

from .models import ZooError, check_dataset, check_threat

logger = logging.getLogger("robustperf.zoo")

#: RobustBench's threat models -> the suite's attack section (RobustBench's eps per leaderboard)
ATTACKS = {("cifar10", "Linf"): ("linf", 8 / 255), ("cifar100", "Linf"): ("linf", 8 / 255),
           ("cifar10", "L2"): ("l2", 0.5), ("imagenet", "Linf"): ("linf", 4 / 255)}
#: RobustBench's datasets -> the suite's data section
DATA = {"cifar10": {"name": "cifar10"}, "cifar100": {"name": "cifar100"},
        "imagenet": {"name": "imagefolder", "image_size": 224}}
#: what ``--set`` may change besides evaluation.* and measurement.*
DATA_KEYS = ("data.root", "data.num_workers")
NOT_MEASURED = "not measured: trained by the model's authors; this suite measured only its evaluation and inference"


def run_id_for(name: str, dataset: str, threat: str) -> str:
    """``zoo-<dataset>-<threat>-<name>``, a valid run id (one folder name)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", f"zoo-{dataset}-{threat.lower()}-{name}")[:128]


def zoo_config(dataset: str, threat: str, overrides: Sequence[str]) -> Tuple[Dict[str, Any], List[str]]:
    """The run config of a zoo evaluation (data, attack, evaluation, measurement) with ``--set`` applied."""
    from recipes import SET_SOURCE, all_paths, parse_yaml, validate_value
    from recipes.errors import RecipeError

    from ..evaluation import apply_overrides

    if (dataset, threat) not in ATTACKS:
        raise ZooError(f"{dataset}/{threat}: zoo eval measures Linf and L2 robustness (cifar10 Linf and L2, "
                       "cifar100 Linf, imagenet Linf); corruption models are listed, not evaluated")
    norm, eps = ATTACKS[(dataset, threat)]
    config: Dict[str, Any] = {"seed": 0, "data": dict(DATA[dataset]), "attack": {"norm": norm, "eps": eps},
                              "evaluation": {}, "measurement": {}}
    rest, applied = [], []
    paths = all_paths()
    for item in overrides:
        key, sep, text = str(item).partition("=")
        if key.strip() in DATA_KEYS and sep:
            value, _ = parse_yaml(text, SET_SOURCE) if text.strip() else (None, {})
            value = validate_value(key.strip(), value, paths[key.strip()], SET_SOURCE)
            config["data"][key.strip().split(".", 1)[1]] = value
            applied.append(f"{key.strip()}={text.strip()}")
        elif key.strip().startswith("data."):
            raise RecipeError("zoo eval may set only " + ", ".join(DATA_KEYS) + " of data", file=SET_SOURCE,
                              key=key.strip(), allowed=list(DATA_KEYS))
        else:
            rest.append(item)
    config, more = apply_overrides(config, rest)
    return config, applied + more


def evaluate_zoo_model(args) -> Dict[str, Any]:
    """Evaluate and benchmark zoo model ``args.name`` (the parsed ``robustperf zoo eval`` command); return the
    written record.

    Raises:
        ZooError: an unknown model, a missing or crafted checkpoint, an unsupported threat model;
        RecipeError: a bad ``--set``; DataError: a missing test set.
    """
    from recipes import RunConfig
    from results import RECORD_FILE, atomic_write_text, make_folder, new_record, read_run_record, write_run_record
    from results.evaluations import evaluation_settings, store_evaluation
    from results.groups import Origin, Training
    from results.keys import COMPLETED, EVALUATION, INFERENCE, INFERENCE_SETUP, ORIGIN, STATUS, TRAINING
    from results.lock import RunLock

    from ..cli_infer import SAMPLES_FILE, SAMPLES_FOLDER
    from ..datasets import eval_set
    from ..evaluation import evaluate
    from ..inference import AttackSetup, InferSettings, benchmark_inference
    from ..inference.cli import parse_device, parse_options
    from ..measurement import EnergyMeter, forward_flops_per_sample, hardware_info, software_info
    from .models import build_model, find_entry, load_weights, weights_path

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.autoattack is None:
        args.autoattack = "none"
    parse_options(args)  # option mistakes exit 2 before any loading
    device = parse_device(args.device)
    entry = find_entry(args.name, check_dataset(args.dataset), check_threat(args.threat))
    if (entry.dataset, entry.threat) not in ATTACKS:
        zoo_config(entry.dataset, entry.threat, ())  # the unsupported threat model's one line
    path = weights_path(args.model_dir, entry.name, entry.dataset, entry.threat)
    model = load_weights(build_model(entry.name, entry.dataset, entry.threat), entry.name, entry.dataset,
                         entry.threat, args.model_dir)  # a missing or crafted file fails before any folder exists
    config, applied = zoo_config(entry.dataset, entry.threat, args.overrides)
    run_config = RunConfig.from_dict(config, file="robustperf zoo eval")
    test = eval_set(run_config.data, "test")
    calibration = eval_set(run_config.data, "train", limit=args.calibration_n).tensors()[0]
    run_id = run_id_for(entry.name, entry.dataset, entry.threat)
    results = os.path.realpath(args.results)
    make_folder(results)
    run_dir = make_folder(os.path.join(results, run_id), root=results)
    with RunLock(run_dir):
        record = (read_run_record(run_dir) if os.path.isfile(os.path.join(run_dir, RECORD_FILE))
                  else new_record(run_id, f"robustbench:{entry.name}", config))
        record["config"] = config
        model = model.to(device).eval()
        shape = tuple(test.shape)
        counts = forward_flops_per_sample(model, shape)
        indices = [device.index or 0] if device.type == "cuda" else []
        with contextlib.ExitStack() as stack:
            meter = stack.enter_context(EnergyMeter(run_config.measurement, indices))
            partial = evaluate(model, run_config, run_dir, meter=meter, which="best", data=test, fresh=args.fresh,
                               measure_inference=False)
            settings = InferSettings(**parse_options(args, run_config))
            attack = AttackSetup(eps=run_config.attack.eps, norm=run_config.attack.norm, seed=run_config.seed) \
                if settings.autoattack is not None else None
            outcome = benchmark_inference(model, test, calibration, settings, device=device, meter=meter,
                                          attack=attack, flops_per_image=counts["forward_flops"])
        section = outcome.section
        section[INFERENCE_SETUP].update({"which": "best", "command": "robustperf zoo eval",
                                         "energy_tried": dict(meter.tried)})
        samples_rel = os.path.join(SAMPLES_FOLDER, "best", SAMPLES_FILE)
        atomic_write_text(os.path.join(run_dir, samples_rel),
                          json.dumps({"unit": "seconds", "samples": outcome.samples}) + "\n", root=run_dir)
        section[INFERENCE_SETUP]["samples_file"] = samples_rel
        partial[EVALUATION][INFERENCE] = section
        if applied:
            partial[EVALUATION]["warnings"].append("evaluated with --set " + " ".join(applied))
        for group, values in partial.items():
            record.setdefault(group, {}).update(values)
        store_evaluation(record, evaluation_settings(_asdict(run_config.evaluation), "best"))
        record.update(params=counts["params"], hardware=hardware_info(indices), software=software_info())
        record["flops"].update(forward_per_sample=counts["forward_flops"],
                               forward_macs_per_sample=counts["forward_macs"], source="deepspeed")
        record[TRAINING] = Training().to_dict()  # every training field null: not measured (origin.training)
        measured = record["accuracy"].get("autoattack")
        difference = None if measured is None or entry.reported_autoattack is None \
            else round(measured - entry.reported_autoattack, 4)
        record[ORIGIN] = Origin(source=entry.source, dataset=entry.dataset, threat=entry.threat, paper=entry.paper,
                                link=entry.link, architecture=entry.architecture, extra_data=entry.extra_data,
                                reported_clean=entry.reported_clean, reported_autoattack=entry.reported_autoattack,
                                autoattack_difference=difference, training=NOT_MEASURED,
                                weights=os.path.abspath(path)).to_dict()
        record[STATUS] = COMPLETED
        write_run_record(run_dir, record)
    return record


def _asdict(section) -> Dict[str, Any]:
    from dataclasses import asdict

    return asdict(section)
