"""Experiment tracking of one run: Weights & Biases and the MLPerf log (``DIR/<run_id>/mllog.txt``).

W&B (``tracking.wandb``: disabled | offline | online) gets the resolved run config, per-epoch metrics and, as
its summary, the final result record; offline mode needs neither a login nor a network and keeps its files
under the run folder. The MLPerf log is written through the mlperf-logging package's ``MLLogger`` (``:::MLLOG``
lines, as in the MLPerf Training rules): run_start / run_stop with status, epoch_start / epoch_stop,
eval_accuracy, seed, global_batch_size, train_samples, and robustperf keys for robust accuracy, FLOPs and
energy. A resumed run appends to both. Only rank 0 tracks; other ranks get a tracker that does nothing.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Dict, Mapping, Optional

from recipes.errors import UserError
from results.schema import get as _get

MLLOG_FILE = "mllog.txt"
DISABLED, OFFLINE, ONLINE = "disabled", "offline", "online"

# robustperf's own mllog keys (the standard ones come from mlperf_logging.mllog.constants)
KEY_RESUME = "robustperf_resume"
KEY_SUSPEND = "robustperf_suspend"
KEY_EPOCH_METRICS = "robustperf_epoch_metrics"
KEY_PGD_ACCURACY = "robustperf_pgd_accuracy"
KEY_AUTOATTACK_ACCURACY = "robustperf_autoattack_accuracy"
KEY_EVAL_METRIC = "robustperf_eval_metric"
#: record field (dotted) -> mllog key, logged at finish
RECORD_KEYS = {
    "energy.kwh": "robustperf_energy_kwh",
    "energy.train_kwh": "robustperf_train_energy_kwh",
    "energy.attack_kwh": "robustperf_attack_energy_kwh",
    "co2_kg": "robustperf_co2_kg",
    "cost.electricity_usd": "robustperf_electricity_usd",
    "flops.train_total": "robustperf_train_flops",
    "flops.forward_per_sample": "robustperf_forward_flops_per_sample",
    "timing.train_seconds": "robustperf_train_seconds",
    "timing.attack_seconds": "robustperf_attack_seconds",
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
                 recipe_name: Optional[str] = None, rank: int = 0):
        cfg = dict(run_config.get("tracking") or {})
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
        from mlperf_logging.mllog import constants as mlc
        from mlperf_logging.mllog.mllog import MLLogger

        os.makedirs(self.run_dir, exist_ok=True)
        self.resumed = _has_run_start(self.mllog_path)
        # A logger of its own per run (not mllog.config, which adds a handler to one shared logger per call).
        logger = logging.getLogger(f"robustperf.mllog.{self.run_id}.{id(self)}")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(self.mllog_path, mode="a", encoding="utf-8")
        logger.addHandler(self._handler)
        self._logger = logger
        self._mllog = MLLogger(logger=logger, default_namespace="", default_stack_offset=2)
        self._mlc = mlc
        if self.resumed:
            self._mllog.event(key=KEY_RESUME, value=self.run_id)
        else:
            self._mllog.event(key=mlc.SUBMISSION_BENCHMARK, value="robustperf")
            self._mllog.start(key=mlc.RUN_START, metadata={"run_id": self.run_id})
            if run_config.get("seed") is not None:
                self._mllog.event(key=mlc.SEED, value=run_config["seed"])

    def _open_wandb(self, run_config, cfg, name, recipe_name) -> None:
        os.environ.setdefault("WANDB_SILENT", "true")
        import wandb

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
                  eval_samples: Optional[int] = None, **extra: Any) -> None:
        """Hyper-parameters known once data and ranks are set up (MLPerf's global_batch_size, train_samples)."""
        if self._mllog is not None:
            mlc = self._mlc
            for key, value in ((mlc.GLOBAL_BATCH_SIZE, global_batch_size), (mlc.TRAIN_SAMPLES, train_samples),
                               (mlc.EVAL_SAMPLES, eval_samples)):
                if value is not None:
                    self._mllog.event(key=key, value=value)
            for key, value in extra.items():
                self._mllog.event(key=f"robustperf_{key}", value=value)
        if self._run is not None:
            values = {"global_batch_size": global_batch_size, "train_samples": train_samples,
                      "eval_samples": eval_samples, **extra}
            self._run.config.update({k: v for k, v in values.items() if v is not None}, allow_val_change=True)

    def epoch_start(self, epoch: int) -> None:
        """Mark the start of ``epoch`` (optional: :meth:`log_epoch` marks it itself when this was not called)."""
        self._epoch_started[epoch] = int(time.time() * 1000)
        if self._mllog is not None:
            self._mllog.start(key=self._mlc.EPOCH_START, metadata={"epoch_num": epoch})

    def log_epoch(self, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Metrics of a finished epoch (loss, lr, per-epoch PGD accuracy, ...)."""
        if self._mllog is not None:
            mlc = self._mlc
            if epoch not in self._epoch_started:
                self._mllog.start(key=mlc.EPOCH_START, metadata={"epoch_num": epoch})
            self._mllog.end(key=mlc.EPOCH_STOP, metadata={"epoch_num": epoch})
            self._mllog.event(key=KEY_EPOCH_METRICS, value=dict(metrics), metadata={"epoch_num": epoch})
        self._epoch_started.pop(epoch, None)
        if self._run is not None:
            self._run.log({"epoch": epoch, **metrics})

    def log_eval(self, metrics: Mapping[str, Any], epoch: Optional[int] = None) -> None:
        """Final evaluation: ``clean``, ``pgd``, ``autoattack`` accuracies (%) and any other numbers."""
        meta = {} if epoch is None else {"epoch_num": epoch}
        self._eval_logged = True
        if self._mllog is not None:
            mlc = self._mlc
            for key, value in metrics.items():
                if key == "clean":
                    self._mllog.event(key=mlc.EVAL_ACCURACY, value=value, metadata=meta)
                elif key == "pgd":
                    self._mllog.event(key=KEY_PGD_ACCURACY, value=value, metadata=meta)
                elif key == "autoattack":
                    self._mllog.event(key=KEY_AUTOATTACK_ACCURACY, value=value, metadata=meta)
                else:
                    self._mllog.event(key=KEY_EVAL_METRIC, value=value, metadata={"name": key, **meta})
        if self._run is not None:
            self._run.summary.update({f"eval/{k}": v for k, v in metrics.items()})

    def finish(self, record: Optional[Dict[str, Any]] = None) -> None:
        """Close the run with its final ``record``: W&B summary = the record; mllog run_stop with its status.

        A run that stops (completed or failed) logs the record's accuracies as :meth:`log_eval` does, unless
        that was called already.

        A record still ``running`` (the job is being requeued) closes the log without run_stop, so the next
        attempt appends to an unfinished run.
        """
        if self._finished:
            return
        self._finished = True
        status = (record or {}).get("status")
        accuracy = {k: v for k, v in ((record or {}).get("accuracy") or {}).items()
                    if k in ("clean", "pgd", "autoattack") and v is not None}
        if accuracy and not self._eval_logged and status in RUN_STOP_STATUS:
            self.log_eval(accuracy)
        if self._mllog is not None:
            mlc = self._mlc
            for field, key in RECORD_KEYS.items():
                value = _get(record or {}, field)
                if value is not None:
                    self._mllog.event(key=key, value=value, metadata=_metadata(record, field))
            if status in RUN_STOP_STATUS:
                meta = {"status": RUN_STOP_STATUS[status]}
                if record.get("failure_reason"):
                    meta["failure_reason"] = record["failure_reason"]
                self._mllog.end(key=mlc.RUN_STOP, metadata=meta)
            else:
                self._mllog.event(key=KEY_SUSPEND, value=status)
            self._logger.removeHandler(self._handler)
            self._handler.close()
        if self._run is not None:
            if record:
                self._run.summary.update({k: v for k, v in record.items() if k != "config"})
            self._run.finish(exit_code=0 if status != "failed" else 1)
            # finish() returns before wandb-core has written everything to the offline run's transaction log;
            # teardown waits for it, so the summary is on disk when the run's record is.
            import wandb

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
    if field.startswith("energy.") or field in ("co2_kg", "cost.electricity_usd"):
        return {"source": _get(record, "energy.source"), "pue": _get(record, "energy.pue")}
    if field.startswith("flops."):
        return {"source": _get(record, "flops.source")}
    return {}


def _has_run_start(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as fh:
            return any('"key": "run_start"' in line for line in fh)
    except FileNotFoundError:
        return False
