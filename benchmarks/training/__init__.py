"""Adversarial training: the loop (:class:`Trainer`), its checkpoints and the process group."""
from .checkpoint import BEST, LAST, checkpoint_path, load_checkpoint, save_checkpoint
from .distributed import DistInfo, init_distributed
from .trainer import (CHECKPOINT_FORMAT, Diverged, ResumeError, Stopped, Trainer, TrainHooks, autocast_factory,
                      evaluate_subset, forward_backward_step)

__all__ = ["BEST", "LAST", "CHECKPOINT_FORMAT", "DistInfo", "Diverged", "ResumeError", "Stopped", "Trainer",
           "TrainHooks", "autocast_factory", "checkpoint_path", "evaluate_subset", "forward_backward_step",
           "init_distributed", "load_checkpoint", "save_checkpoint"]
