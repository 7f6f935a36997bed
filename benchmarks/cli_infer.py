"""``robustperf infer RUN_DIR``: MLPerf-style inference benchmark of a trained run at fp32, bf16, fp16 and int8.

Scenarios (MLPerf Inference): **SingleStream** - batch-1 queries one after another, latency p50/p90/p99 over at
least ``--queries`` queries and ``--min-seconds`` seconds, after ``--warmup`` untimed ones; **Offline** - images/s
at the largest of ``--batch-sizes`` that fits in memory. For each: energy per image from the run's energy meter
(``energy_source`` named; null when nothing can measure), peak memory; once: forward FLOPs per image.

Accuracy per precision: clean accuracy; robust accuracy under AutoAttack (fp32, bf16, fp16: gradients exist)
or, for int8, of the fp32 model's AutoAttack examples (``transfer``); the drop against fp32. fp32 is always
measured: it is the reference. A precision this device cannot run is reported ``unsupported`` with the reason.

The section lands in ``RUN_DIR/result.json`` under ``evaluation.inference`` (keyed by precision and scenario);
raw per-query and per-pass seconds in ``RUN_DIR/inference/<which>/samples.json``. Holds the run's lock
(``run.lock``) while it works: while ``robustperf run`` or ``evaluate`` holds it, exit 75 having changed nothing.
Writes only into RUN_DIR (resolved once), whose name must be the record's ``run_id`` (a copy of a run under
another name is refused, exit 2), and never through a symbolic link there.
"""
from __future__ import annotations

import sys

HELP = "inference benchmark of a trained run: SingleStream latency, Offline throughput, energy/image, " \
       "accuracy at fp32/bf16/fp16/int8"
SAMPLES_FOLDER = "inference"
SAMPLES_FILE = "samples.json"


def add_arguments(parser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="the run's folder (runs/<run_id>)")
    parser.add_argument("--which", choices=("best", "last"), default=None,
                        help="checkpoint to benchmark (default: the run's evaluation.which)")
    add_benchmark_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print the section as JSON instead of a table")
    parser.add_argument("--no-record", action="store_true", help="do not write the record (print only)")


def add_benchmark_arguments(parser) -> None:
    """The benchmark's options (precisions, scenarios, accuracy, device), shared with ``robustperf zoo eval``."""
    parser.add_argument("--precision", default="fp32,bf16,fp16,int8", metavar="LIST",
                        help="comma-separated precisions (default: %(default)s; registered: fp32, bf16, fp16, int8)")
    parser.add_argument("--batch-sizes", default="256", metavar="LIST",
                        help="Offline batch sizes (1 to 10^8); the headline is the largest that fits (default: "
                             "%(default)s)")
    parser.add_argument("--queries", type=int, default=1000, help="SingleStream minimum query count (default 1000)")
    parser.add_argument("--min-seconds", type=float, default=0.0,
                        help="SingleStream minimum timed duration, s: finite, at most 86400 (default 0: the query "
                             "count alone)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="cap on each timed measurement, s: finite, > 0, at most 86400 (default: none)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed queries before timing (default 10)")
    parser.add_argument("--passes", type=int, default=10, help="Offline minimum timed passes (default 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op CPU threads, fixed and recorded, at most the cores this process may use "
                             "(default: the current torch count)")
    parser.add_argument("--accuracy-n", type=int, default=None,
                        help="test points for clean accuracy (default: the whole test set)")
    parser.add_argument("--autoattack", default=None, metavar="VERSION|LIST|none",
                        help="AutoAttack version (standard, plus, rand), comma-separated attacks, or none "
                             "(default: the run's evaluation.autoattack)")
    parser.add_argument("--autoattack-n", type=int, default=None,
                        help="AutoAttack points (default: the run's evaluation.autoattack_n)")
    parser.add_argument("--calibration-n", type=int, default=256,
                        help="training images calibrating int8 (default 256)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")


def main(args) -> int:
    import contextlib
    import json
    import logging
    import os

    from results import RECORD_FILE, atomic_write_text, read_run_record, write_run_record
    from results.keys import EVALUATION, INFERENCE, INFERENCE_SETUP
    from results.lock import RunLock

    from .inference import AttackSetup, InferSettings, benchmark_inference
    from .inference.cli import InferError, parse_device, parse_options, render_table
    from .run.folder import check_run_folder

    parse_options(args)  # option mistakes exit 2 before any loading
    device = parse_device(args.device)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    run_dir = os.path.realpath(args.run_dir)  # resolved once: every write goes into this folder, and no other
    path = os.path.join(run_dir, RECORD_FILE)
    from recipes.files import check_regular

    check_regular(path, "record", error=lambda reason: InferError(f"{path}: {reason}"))  # a FIFO: said so
    if not os.path.isfile(path):
        raise InferError(f"{run_dir}: no {RECORD_FILE}; expected the folder of a run written by `robustperf run` "
                         "(runs/<run_id>)")
    record = read_run_record(run_dir)  # a copy of a run under another folder name is refused here
    if not args.no_record:
        check_run_folder(run_dir)  # a link there would be written through: refused before the benchmark
    from recipes import RunConfig

    cfg = RunConfig.from_dict(record["config"] or {}, file=path)
    options = parse_options(args, cfg)
    which = args.which or cfg.evaluation.which
    # the run's lock (results.lock): never benchmark while `robustperf run` or `evaluate` writes the record
    with (contextlib.nullcontext() if args.no_record else RunLock(run_dir)):
        from benchmarks import load_model
        from benchmarks.datasets import eval_set

        model = load_model(run_dir, which, device)
        # the run's data as it was trained (data.image_size included); folder datasets stream in batches through
        # data.num_workers DataLoader workers, the calibration images are the first --calibration-n of train
        test = eval_set(cfg.data, "test")
        calibration = eval_set(cfg.data, "train", limit=args.calibration_n).tensors()[0]
        settings = InferSettings(**options)
        attack = AttackSetup(eps=cfg.attack.eps, norm=cfg.attack.norm, seed=cfg.seed) \
            if settings.autoattack is not None else None
        from benchmarks.measurement import EnergyMeter

        indices = [device.index or 0] if device.type == "cuda" else []
        with EnergyMeter(cfg.measurement, indices) as meter:
            outcome = benchmark_inference(model, test, calibration, settings, device=device, meter=meter,
                                          attack=attack)
        section = outcome.section
        setup = section[INFERENCE_SETUP]
        setup.update({"which": which, "command": "robustperf infer", "energy_tried": dict(meter.tried)})
        if not args.no_record:
            samples_rel = os.path.join(SAMPLES_FOLDER, which, SAMPLES_FILE)
            atomic_write_text(os.path.join(run_dir, samples_rel),
                              json.dumps({"unit": "seconds", "samples": outcome.samples}) + "\n", root=run_dir)
            setup["samples_file"] = samples_rel
            record = read_run_record(run_dir)  # the latest record (the lock keeps other writers out meanwhile)
            record[EVALUATION][INFERENCE] = section
            write_run_record(run_dir, record)  # into the folder given, never one the record's run_id names
    if args.json:
        print(json.dumps(section, indent=2))
    else:
        print(render_table(section, record.get("run_id", os.path.basename(run_dir)), which))
    return 0
