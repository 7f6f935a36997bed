"""Experiment tracking of one run: Weights & Biases and the MLPerf log (``DIR/<run_id>/mllog.txt``).

W&B (``tracking.wandb``: disabled | offline | online) gets the resolved run config, per-epoch metrics and, as
its summary, the final result record; offline mode needs neither a login nor a network and keeps its files
under the run folder.

The MLPerf log is written through the mlperf-logging package's ``MLLogger`` (``:::MLLOG`` lines, as in the MLPerf
Training rules) and passes the official checker's common rules (``python -m mlperf_logging.compliance_checker
--usage training --ruleset 5.1.0 mllog.txt``, also 4.1.0 and 6.1.0; tests/benchmarks/test_mllog_compliance.py):

* set-up: ``cache_clear``, ``init_start`` (when ``robustperf run`` started), ``submission_org/platform/division/
  status`` (``tracking.submission_*``), seed, hyper-parameters (global and micro batch size, train and eval
  samples, precision, parallelism), then ``init_stop`` and ``run_start`` before the first step;
* each epoch: ``epoch_start`` / ``epoch_stop`` around its training steps, ``eval_start`` / ``eval_stop`` around
  its subset evaluation, ``eval_accuracy`` (subset clean accuracy) with ``epoch_num``;
* the final section, written from the result record by :func:`update_mllog`: ``eval_samples`` (only when the
  set-up did not log it), ``eval_start``, ``eval_accuracy``
  (clean accuracy on the whole test set, with ``epoch_num`` of the evaluated checkpoint), robust accuracies,
  ``eval_stop``, FLOPs / energy / cost keys, ``run_stop`` with its status. ``robustperf evaluate`` rewrites this
  section from the updated record, so the log never disagrees with ``result.json``.

The suite's own keys are namespaced ``robustperf_*``. A resumed run appends to both (``robustperf_resume``). Only
rank 0 tracks; other ranks get a tracker that does nothing.
"""
from __future__ import annotations

import io
import json
import logging
import os
import time
from typing import Any, Dict, List, Mapping, Optional

from recipes.errors import UserError
from results import Cost, Energy, Evaluation, Flops, Timing, atomic_write_text
from results import get as record_get
from results.io import AppendHandler
from results.keys import CO2_KG, ENERGY, FLOPS

MLLOG_FILE = "mllog.txt"
DISABLED, OFFLINE, ONLINE = "disabled", "offline", "online"

# robustperf's own mllog keys (the standard ones come from mlperf_logging.mllog.constants)
KEY_RESUME = "robustperf_resume"
KEY_SUSPEND = "robustperf_suspend"
KEY_EPOCH_METRICS = "robustperf_epoch_metrics"
KEY_PGD_ACCURACY = "robustperf_pgd_accuracy"
KEY_AUTOATTACK_ACCURACY = "robustperf_autoattack_accuracy"
KEY_EVAL_METRIC = "robustperf_eval_metric"
#: metadata flag of the lines of the final section (rewritten from the record by update_mllog)
FINAL_META = "robustperf_final"
BENCHMARK = "robustperf"
KEY_BENCHMARK = "robustperf_benchmark"
#: training.precision -> MLPerf's precision names
PRECISION_NAMES = {"fp32": "fp32", "bf16": "bfloat16", "fp16": "fp16", "tf32": "tf32"}
ELECTRICITY_USD = Cost.path("electricity_usd")
#: record field (dotted) -> mllog key, logged at finish
RECORD_KEYS = {
    Energy.path("kwh"): "robustperf_energy_kwh",
    Energy.path("train_kwh"): "robustperf_train_energy_kwh",
    Energy.path("attack_kwh"): "robustperf_attack_energy_kwh",
    CO2_KG: "robustperf_co2_kg",
    ELECTRICITY_USD: "robustperf_electricity_usd",
    Flops.path("train_total"): "robustperf_train_flops",
    Flops.path("forward_per_sample"): "robustperf_forward_flops_per_sample",
    Timing.path("train_seconds"): "robustperf_train_seconds",
    Timing.path("attack_seconds"): "robustperf_attack_seconds",
}
#: record status -> MLPerf run_stop status
RUN_STOP_STATUS = {"completed": "success", "failed": "aborted"}


class TrackingError(UserError):
    """W&B could not start (online without a login, say); the message says how to fix it."""


class Tracker:
    """Tracking of one run on one rank.

    Args:
        run_config: the resolved run config (``RunConfig.to_dict()``); its ``tracking`` section decides.
        run_dir: the run's folder, ``DIR/<run_id>``; mllog.txt and W&B's files go there.
        run_id: the run's stable id (also the W&B run id, so a resumed run continues the same W&B run).
        name: readable run name.
        recipe_name: the recipe's name, the default W&B group.
        rank: process rank; only rank 0 tracks.

    Raises:
        TrackingError: W&B is online and cannot start.
    """

    def __init__(self, run_config: Dict[str, Any], run_dir: str, run_id: str, name: str,
                 recipe_name: Optional[str] = None, rank: int = 0, init_start_ms: Optional[int] = None):
        cfg = dict(run_config.get("tracking") or {})
        self._cfg = cfg
        self._recipe_name = recipe_name
        self._init_start_ms = init_start_ms
        self._run_started = False
        self._pending_eval: Dict[str, Any] = {}
        self.enabled = rank == 0
        self.run_dir = run_dir
        self.run_id = run_id
        self.wandb_mode = cfg.get("wandb", DISABLED) if self.enabled else DISABLED
        self.mllog_path = os.path.join(run_dir, MLLOG_FILE) if self.enabled and cfg.get("mllog", True) else None
        self.resumed = False
        self._epoch_started: Dict[int, int] = {}
        self._run = None
        self._mllog = None
        self._handler = None
        self._finished = False
        self._eval_logged = False
        if self.wandb_mode != DISABLED:  # first: when W&B cannot start, no mllog run is left open
            self._open_wandb(run_config, cfg, name, recipe_name)
        if self.mllog_path:
            self._open_mllog(run_config)

    # ------------------------------------------------------------------ set-up

    def _open_mllog(self, run_config: Dict[str, Any]) -> None:
        # mlperf_logging deferred: only a run writing an MLPerf log loads it
        from mlperf_logging.mllog import constants as mlc
        from mlperf_logging.mllog.mllog import MLLogger

        os.makedirs(self.run_dir, exist_ok=True)
        self.resumed = _has_run_start(self.mllog_path)
        # A logger of its own per run (not mllog.config, which adds a handler to one shared logger per call).
        logger = logging.getLogger(f"robustperf.mllog.{self.run_id}.{id(self)}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        self._handler = AppendHandler(self.mllog_path, mode="a", encoding="utf-8")  # never through a link
        logger.addHandler(self._handler)
        self._logger = logger
        self._mllog = MLLogger(logger=logger, default_namespace="", default_stack_offset=2)
        self._mlc = mlc
        if self.resumed:
            self._mllog.event(key=KEY_RESUME, value=self.run_id)
            self._run_started = True
        else:
            tc = self._cfg
            # Page caches are not dropped (that needs root); logged as such, as the rules ask for the key.
            self._mllog.event(key=mlc.CACHE_CLEAR, value=False)
            self._mllog.start(key=mlc.INIT_START, time_ms=self._init_start_ms)
            # Not submission_benchmark: the checker's division rules accept only MLPerf's own benchmarks (and
            # crash on another name, looking for open_<name>.yaml); the suite names itself in its own key.
            self._mllog.event(key=KEY_BENCHMARK, value=BENCHMARK)
            self._mllog.event(key=mlc.SUBMISSION_ORG, value=tc.get("submission_org") or "robustperf")
            self._mllog.event(key=mlc.SUBMISSION_DIVISION, value=tc.get("submission_division") or "open")
            self._mllog.event(key=mlc.SUBMISSION_STATUS, value=tc.get("submission_status") or "research")
            self._mllog.event(key=mlc.CONFIG_FILENAME, value=f"{self._recipe_name or 'recipe'}.yaml")
            if run_config.get("seed") is not None:
                self._mllog.event(key=mlc.SEED, value=run_config["seed"])

    def _open_wandb(self, run_config, cfg, name, recipe_name) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb  # deferred: seconds to import, and only a run tracked by wandb needs it

        os.makedirs(self.run_dir, exist_ok=True)
        settings = wandb.Settings(console="off", x_disable_stats=True, silent=True)
        try:
            self._run = wandb.init(project=cfg.get("project") or "robustperf", entity=cfg.get("entity"),
                                   group=cfg.get("group") or recipe_name, name=name, id=self.run_id,
                                   resume="allow", config=run_config, dir=self.run_dir, mode=self.wandb_mode,
                                   settings=settings, reinit="create_new")
        except (wandb.errors.UsageError, wandb.errors.CommError) as err:
            raise TrackingError(f"W&B ({self.wandb_mode}) could not start: {str(err).rstrip('.')}. Run `wandb login`, set "
                                f"WANDB_API_KEY, or use tracking.wandb: offline (sync later with `wandb sync`) "
                                f"or disabled.") from None
        self._run.define_metric("epoch")
        self._run.define_metric("*", step_metric="epoch")

    # ------------------------------------------------------------------ logging

    def log_setup(self, *, global_batch_size: Optional[int] = None, train_samples: Optional[int] = None,
                  eval_samples: Optional[int] = None, micro_batch_size: Optional[int] = None,
                  precision: Optional[str] = None, hardware: Optional[Mapping[str, Any]] = None,
                  world_size: int = 1, **extra: Any) -> None:
        """Hyper-parameters known once data and ranks are set up; ends the set-up (``init_stop``, ``run_start``).

        A resumed run logged them in its first attempt: nothing is logged again.
        """
        if self._mllog is not None and not self._run_started:
            mlc = self._mlc
            platform = self._cfg.get("submission_platform") or platform_name(hardware, world_size)
            self._mllog.event(key=mlc.SUBMISSION_PLATFORM, value=platform)
            precision_name = PRECISION_NAMES.get(precision or "fp32", precision or "fp32")
            values = ((mlc.GLOBAL_BATCH_SIZE, global_batch_size), (mlc.TRAIN_SAMPLES, train_samples),
                      (mlc.EVAL_SAMPLES, eval_samples), (mlc.MICRO_BATCH_SIZE, micro_batch_size),
                      (mlc.GRADIENT_ACCUMULATION_STEPS, 1),
                      (mlc.LOWEST_NUMERICAL_PRECISION_IN_LINEAR, precision_name),
                      (mlc.LOWEST_NUMERICAL_PRECISION_IN_ATTN, precision_name),
                      # DDP all-reduces gradients in fp32 (autocast leaves parameters and gradients in fp32)
                      (mlc.LOWEST_NUMERICAL_PRECISION_IN_COMM, "fp32"),
                      (mlc.TENSOR_PARALLELISM, 1), (mlc.PIPELINE_PARALLELISM, 1), (mlc.CONTEXT_PARALLELISM, 1),
                      (mlc.EXPERT_PARALLELISM, 1))
            for key, value in values:
                if value is not None:
                    self._mllog.event(key=key, value=value)
            for key, value in extra.items():
                self._mllog.event(key=f"robustperf_{key}", value=value)
            self._begin_run()
        if self._run is not None:
            values = {"global_batch_size": global_batch_size, "train_samples": train_samples,
                      "eval_samples": eval_samples, **extra}
            self._run.config.update({k: v for k, v in values.items() if v is not None}, allow_val_change=True)

    def _begin_run(self) -> None:
        """``init_stop`` then ``run_start`` (once per run; a resumed attempt has started already)."""
        if self._mllog is None or self._run_started:
            return
        self._run_started = True
        self._mllog.end(key=self._mlc.INIT_STOP)
        self._mllog.start(key=self._mlc.RUN_START, metadata={"run_id": self.run_id})

    def epoch_start(self, epoch: int, step: int = 0) -> None:
        """Mark the start of ``epoch``'s training steps (``step`` > 0: a resumed attempt continues it there)."""
        self._epoch_started[epoch] = int(time.time() * 1000)
        if self._mllog is not None:
            self._begin_run()
            meta = {"epoch_num": epoch, **({"robustperf_resumed_at_step": step} if step else {})}
            self._mllog.start(key=self._mlc.EPOCH_START, metadata=meta)

    def epoch_stop(self, epoch: int) -> None:
        """Mark the end of ``epoch``'s training steps."""
        if self._mllog is not None:
            if epoch not in self._epoch_started:
                self.epoch_start(epoch)
            self._mllog.end(key=self._mlc.EPOCH_STOP, metadata={"epoch_num": epoch})
        self._epoch_started[epoch] = -1  # stopped

    def eval_start(self, epoch: int) -> None:
        """Start of the per-epoch evaluation (on ``training.select_subset`` test points)."""
        if self._mllog is not None:
            self._begin_run()
            self._mllog.start(key=self._mlc.EVAL_START, metadata={"epoch_num": epoch})

    def eval_stop(self, epoch: int) -> None:
        if self._mllog is not None:
            self._mllog.end(key=self._mlc.EVAL_STOP, metadata={"epoch_num": epoch})

    def log_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Metrics of a finished epoch (loss, lr, per-epoch subset accuracies, ...)."""
        if self._mllog is not None:
            mlc = self._mlc
            if self._epoch_started.get(epoch) != -1:  # the loop did not mark the epoch's steps: mark them here
                self.epoch_stop(epoch)
            if metrics.get("clean_subset") is not None:
                meta = {"epoch_num": epoch, "robustperf_subset_n": metrics.get("pgd_subset_n")}
                self._mllog.event(key=mlc.EVAL_ACCURACY, value=metrics["clean_subset"], metadata=meta)
            self._mllog.event(key=KEY_EPOCH_METRICS, value=dict(metrics), metadata={"epoch_num": epoch})
        self._epoch_started.pop(epoch, None)
        if self._run is not None:
            self._run.log({"epoch": epoch, **metrics})

    def log_eval(self, metrics: Mapping[str, Any], epoch: Optional[int] = None) -> None:
        """Final evaluation: ``clean``, ``pgd``, ``autoattack`` accuracies (%) and any other numbers.

        The MLPerf log's final section is written from the record at :meth:`finish`; values given here fill the
        accuracies the record lacks.
        """
        self._eval_logged = True
        self._pending_eval.update(metrics)
        if epoch is not None:
            self._pending_eval["_epoch"] = epoch
        if self._run is not None:
            self._run.summary.update({f"eval/{k}": v for k, v in metrics.items()})

    def finish(self, record: Optional[Dict[str, Any]] = None) -> None:
        """Close the run with its final ``record``: W&B summary = the record; mllog run_stop with its status.

        A run that stops (completed or failed) gets the log's final section from the record
        (:func:`update_mllog`: evaluation, measurements, run_stop); :meth:`log_eval` values fill what it lacks.

        A record still ``running`` (the job is being requeued) closes the log without run_stop, so the next
        attempt appends to an unfinished run.
        """
        if self._finished:
            return
        self._finished = True
        status = (record or {}).get("status")
        if self._mllog is not None:
            self._begin_run()
            if status not in RUN_STOP_STATUS:
                self._mllog.event(key=KEY_SUSPEND, value=status)
            self._logger.removeHandler(self._handler)
            self._handler.close()
            if status in RUN_STOP_STATUS:
                update_mllog(self.mllog_path, record, extra=self._pending_eval)
        if self._run is not None:
            if record:
                self._run.summary.update({k: v for k, v in record.items() if k != "config"})
            self._run.finish(exit_code=0 if status != "failed" else 1)
            # finish() returns before wandb-core has written everything to the offline run's transaction log;
            # teardown waits for it, so the summary is on disk when the run's record is.
            import wandb  # deferred, as in _open_wandb

            wandb.teardown()

    def record_fields(self) -> Dict[str, Any]:
        """The record's ``tracking`` group."""
        return {"wandb_mode": self.wandb_mode,
                "wandb_dir": getattr(self._run, "dir", None) if self._run is not None else None,
                "wandb_run_id": self._run.id if self._run is not None else None, "mllog": self.mllog_path}

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not self._finished:
            self.finish({"status": "failed", "failure_reason": f"{exc_type.__name__}: {exc}"} if exc_type
                        else None)
        return False


def _metadata(record, field: str) -> Dict[str, Any]:
    if field.startswith(ENERGY + ".") or field in (CO2_KG, ELECTRICITY_USD):
        return {"source": record_get(record, Energy.path("source")), "pue": record_get(record, Energy.path("pue"))}
    if field.startswith(FLOPS + "."):
        return {"source": record_get(record, Flops.path("source"))}
    return {}


def platform_name(hardware: Optional[Mapping[str, Any]], world_size: int = 1) -> str:
    """``4xNVIDIA H200`` / ``1xIntel Xeon ...`` from a record's ``hardware`` group (``unknown`` when empty)."""
    hardware = hardware or {}
    gpus = hardware.get("gpus") or []
    if gpus:
        first = gpus[0].get("name") if isinstance(gpus[0], dict) else gpus[0]
        return f"{hardware.get('count') or world_size}x{first}"
    return f"{world_size}x{hardware.get('cpu') or 'CPU'}"


def _parse(line: str) -> Optional[Dict[str, Any]]:
    if not line.startswith(":::MLLOG "):
        return None
    try:
        event = json.loads(line[len(":::MLLOG "):])
    except (ValueError, RecursionError):
        return None
    return event if isinstance(event, dict) else None


def _is_final(event: Optional[Dict[str, Any]]) -> bool:
    if event is None:
        return False
    meta = event.get("metadata")
    return event.get("key") == "run_stop" or (isinstance(meta, dict) and bool(meta.get(FINAL_META)))


def render_final(record: Mapping[str, Any], *, extra: Optional[Mapping[str, Any]] = None,
                 not_before_ms: int = 0, with_eval_samples: bool = True) -> str:
    """The final section of a run's MLPerf log, from its record: ``:::MLLOG`` lines, newline-terminated.

    The evaluation interval ends now and lasts ``timing.eval_seconds`` (measured by the evaluation), not earlier
    than ``not_before_ms``; its ``epoch_num`` is the evaluated checkpoint's epoch.
    """
    # mlperf_logging deferred, as in Tracker._open_mllog
    from mlperf_logging.mllog import constants as mlc
    from mlperf_logging.mllog.mllog import MLLogger

    buffer = io.StringIO()
    logger = logging.getLogger(f"robustperf.mllog.render.{id(buffer)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    handler = logging.StreamHandler(buffer)
    logger.addHandler(handler)
    try:
        ml = MLLogger(logger=logger, default_namespace="", default_stack_offset=2)
        final = {FINAL_META: True}
        accuracy = dict(record.get("accuracy") or {})
        extra = dict(extra or {})
        for key in ("clean", "pgd", "autoattack"):
            if accuracy.get(key) is None and extra.get(key) is not None:
                accuracy[key] = extra[key]
        training = record.get("training") or {}
        which = accuracy.get("which")
        epoch = training.get("best_epoch") if which == "best" else training.get("epochs_completed")
        epoch = extra.get("_epoch", epoch if epoch is not None else training.get("epochs_completed") or 0)
        now = max(int(time.time() * 1000), int(not_before_ms))
        if any(accuracy.get(k) is not None for k in ("clean", "pgd", "autoattack")):
            seconds = record_get(record, Timing.path("eval_seconds"))
            start = max(int(not_before_ms), now - int(1000 * seconds)) if isinstance(seconds, (int, float)) \
                and seconds == seconds and seconds >= 0 else now
            meta = {"epoch_num": epoch, "robustperf_checkpoint": which, **final}
            if with_eval_samples and accuracy.get("clean_n"):  # the evaluation set: the whole test split
                ml.event(key=mlc.EVAL_SAMPLES, value=accuracy["clean_n"], metadata=final, time_ms=start)
            ml.start(key=mlc.EVAL_START, metadata=meta, time_ms=start)
            if accuracy.get("clean") is not None:
                ml.event(key=mlc.EVAL_ACCURACY, value=accuracy["clean"], time_ms=now,
                         metadata={**meta, "robustperf_n": accuracy.get("clean_n")})
            if accuracy.get("pgd") is not None:
                ml.event(key=KEY_PGD_ACCURACY, value=accuracy["pgd"], time_ms=now,
                         metadata={**meta, "robustperf_n": accuracy.get("pgd_n")})
            if accuracy.get("autoattack") is not None:
                ml.event(key=KEY_AUTOATTACK_ACCURACY, value=accuracy["autoattack"], time_ms=now,
                         metadata={**meta, "robustperf_n": accuracy.get("autoattack_n"),
                                   "robustperf_ci95": accuracy.get("autoattack_ci"),
                                   "robustperf_version": record_get(record, Evaluation.path("autoattack_version"))})
            for key, value in extra.items():
                if key not in ("clean", "pgd", "autoattack", "_epoch"):
                    ml.event(key=KEY_EVAL_METRIC, value=value, time_ms=now, metadata={"name": key, **meta})
            ml.end(key=mlc.EVAL_STOP, metadata=meta, time_ms=now)
        for field, key in RECORD_KEYS.items():
            value = record_get(record, field)
            if value is not None:
                ml.event(key=key, value=value, time_ms=now, metadata={**_metadata(record, field), **final})
        status = record.get("status")
        if status in RUN_STOP_STATUS:
            meta = {"status": RUN_STOP_STATUS[status], **final}
            if record.get("failure_reason"):
                meta["failure_reason"] = record["failure_reason"]
            ml.end(key=mlc.RUN_STOP, metadata=meta, time_ms=now)
    finally:
        logger.removeHandler(handler)
    return buffer.getvalue()


def update_mllog(path: str, record: Mapping[str, Any], *, extra: Optional[Mapping[str, Any]] = None) -> bool:
    """Replace the final section of the MLPerf log at ``path`` by the one ``record`` gives (atomic rewrite).

    Lines of an earlier final section (and any ``run_stop``) go; everything else is kept in order. Returns
    False when there is no log (``tracking.mllog: false`` or a run from before logging).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return False
    kept: List[str] = []
    last_ms = 0
    has_eval_samples = False
    for line in lines:
        event = _parse(line)
        if _is_final(event):
            continue
        has_eval_samples = has_eval_samples or (event or {}).get("key") == "eval_samples"
        kept.append(line)
        if event is not None and isinstance(event.get("time_ms"), (int, float)):
            last_ms = max(last_ms, int(event["time_ms"]))
    text = "".join(line + "\n" for line in kept if line.strip())
    atomic_write_text(path, text + render_final(record, extra=extra, not_before_ms=last_ms,
                                                with_eval_samples=not has_eval_samples))
    return True


def _has_run_start(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return any('"key": "run_start"' in line for line in fh)
    except FileNotFoundError:
        return False
