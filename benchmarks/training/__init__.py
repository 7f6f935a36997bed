"""Adversarial training: the loop (:class:`Trainer`), its checkpoints and the process group."""
from .._lazy import lazy

__getattr__, __all__ = lazy(__name__, {
    "BEST": ".checkpoint", "LAST": ".checkpoint", "checkpoint_path": ".checkpoint",
    "load_checkpoint": ".checkpoint", "save_checkpoint": ".checkpoint",
    "DistInfo": ".distributed", "init_distributed": ".distributed",
    "CHECKPOINT_FORMAT": ".trainer", "Diverged": ".trainer", "ResumeError": ".trainer", "Stopped": ".trainer",
    "Trainer": ".trainer", "TrainHooks": ".trainer", "autocast_factory": ".trainer", "evaluate_subset": ".trainer",
    "forward_backward_step": ".trainer",
})
